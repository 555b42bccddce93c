// Package boundedfile reads the files taet reads whole (evaluation records
// and states, sweep manifests, grid files) with a size cap, so that an
// over-size file is refused with its name and the cap instead of being read
// into memory: the cap is checked on the bytes actually read (through an
// io.LimitReader of cap+1 bytes) as well as on what stat says, so a file
// that grows while it is read, or a pipe, is bounded too.
package boundedfile

import (
	"errors"
	"fmt"
	"io"
	"os"
)

// ErrTooLarge is wrapped by ReadFile's error about a file over its cap.
var ErrTooLarge = errors.New("larger than the cap")

// ReadFile returns the contents of path if it holds at most limit bytes;
// otherwise an error wrapping ErrTooLarge that names the file, what it
// holds (what) and the cap. Other errors are os.Open's and Read's.
func ReadFile(path string, limit int64, what string) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	if fi, err := f.Stat(); err == nil && fi.Mode().IsRegular() && fi.Size() > limit {
		return nil, tooLarge(path, limit, what) // without reading it
	}
	b, err := io.ReadAll(io.LimitReader(f, limit+1))
	if err != nil {
		return nil, err
	}
	if int64(len(b)) > limit {
		return nil, tooLarge(path, limit, what)
	}
	return b, nil
}

func tooLarge(path string, limit int64, what string) error {
	return fmt.Errorf("%s: %w of %s for %s", path, ErrTooLarge, Size(limit), what)
}

// Size writes n bytes in binary units (64 MiB).
func Size(n int64) string {
	switch {
	case n >= 1<<30 && n%(1<<30) == 0:
		return fmt.Sprintf("%d GiB", n>>30)
	case n >= 1<<20 && n%(1<<20) == 0:
		return fmt.Sprintf("%d MiB", n>>20)
	case n >= 1<<10 && n%(1<<10) == 0:
		return fmt.Sprintf("%d KiB", n>>10)
	}
	return fmt.Sprintf("%d bytes", n)
}
