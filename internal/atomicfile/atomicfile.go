// Package atomicfile writes files so that readers, and a crash at any
// moment, see either the old file or the whole new one.
package atomicfile

import (
	"os"
	"path/filepath"
)

// Write writes data to path through a temporary file in the same directory,
// which it syncs, closes and renames over path; the file gets mode 0644. On error the temporary file
// is removed and path is untouched.
func Write(path string, data []byte) error {
	return write(path, data, os.Rename)
}

// WriteNew is Write for a path that must not exist: the whole temporary
// file is hard-linked to path, which fails with an error wrapping
// fs.ErrExist if anything is there by then, so nothing is ever replaced,
// not even a file created since the caller looked.
func WriteNew(path string, data []byte) error {
	return write(path, data, func(tmp, path string) error {
		err := os.Link(tmp, path)
		os.Remove(tmp)
		return err
	})
}

// write writes data to a temporary file beside path, then hands both
// names to place.
func write(path string, data []byte, place func(tmp, path string) error) (err error) {
	f, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".tmp*")
	if err != nil {
		return err
	}
	defer func() {
		if err != nil {
			f.Close()
			os.Remove(f.Name())
		}
	}()
	if err = f.Chmod(0o644); err != nil { // CreateTemp makes 0600 files
		return err
	}
	if _, err = f.Write(data); err != nil {
		return err
	}
	if err = f.Sync(); err != nil {
		return err
	}
	if err = f.Close(); err != nil {
		return err
	}
	return place(f.Name(), path)
}
