// Package runlock makes a directory's state single-writer: an advisory
// flock(2) on a lock file, which records the holder's PID. The kernel
// releases the lock when its holder exits, however it exits (kill -9
// included), so a crashed run never leaves a stale lock behind.
package runlock

import (
	"errors"
	"fmt"
	"os"
	"strconv"
	"strings"

	"golang.org/x/sys/unix"
)

// ErrLocked is wrapped by Acquire's error when another process holds the lock.
var ErrLocked = errors.New("in use by another process")

// Lock is a held lock; Release it when done.
type Lock struct{ f *os.File }

// Acquire takes the exclusive lock on the file path (created if missing)
// without waiting, and writes this process's PID into it. If another
// process holds it, the error wraps ErrLocked and names that process's PID.
func Acquire(path string) (*Lock, error) {
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o644)
	if err != nil {
		return nil, fmt.Errorf("lock %s: %w", path, err)
	}
	if err := unix.Flock(int(f.Fd()), unix.LOCK_EX|unix.LOCK_NB); err != nil {
		f.Close()
		if errors.Is(err, unix.EWOULDBLOCK) {
			return nil, fmt.Errorf("%s %w (%s)", path, ErrLocked, holder(path))
		}
		return nil, fmt.Errorf("lock %s: %w", path, err)
	}
	if err := f.Truncate(0); err == nil {
		_, err = f.WriteAt([]byte(strconv.Itoa(os.Getpid())+"\n"), 0)
	}
	return &Lock{f: f}, nil
}

// holder names the process whose PID the lock file records.
func holder(path string) string {
	b, err := os.ReadFile(path)
	pid, perr := strconv.Atoi(strings.TrimSpace(string(b)))
	if err != nil || perr != nil {
		return "its PID not yet recorded"
	}
	return "PID " + strconv.Itoa(pid)
}

// Release unlocks and closes the lock file; it leaves the file in place
// (removing it could let two processes lock two different files).
func (l *Lock) Release() error {
	if l == nil || l.f == nil {
		return nil
	}
	err := l.f.Close() // closing the last descriptor releases the flock
	l.f = nil
	return err
}
