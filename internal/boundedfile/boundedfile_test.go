package boundedfile_test

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/taet-ml/taet/internal/boundedfile"
)

func TestReadFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "f.json")
	if err := os.WriteFile(path, []byte("0123456789"), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		limit int64
		ok    bool
	}{{10, true}, {11, true}, {9, false}, {0, false}} {
		b, err := boundedfile.ReadFile(path, tc.limit, "a test file")
		switch {
		case tc.ok && (err != nil || string(b) != "0123456789"):
			t.Errorf("cap %d: %q, %v; want the whole file", tc.limit, b, err)
		case !tc.ok && (!errors.Is(err, boundedfile.ErrTooLarge) || !strings.Contains(err.Error(), path) || !strings.Contains(err.Error(), "a test file")):
			t.Errorf("cap %d: %v; want ErrTooLarge naming the file and what it holds", tc.limit, err)
		}
	}
	if _, err := boundedfile.ReadFile(filepath.Join(t.TempDir(), "none"), 10, "x"); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("missing file: %v, want os.ErrNotExist", err)
	}
}

func TestSize(t *testing.T) {
	for n, want := range map[int64]string{64 << 20: "64 MiB", 1 << 30: "1 GiB", 3 << 10: "3 KiB", 1000: "1000 bytes", 1<<20 + 1: "1048577 bytes"} {
		if got := boundedfile.Size(n); got != want {
			t.Errorf("Size(%d) = %q, want %q", n, got, want)
		}
	}
}

// TestReadFileBoundsWhatItReads reads a named pipe, which stat cannot
// size: the cap holds on the bytes read.
func TestReadFileBoundsWhatItReads(t *testing.T) {
	fifo := filepath.Join(t.TempDir(), "fifo")
	if err := syscall.Mkfifo(fifo, 0o644); err != nil {
		t.Skip(err)
	}
	go func() {
		f, err := os.OpenFile(fifo, os.O_WRONLY, 0)
		if err != nil {
			return
		}
		defer f.Close()
		f.Write(make([]byte, 1<<16)) // the reader stops at cap+1 bytes; the rest fails with EPIPE
	}()
	if _, err := boundedfile.ReadFile(fifo, 100, "a pipe"); !errors.Is(err, boundedfile.ErrTooLarge) {
		t.Errorf("64 KiB through a pipe, cap 100: %v, want ErrTooLarge", err)
	}
}
