package runlock

import (
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// TestSecondHolderRefused locks a file here and tries it from a child
// process (flock locks belong to open files, so a second open in this
// process would be refused too, but a child shows the real case and the PID).
func TestSecondHolderRefused(t *testing.T) {
	path := filepath.Join(t.TempDir(), "run.lock")
	l, err := Acquire(path)
	if err != nil {
		t.Fatal(err)
	}
	_, err = Acquire(path)
	if !errors.Is(err, ErrLocked) || !strings.Contains(err.Error(), "PID "+strconv.Itoa(os.Getpid())) {
		t.Fatalf("second Acquire: %v, want ErrLocked naming PID %d", err, os.Getpid())
	}
	if err := l.Release(); err != nil {
		t.Fatal(err)
	}
	l2, err := Acquire(path)
	if err != nil {
		t.Fatalf("Acquire after Release: %v", err)
	}
	l2.Release()
}

// TestDeadHolderReleases: a process killed while holding the lock leaves
// no stale lock.
func TestDeadHolderReleases(t *testing.T) {
	path := filepath.Join(t.TempDir(), "run.lock")
	// flock(1) from util-linux holds the lock in a child we can kill -9.
	if _, err := exec.LookPath("flock"); err != nil {
		t.Skip("needs flock(1) from util-linux")
	}
	// -o: the lock stays with flock itself, not with sleep, so killing flock releases it.
	cmd := exec.Command("flock", "-o", "-x", path, "sleep", "60")
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true} // to kill sleep with it
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(5 * time.Second)
	for {
		l, err := Acquire(path)
		if errors.Is(err, ErrLocked) {
			break
		}
		l.Release() // got it before the child did
		if time.Now().After(deadline) {
			syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
			t.Fatalf("the child never held the lock: %v", err)
		}
		time.Sleep(10 * time.Millisecond)
	}
	syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
	cmd.Wait()
	// Wait reaps flock only: a child it forked may still hold the
	// descriptor for the moment the kill takes to reach it.
	deadline = time.Now().Add(5 * time.Second)
	for {
		l, err := Acquire(path)
		if err == nil {
			l.Release()
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("5 s after the holder was killed: %v", err)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// TestRemoveLeavesNothingAndStaysExclusive: Remove deletes the lock file;
// the next Acquire makes a new one and holds it alone.
func TestRemoveLeavesNothingAndStaysExclusive(t *testing.T) {
	path := filepath.Join(t.TempDir(), "x.lock")
	l, err := Acquire(path)
	if err != nil {
		t.Fatal(err)
	}
	stale, err := os.Open(path) // as a second Acquire that opened it just before the Remove
	if err != nil {
		t.Fatal(err)
	}
	defer stale.Close()
	if err := l.Remove(); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(path); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("after Remove: %v, want the file gone", err)
	}
	l2, err := Acquire(path)
	if err != nil {
		t.Fatal(err)
	}
	defer l2.Release()
	if _, err := Acquire(path); !errors.Is(err, ErrLocked) {
		t.Errorf("a third Acquire while the second holds the new file: %v, want ErrLocked", err)
	}
}
