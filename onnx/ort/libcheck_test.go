package ort_test

import (
	"crypto/sha512"
	"encoding/hex"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/taet-ml/taet/internal/testenv"
	"github.com/taet-ml/taet/onnx/ort"
)

// libraryCopy copies the installed runtime library into a temporary
// directory, keeping the first n bytes (all if n < 0), and returns the copy's path.
func libraryCopy(t *testing.T, n int) string {
	t.Helper()
	b, err := os.ReadFile(ort.LibraryPath(os.Getenv("TAET_ORT_LIB")))
	if err != nil {
		testenv.Missing(t, "needs the ONNX Runtime library (make ort): %v", err)
	}
	if n >= 0 {
		b = b[:n]
	}
	p := filepath.Join(t.TempDir(), "libonnxruntime.so.1")
	if err := os.WriteFile(p, b, 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

// writeRecord writes the installer's record of path as it is now.
func writeRecord(t *testing.T, path string) {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	sum := sha512.Sum512(b)
	if err := os.WriteFile(path+ort.RecordSuffix, fmt.Appendf(nil, "%d %s\n", len(b), hex.EncodeToString(sum[:])), 0o644); err != nil {
		t.Fatal(err)
	}
}

func TestCheckLibrary(t *testing.T) {
	whole := libraryCopy(t, -1)
	if err := ort.CheckLibrary(whole); err != nil {
		t.Fatalf("the installed library: %v", err)
	}
	writeRecord(t, whole)
	if err := ort.CheckLibrary(whole); err != nil {
		t.Fatalf("the installed library with its record: %v", err)
	}

	// Truncated as `head -c 100000` does: no record needed to notice.
	if err := ort.CheckLibrary(libraryCopy(t, 100000)); err == nil || !strings.Contains(err.Error(), "truncated") {
		t.Errorf("a 100000-byte copy: %v, want an error saying truncated", err)
	}
	// One byte changed in the middle: only the record can tell.
	b, _ := os.ReadFile(whole)
	b[len(b)/2] ^= 0xFF
	if err := os.WriteFile(whole, b, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := ort.CheckLibrary(whole); err == nil || !strings.Contains(err.Error(), "SHA-512") {
		t.Errorf("a changed byte under a record: %v, want a SHA-512 mismatch", err)
	}
	// A size that disagrees with the record.
	if err := os.WriteFile(whole, append(b, 0), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := ort.CheckLibrary(whole); err == nil || !strings.Contains(err.Error(), "recorded") {
		t.Errorf("a longer file under a record: %v, want a size mismatch", err)
	}
}
