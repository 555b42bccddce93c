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

// Lock is a held lock; Release (or Remove) it when done.
type Lock struct {
	f    *os.File
	path string
}

// Acquire takes the exclusive lock on the file path (created if missing)
// without waiting, and writes this process's PID into it. If another
// process holds it, the error wraps ErrLocked and names that process's PID.
//
// The lock is on the file path names when Acquire returns: a lock taken on
// a file that a Remove unlinked meanwhile is dropped and taken again on
// the new one, so Remove never lets two processes hold it.
func Acquire(path string) (*Lock, error) {
	for {
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
		held, err1 := f.Stat()
		named, err2 := os.Stat(path)
		if err1 == nil && err2 == nil && os.SameFile(held, named) {
			return record(f, path), nil
		}
		f.Close() // removed by its last holder after we opened it: again
	}
}

// record writes this process's PID into the held lock file f.
func record(f *os.File, path string) *Lock {
	if err := f.Truncate(0); err == nil {
		_, err = f.WriteAt([]byte(strconv.Itoa(os.Getpid())+"\n"), 0)
	}
	return &Lock{f: f, path: path}
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
// (Remove deletes it).
func (l *Lock) Release() error {
	if l == nil || l.f == nil {
		return nil
	}
	err := l.f.Close() // closing the last descriptor releases the flock
	l.f = nil
	return err
}

// Remove deletes the lock file, then releases the lock: for locks that
// guard a short task (a download) and should leave nothing behind.
func (l *Lock) Remove() error {
	if l == nil || l.f == nil {
		return nil
	}
	err := os.Remove(l.path)
	if rerr := l.Release(); err == nil {
		err = rerr
	}
	return err
}
