package boundedfile_test

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
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
