package fetch_test

import (
	"errors"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/taet-ml/taet/data/fetch"
	"github.com/taet-ml/taet/internal/runlock"
)

// TestEndlessServerStopsAtThePublishedSize: a server that never stops
// sending (no Content-Length) is cut off at the archive's published size:
// a *TooLargeError, the partial file deleted, and no more than the size
// (plus the client's buffers) read.
func TestEndlessServerStopsAtThePublishedSize(t *testing.T) {
	var sent atomic.Int64
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		chunk := make([]byte, 32<<10)
		for r.Context().Err() == nil {
			n, err := w.Write(chunk)
			sent.Add(int64(n))
			if err != nil {
				return
			}
		}
	}))
	defer srv.Close()
	c := &fetch.Cache{Dir: t.TempDir(), Timeout: 5 * time.Second,
		Catalog: []fetch.Source{{Name: "cifar10", File: "c.tar.gz", URL: srv.URL + "/c.tar.gz", MD5: "00", Size: 1 << 20}}}
	_, err := c.Get(t.Context(), "cifar10")
	var big *fetch.TooLargeError
	if !errors.As(err, &big) || !strings.Contains(err.Error(), "more than the published size") {
		t.Fatalf("Get from an endless server: %v, want a *TooLargeError", err)
	}
	if entries, _ := os.ReadDir(c.Dir); len(entries) != 0 {
		t.Errorf("cache holds %v, want nothing", entries)
	}
	srv.CloseClientConnections()
	if n := sent.Load(); n > 16<<20 {
		t.Errorf("the server sent %d bytes before the client stopped, want about 1 MiB", n)
	}
}

// TestStalledServerTimesOutAndResumes: a server that stops sending after
// 4000 bytes (holding the connection open) is abandoned after Timeout,
// Progress says it waits meanwhile, and the retry resumes with a Range
// request to the whole, verified file.
func TestStalledServerTimesOutAndResumes(t *testing.T) {
	f := newFixture(t)
	f.srv.hold = 4000
	c := f.cache(t)
	c.Timeout = 400 * time.Millisecond
	var mu sync.Mutex
	var waited time.Duration
	c.Progress = func(p fetch.Progress) {
		mu.Lock()
		waited = max(waited, p.Waiting)
		mu.Unlock()
	}
	t0 := time.Now()
	if _, err := c.Get(t.Context(), "cifar10"); err != nil {
		t.Fatal(err)
	}
	if got := f.srv.seen(); len(got) != 2 || got[1] != "bytes=4000-" {
		t.Errorf("requests with Range %q, want a second one resuming at 4000", got)
	}
	if waited < 100*time.Millisecond || waited > c.Timeout {
		t.Errorf("Progress reported waiting %v at most, want between 100 ms and the timeout", waited)
	}
	if d := time.Since(t0); d > 5*time.Second {
		t.Errorf("took %v with a 400 ms timeout", d)
	}
}

// TestSilentServerTimesOut: a server that accepts but never answers is a
// *DownloadError after Timeout, not a hang.
func TestSilentServerTimesOut(t *testing.T) {
	release := make(chan struct{})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-release:
		case <-r.Context().Done():
		}
	}))
	defer srv.Close()
	defer close(release)
	c := &fetch.Cache{Dir: t.TempDir(), Timeout: 300 * time.Millisecond,
		Catalog: []fetch.Source{{Name: "cifar10", File: "c.tar.gz", URL: srv.URL + "/c.tar.gz", MD5: "00"}}}
	t0 := time.Now()
	_, err := c.Get(t.Context(), "cifar10")
	var de *fetch.DownloadError
	if !errors.As(err, &de) || time.Since(t0) > 5*time.Second {
		t.Fatalf("Get from a silent server: %v after %v, want a *DownloadError within seconds", err, time.Since(t0))
	}
}

// TestSecondGetOfAFileIsRefused: while one process holds a file's lock,
// another Get of it is refused with runlock.ErrLocked and touches nothing.
func TestSecondGetOfAFileIsRefused(t *testing.T) {
	f := newFixture(t)
	c := f.cache(t)
	if err := os.MkdirAll(c.Dir, 0o755); err != nil {
		t.Fatal(err)
	}
	lock, err := runlock.Acquire(filepath.Join(c.Dir, "cifar-10-binary.tar.gz.lock"))
	if err != nil {
		t.Fatal(err)
	}
	defer lock.Release()
	if _, err := c.Get(t.Context(), "cifar10"); !errors.Is(err, runlock.ErrLocked) {
		t.Fatalf("Get while another holds the lock: %v, want runlock.ErrLocked", err)
	}
	if len(f.srv.seen()) != 0 {
		t.Errorf("requests %q made, want none", f.srv.seen())
	}
}
