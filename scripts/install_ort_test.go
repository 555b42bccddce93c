// Package scripts_test runs the shell scripts in scripts/ on real files.
package scripts_test

import (
	"bytes"
	"crypto/sha512"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// fakeInstall lays out dest as install-ort.sh --cuda leaves it (the three
// libraries, here random bytes, and the stamps of the pinned packages), so
// that the script keeps them instead of fetching.
func fakeInstall(t *testing.T, dest string) map[string][]byte {
	t.Helper()
	script, err := os.ReadFile("install-ort.sh")
	if err != nil {
		t.Fatal(err)
	}
	pinned := regexp.MustCompile(`fetch (\S+)@\S+ \\\n\s+(sha512-\S+)`).FindAllSubmatch(script, -1)
	if len(pinned) != 2 {
		t.Fatalf("found %d pinned packages in install-ort.sh, want 2", len(pinned))
	}
	if err := os.MkdirAll(dest, 0o755); err != nil {
		t.Fatal(err)
	}
	for _, p := range pinned {
		if err := os.WriteFile(filepath.Join(dest, "."+string(p[1])+".integrity"), append(p[2], '\n'), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	rng := rand.New(rand.NewPCG(1, 2))
	libs := map[string][]byte{}
	for name, size := range map[string]int{"libonnxruntime.so.1": 1000, "libonnxruntime_providers_cuda.so": 2500, "libonnxruntime_providers_shared.so": 10} {
		b := make([]byte, size)
		for i := range b {
			b[i] = byte(rng.Uint32())
		}
		libs[name] = b
		if err := os.WriteFile(filepath.Join(dest, name), b, 0o755); err != nil {
			t.Fatal(err)
		}
		// the size and hash record install-ort.sh keeps beside what it installed
		record := fmt.Sprintf("%d %x\n", len(b), sha512.Sum512(b))
		if err := os.WriteFile(filepath.Join(dest, name+".sha512"), []byte(record), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return libs
}

// installORT runs install-ort.sh with an npm that fails if called (nothing
// here may be fetched) and returns its exit code and standard error.
func installORT(t *testing.T, args ...string) (int, string) {
	t.Helper()
	bin := t.TempDir()
	if err := os.WriteFile(filepath.Join(bin, "npm"), []byte("#!/bin/sh\necho npm called >&2; exit 99\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command("bash", append([]string{"install-ort.sh"}, args...)...)
	cmd.Env = append(os.Environ(), "PATH="+bin+string(os.PathListSeparator)+os.Getenv("PATH"))
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	err := cmd.Run()
	if strings.Contains(stderr.String(), "npm called") {
		t.Fatalf("install-ort.sh %v fetched: %s", args, stderr.String())
	}
	if ee, ok := err.(*exec.ExitError); ok {
		return ee.ExitCode(), stderr.String()
	} else if err != nil {
		t.Fatal(err)
	}
	return 0, stderr.String()
}

func TestPiecesSplitJoinAndCatchCorruption(t *testing.T) {
	root := t.TempDir()
	dest, pieces := filepath.Join(root, "ort"), filepath.Join(root, "pieces")
	libs := fakeInstall(t, dest)
	if code, out := installORT(t, "--cuda", "--dest", dest, "--pieces", pieces, "--piece-size", "1000"); code != 0 {
		t.Fatalf("split: exit %d: %s", code, out)
	}
	parts, _ := filepath.Glob(filepath.Join(pieces, "libonnxruntime_providers_cuda.so.part-*"))
	if len(parts) != 3 {
		t.Fatalf("2500 bytes in pieces of 1000: got %d pieces %v, want 3", len(parts), parts)
	}
	for _, p := range parts {
		if fi, err := os.Stat(p); err != nil || fi.Size() > 1000 {
			t.Errorf("piece %s: %v, size over 1000", p, err)
		}
	}

	joined := filepath.Join(root, "joined")
	if code, out := installORT(t, "--join", pieces, "--dest", joined); code != 0 {
		t.Fatalf("join: exit %d: %s", code, out)
	}
	for name, want := range libs {
		if got, err := os.ReadFile(filepath.Join(joined, name)); err != nil || !bytes.Equal(got, want) {
			t.Errorf("joined %s differs from the original (%v)", name, err)
		}
	}

	// A corrupt piece: the join fails naming it and leaves the earlier library alone.
	earlier := []byte("the library installed before")
	target := filepath.Join(root, "target")
	if err := os.MkdirAll(target, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(target, "libonnxruntime_providers_cuda.so"), earlier, 0o755); err != nil {
		t.Fatal(err)
	}
	bad := parts[1]
	b, _ := os.ReadFile(bad)
	b[500] ^= 1
	if err := os.WriteFile(bad, b, 0o644); err != nil {
		t.Fatal(err)
	}
	code, out := installORT(t, "--join", pieces, "--dest", target)
	if code == 0 || !strings.Contains(out, filepath.Base(bad)) || !strings.Contains(out, "corrupt") {
		t.Errorf("join with a corrupt piece: exit %d, %q; want a failure naming %s", code, out, filepath.Base(bad))
	}
	if got, _ := os.ReadFile(filepath.Join(target, "libonnxruntime_providers_cuda.so")); !bytes.Equal(got, earlier) {
		t.Error("a failed join replaced the library installed before")
	}

	// A missing piece is named too.
	if err := os.Remove(bad); err != nil {
		t.Fatal(err)
	}
	if code, out := installORT(t, "--join", pieces, "--dest", target); code == 0 || !strings.Contains(out, filepath.Base(bad)+" listed in") {
		t.Errorf("join with a missing piece: exit %d, %q", code, out)
	}
}

func TestPiecesBadArguments(t *testing.T) {
	dir := t.TempDir()
	for _, args := range [][]string{
		{"--pieces", dir, "--piece-size", "0"},
		{"--pieces", dir, "--piece-size", "50M"},
		{"--bogus"},
	} {
		if code, out := installORT(t, append(args, "--dest", dir)...); code != 2 {
			t.Errorf("%v: exit %d (%s), want 2", args, code, out)
		}
	}
	if code, out := installORT(t, "--join", dir, "--dest", dir); code != 1 || !strings.Contains(out, "no LIB.pieces manifest") {
		t.Errorf("join of an empty folder: exit %d, %q", code, out)
	}
}
