// Package fetch downloads the archives of the data sets taet reads into a
// cache directory, on request only, and checks each against its published
// MD5 before it is used.
//
// A download goes to <file>.part in the cache directory and resumes from
// there with an HTTP Range request, whether the connection broke (Get
// retries) or the process stopped (a cancelled context keeps the partial
// file for the next Get). The finished file is hashed, and only a file
// with the published MD5 is renamed to <file>: the cache holds verified
// archives and partial downloads, never a wrong file. A mirror (a base URL,
// or a local directory) can replace the official addresses: Mirror/<file>.
//
// A download is bounded: it stops with an error, and deletes the partial
// file, as soon as the server sends more than the published size (or
// MaxUnpublishedSize where none is published), and a request that gets no
// connection, no response or no bytes for Cache.Timeout is abandoned (and
// resumed, if it had brought bytes, like a broken one), with Progress
// told while it waits. One process at a time downloads a file: Get holds
// the lock <file>.lock (internal/runlock, removed when Get returns) while
// it writes <file>.part, and another Get of it fails at once.
//
// The cache is $TAET_DATA, else the user's cache directory
// ($XDG_CACHE_HOME, else ~/.cache) + /taet/datasets (DefaultDir).
package fetch

import (
	"context"
	"crypto/md5"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/taet-ml/taet/internal/runlock"
)

// DefaultDir returns the cache directory: $TAET_DATA if set, else
// taet/datasets in the user's cache directory.
func DefaultDir() (string, error) {
	if dir := os.Getenv("TAET_DATA"); dir != "" {
		return dir, nil
	}
	dir, err := os.UserCacheDir()
	if err != nil {
		return "", fmt.Errorf("no cache directory for data sets (set TAET_DATA): %w", err)
	}
	return filepath.Join(dir, "taet", "datasets"), nil
}

// Cache is a directory of downloaded archives and where to fetch them.
type Cache struct {
	Dir string // where archives land
	// Mirror replaces the official addresses with Mirror/<file>: an
	// http(s) or file URL, or a directory. "" = the official addresses.
	Mirror  string
	Catalog []Source     // the known archives; nil = Catalog()
	Client  *http.Client // nil = one that also reads file:// URLs
	// Progress, if set, is called as bytes arrive, from Get's goroutine,
	// and while a request waits for bytes, from a timer's: never two
	// calls at once.
	Progress func(Progress)
	// Timeout bounds the wait for a connection, for a response and for
	// each next bytes of a download; 0 = DefaultTimeout.
	Timeout time.Duration
}

// DefaultTimeout is Cache.Timeout's default.
const DefaultTimeout = time.Minute

// MaxUnpublishedSize bounds a download whose size is not published: ten
// times the largest archive of the catalog.
const MaxUnpublishedSize = 2 << 30

// Progress is the state of one download.
type Progress struct {
	Source      Source
	URL         string  // where the bytes come from
	Done        int64   // bytes in the file so far, a resumed part included
	Total       int64   // bytes expected, or -1 where unknown
	Resumed     int64   // bytes already there when this request started
	BytesPerSec float64 // mean rate of this request
	// Waiting, when not 0, is how long the request has waited for its
	// next bytes; it is abandoned at Timeout.
	Waiting, Timeout time.Duration
}

// maxAttempts bounds the requests of one Get that each resume a broken one.
const maxAttempts = 5

// Path returns where s's archive lies once fetched.
func (c *Cache) Path(s Source) string { return filepath.Join(c.Dir, s.File) }

// URL returns where Get fetches s from: the mirror's copy, else s.URL.
func (c *Cache) URL(s Source) string {
	switch {
	case c.Mirror == "":
		return s.URL
	case strings.Contains(c.Mirror, "://"):
		return strings.TrimSuffix(c.Mirror, "/") + "/" + s.File
	}
	dir, err := filepath.Abs(c.Mirror)
	if err != nil {
		dir = c.Mirror
	}
	return (&url.URL{Scheme: "file", Path: filepath.ToSlash(filepath.Join(dir, s.File))}).String()
}

// Lookup returns the source of the named data set (see Lookup).
func (c *Cache) Lookup(name string) (Source, error) {
	if c.Catalog != nil {
		return Lookup(c.Catalog, name)
	}
	return Lookup(Catalog(), name)
}

// Cached returns the path of the named data set's archive if it is in the
// cache, else a *NotCachedError.
func (c *Cache) Cached(name string) (string, error) {
	s, err := c.Lookup(name)
	if err != nil {
		return "", err
	}
	path := c.Path(s)
	if _, err := os.Stat(path); err != nil {
		return "", &NotCachedError{Source: s, Path: path, Err: err}
	}
	return path, nil
}

// Get returns the path of the named data set's archive in the cache,
// downloading it first if it is not there. A file already in the cache is
// checked against the MD5 again. Cancelling ctx stops a download promptly
// and keeps the partial file, which the next Get resumes.
func (c *Cache) Get(ctx context.Context, name string) (string, error) {
	s, err := c.Lookup(name)
	if err != nil {
		return "", err
	}
	path := c.Path(s)
	if s.MD5 == "" {
		return "", fmt.Errorf("%s: no published MD5, so a download could not be verified; download %s by hand and save it as %s", s.Name, s.URL, path)
	}
	if _, err := os.Stat(path); err == nil {
		if err := c.verify(s, path, path); err != nil {
			return "", fmt.Errorf("%w (remove it and fetch again)", err)
		}
		return path, nil
	}
	if err := os.MkdirAll(c.Dir, 0o755); err != nil {
		return "", fmt.Errorf("data set cache: %w", err)
	}
	lock, err := runlock.Acquire(path + ".lock")
	if err != nil {
		return "", fmt.Errorf("download %s: %w; wait for the other download to end", s.Name, err)
	}
	defer lock.Remove()
	if _, err := os.Stat(path); err == nil { // the lock's last holder fetched it
		return path, c.verify(s, path, path)
	}
	src, part := c.URL(s), path+".part"
	for attempt := 1; ; attempt++ {
		progressed, err := c.download(ctx, s, src, part)
		if err == nil {
			break
		}
		if ctx.Err() != nil {
			return "", fmt.Errorf("download %s stopped (%s kept, to resume): %w", s.Name, part, context.Cause(ctx))
		}
		var big *TooLargeError
		if errors.As(err, &big) {
			os.Remove(part)
			return "", &DownloadError{Source: s, URL: src, Path: path, Err: fmt.Errorf("%w; the download was deleted", err)}
		}
		if !progressed || attempt == maxAttempts {
			if fi, serr := os.Stat(part); serr == nil && fi.Size() == 0 {
				os.Remove(part) // nothing to resume
			}
			return "", &DownloadError{Source: s, URL: src, Path: path, Err: err}
		}
	}
	if err := c.verify(s, part, src); err != nil {
		os.Remove(part)
		return "", fmt.Errorf("%w; the download was deleted, nothing kept in the cache", err)
	}
	if err := os.Rename(part, path); err != nil {
		return "", fmt.Errorf("data set cache: %w", err)
	}
	return path, nil
}

// download makes one request for src, appending to part from its current
// size, and reports whether any bytes arrived.
func (c *Cache) download(ctx context.Context, s Source, src, part string) (progressed bool, err error) {
	f, err := os.OpenFile(part, os.O_WRONLY|os.O_CREATE, 0o644)
	if err != nil {
		return false, err
	}
	defer func() {
		if cerr := f.Close(); err == nil {
			err = cerr
		}
	}()
	off, err := f.Seek(0, io.SeekEnd)
	if err != nil {
		return false, err
	}
	ctx, abandon := context.WithCancelCause(ctx)
	defer abandon(nil)
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, src, nil)
	if err != nil {
		return false, err
	}
	if off > 0 {
		req.Header.Set("Range", fmt.Sprintf("bytes=%d-", off))
	}
	resp, err := c.client().Do(req)
	if err != nil {
		return false, err
	}
	defer resp.Body.Close()
	var start int64
	switch {
	case resp.StatusCode == http.StatusPartialContent && off > 0:
		if _, err := fmt.Sscanf(resp.Header.Get("Content-Range"), "bytes %d-", &start); err != nil || start != off {
			return false, fmt.Errorf("asked for bytes %d on, got Content-Range %q", off, resp.Header.Get("Content-Range"))
		}
	case resp.StatusCode == http.StatusOK:
		if err := f.Truncate(0); err != nil { // the server ignored the Range: start over
			return false, err
		}
		if _, err := f.Seek(0, io.SeekStart); err != nil {
			return false, err
		}
	case resp.StatusCode == http.StatusRequestedRangeNotSatisfiable && off > 0:
		return false, nil // the part file is whole already; verify judges it
	default:
		return false, fmt.Errorf("HTTP %s", resp.Status)
	}
	limit := s.Size
	if limit <= 0 {
		limit = MaxUnpublishedSize
	}
	total := int64(-1)
	if resp.ContentLength >= 0 {
		total = start + resp.ContentLength
	} else if s.Size > 0 {
		total = s.Size
	}
	if total > limit {
		return false, &TooLargeError{Source: s, Limit: limit, Size: total}
	}
	w := &progressWriter{w: f, c: c, limit: limit, p: Progress{Source: s, URL: src, Done: start, Total: total, Resumed: start, Timeout: c.timeout()}, t0: time.Now()}
	w.last.Store(time.Now().UnixNano())
	stop := w.watch(abandon)
	n, err := io.Copy(w, resp.Body)
	stop()
	var stalled *StalledError
	if err != nil && errors.As(context.Cause(ctx), &stalled) {
		err = stalled // not the read's "context canceled"
	}
	if err == nil {
		err = f.Sync()
	}
	return n > 0, err
}

func (c *Cache) timeout() time.Duration {
	if c.Timeout > 0 {
		return c.Timeout
	}
	return DefaultTimeout
}

func (c *Cache) client() *http.Client {
	if c.Client != nil {
		return c.Client
	}
	t := http.DefaultTransport.(*http.Transport).Clone()
	t.DialContext = (&net.Dialer{Timeout: c.timeout(), KeepAlive: 30 * time.Second}).DialContext
	t.TLSHandshakeTimeout = c.timeout()
	t.ResponseHeaderTimeout = c.timeout()
	t.RegisterProtocol("file", http.NewFileTransport(http.Dir("/")))
	c.Client = &http.Client{Transport: t}
	return c.Client
}

// verify checks the file at path against s's size and MD5; from says
// where it came from, for the error.
func (c *Cache) verify(s Source, path, from string) error {
	sum, size, err := fileMD5(path)
	if err != nil {
		return err
	}
	if sum != s.MD5 || (s.Size > 0 && size != s.Size) {
		return &ChecksumError{Source: s, From: from, Got: sum, Size: size}
	}
	return nil
}

// fileMD5 returns the MD5 (lowercase hex) and size of the file at path.
func fileMD5(path string) (string, int64, error) {
	f, err := os.Open(path)
	if err != nil {
		return "", 0, err
	}
	defer f.Close()
	h := md5.New()
	n, err := io.Copy(h, f)
	if err != nil {
		return "", 0, fmt.Errorf("%s: %w", path, err)
	}
	return hex.EncodeToString(h.Sum(nil)), n, nil
}

// progressWriter writes to w, at most limit bytes in the file, and
// reports each write to c.Progress.
type progressWriter struct {
	w     io.Writer
	c     *Cache
	limit int64
	t0    time.Time
	mu    sync.Mutex // held while p changes or c.Progress runs
	p     Progress
	last  atomic.Int64 // time of the last write, Unix ns
}

func (pw *progressWriter) Write(b []byte) (int, error) {
	pw.last.Store(time.Now().UnixNano())
	pw.mu.Lock()
	defer pw.mu.Unlock()
	if pw.p.Done+int64(len(b)) > pw.limit {
		return 0, &TooLargeError{Source: pw.p.Source, Limit: pw.limit, Size: pw.p.Done + int64(len(b))}
	}
	n, err := pw.w.Write(b)
	pw.p.Done += int64(n)
	pw.p.Waiting = 0
	if pw.c.Progress != nil {
		if dt := time.Since(pw.t0).Seconds(); dt > 0 {
			pw.p.BytesPerSec = float64(pw.p.Done-pw.p.Resumed) / dt
		}
		pw.c.Progress(pw.p)
	}
	return n, err
}

// watch starts the watchdog of a request: while no bytes arrive it tells
// c.Progress every quarter of the timeout (at most every 5 s), and after
// the whole timeout it abandons the request with a *StalledError. stop
// ends it.
func (pw *progressWriter) watch(abandon context.CancelCauseFunc) (stop func()) {
	timeout := pw.p.Timeout
	every := min(timeout/4, 5*time.Second)
	done := make(chan struct{})
	go func() {
		tick := time.NewTicker(every)
		defer tick.Stop()
		for {
			select {
			case <-done:
				return
			case now := <-tick.C:
				idle := now.Sub(time.Unix(0, pw.last.Load()))
				if idle >= timeout {
					abandon(&StalledError{Timeout: timeout})
					return
				}
				if idle >= every && pw.c.Progress != nil {
					pw.mu.Lock()
					pw.p.Waiting = idle.Truncate(time.Second / 10)
					pw.c.Progress(pw.p)
					pw.mu.Unlock()
				}
			}
		}
	}()
	return func() { close(done) }
}

// TooLargeError reports a server that sends more than an archive's
// published size (or MaxUnpublishedSize).
type TooLargeError struct {
	Source      Source
	Limit, Size int64 // the bound; the bytes the server sent or announced, at least
}

func (e *TooLargeError) Error() string {
	what := "the published size"
	if e.Source.Size <= 0 {
		what = "the most an unpublished size may be"
	}
	return fmt.Sprintf("the server sends more than %s of %s, %d bytes (%d or more): not the published file", what, e.Source.File, e.Limit, e.Size)
}

// StalledError reports a request that brought no bytes for Timeout.
type StalledError struct{ Timeout time.Duration }

func (e *StalledError) Error() string {
	return fmt.Sprintf("no data for %v, the timeout", e.Timeout)
}

// Entry is one catalog archive's state in the cache.
type Entry struct {
	Source
	Path     string // where it lies, or would
	Present  bool   // the file exists
	Verified bool   // it exists and has the published MD5 (and size)
	Size     int64  // its size, if present
	Partial  int64  // bytes of an unfinished download, 0 = none
}

// List returns the state of every catalog archive in the cache, hashing
// each file present.
func (c *Cache) List(ctx context.Context) ([]Entry, error) {
	catalog := c.Catalog
	if catalog == nil {
		catalog = Catalog()
	}
	var entries []Entry
	for _, s := range catalog {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		e := Entry{Source: s, Path: c.Path(s)}
		if fi, err := os.Stat(e.Path + ".part"); err == nil {
			e.Partial = fi.Size()
		}
		if fi, err := os.Stat(e.Path); err == nil {
			e.Present, e.Size = true, fi.Size()
			e.Verified = s.MD5 != "" && c.verify(s, e.Path, e.Path) == nil
		} else if !errors.Is(err, fs.ErrNotExist) {
			return nil, err
		}
		entries = append(entries, e)
	}
	return entries, nil
}

// ChecksumError reports a file whose MD5 or size is not the published one.
type ChecksumError struct {
	Source Source
	From   string // the URL or file it came from
	Got    string // its MD5
	Size   int64  // its size
}

func (e *ChecksumError) Error() string {
	size := ""
	if e.Source.Size > 0 && e.Size != e.Source.Size {
		size = fmt.Sprintf(", %d bytes where %d are published", e.Size, e.Source.Size)
	}
	return fmt.Sprintf("%s from %s: MD5 %s, want %s%s: not the published file",
		e.Source.File, e.From, e.Got, e.Source.MD5, size)
}

// DownloadError reports a download that failed: an HTTP error status, a
// refused connection, a connection that kept breaking.
type DownloadError struct {
	Source Source
	URL    string // what was requested
	Path   string // where the file belongs
	Err    error
}

func (e *DownloadError) Error() string {
	return fmt.Sprintf("download %s from %s: %v; by hand: download %s (MD5 %s) and save it as %s",
		e.Source.Name, e.URL, e.Err, e.Source.URL, e.Source.MD5, e.Path)
}

func (e *DownloadError) Unwrap() error { return e.Err }

// NotCachedError reports a data set that was never fetched.
type NotCachedError struct {
	Source Source
	Path   string // where it belongs
	Err    error  // from os.Stat
}

func (e *NotCachedError) Error() string {
	return fmt.Sprintf("%s is not in the cache: fetch it, or download %s (MD5 %s) by hand and save it as %s",
		e.Source.Name, e.Source.URL, e.Source.MD5, e.Path)
}

func (e *NotCachedError) Unwrap() error { return e.Err }
