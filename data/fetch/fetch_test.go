package fetch_test

import (
	"bytes"
	"context"
	"crypto/md5"
	"encoding/hex"
	"errors"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/taet-ml/taet/data"
	"github.com/taet-ml/taet/data/fetch"
	"github.com/taet-ml/taet/internal/synthdata"
)

// server serves files at /<name> with Range support, records the Range
// header of each request, and can break the first response after cut
// bytes (closing the connection) or hold it after hold bytes until the
// client goes away.
type server struct {
	*httptest.Server
	files     map[string][]byte
	cut, hold int

	mu     sync.Mutex
	ranges []string // Range header of each request, "" for none
}

func newServer(t *testing.T, files map[string][]byte) *server {
	s := &server{files: files}
	s.Server = httptest.NewServer(http.HandlerFunc(s.serve))
	t.Cleanup(s.Close)
	return s
}

func (s *server) serve(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	s.ranges = append(s.ranges, r.Header.Get("Range"))
	first := len(s.ranges) == 1
	s.mu.Unlock()
	b, ok := s.files[strings.TrimPrefix(r.URL.Path, "/")]
	if !ok {
		http.NotFound(w, r)
		return
	}
	switch {
	case first && s.cut > 0:
		w.Header().Set("Content-Length", strconv.Itoa(len(b)))
		w.Write(b[:s.cut])
		w.(http.Flusher).Flush()
		panic(http.ErrAbortHandler) // drops the connection mid-body
	case first && s.hold > 0:
		w.Header().Set("Content-Length", strconv.Itoa(len(b)))
		w.Write(b[:s.hold])
		w.(http.Flusher).Flush()
		<-r.Context().Done()
		return
	}
	http.ServeContent(w, r, r.URL.Path, time.Time{}, bytes.NewReader(b))
}

func (s *server) seen() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]string(nil), s.ranges...)
}

func md5hex(b []byte) string {
	h := md5.Sum(b)
	return hex.EncodeToString(h[:])
}

// fixture is a server holding a tiny CIFAR-10 archive and a tiny
// DermaMNIST .npz, and a catalog pointing at them with their MD5s.
type fixture struct {
	srv          *server
	cifar, derma []byte
	catalog      []fetch.Source
}

func newFixture(t *testing.T) *fixture {
	f := &fixture{cifar: synthdata.CIFAR10TarGz(t, 5), derma: synthdata.MedMNISTNPZ(t, 14, 7)}
	f.srv = newServer(t, map[string][]byte{"cifar-10-binary.tar.gz": f.cifar, "dermamnist.npz": f.derma})
	f.catalog = []fetch.Source{
		{Name: "cifar10", File: "cifar-10-binary.tar.gz", URL: f.srv.URL + "/cifar-10-binary.tar.gz", MD5: md5hex(f.cifar), Size: int64(len(f.cifar))},
		{Name: "medmnist:dermamnist", File: "dermamnist.npz", URL: f.srv.URL + "/dermamnist.npz", MD5: md5hex(f.derma)},
	}
	return f
}

func (f *fixture) cache(t *testing.T) *fetch.Cache {
	return &fetch.Cache{Dir: filepath.Join(t.TempDir(), "cache"), Catalog: f.catalog}
}

func TestGetLandsVerifiedArchivesThatLoad(t *testing.T) {
	f := newFixture(t)
	c := f.cache(t)
	var last fetch.Progress
	c.Progress = func(p fetch.Progress) { last = p }
	path, err := c.Get(t.Context(), "cifar10")
	if err != nil {
		t.Fatal(err)
	}
	if got, _ := os.ReadFile(path); !bytes.Equal(got, f.cifar) || path != filepath.Join(c.Dir, "cifar-10-binary.tar.gz") {
		t.Fatalf("%s holds %d bytes, want the served %d", path, len(got), len(f.cifar))
	}
	if last.Done != int64(len(f.cifar)) || last.Total != int64(len(f.cifar)) || last.BytesPerSec <= 0 {
		t.Errorf("last progress %+v, want done = total = %d and a rate", last, len(f.cifar))
	}
	if ds, err := data.Load("cifar10", path, "train"); err != nil || ds.N != 50 {
		t.Errorf("load the fetched archive: %v", err)
	}
	// Also under the name of a data set read from it.
	if p, err := c.Get(t.Context(), "cifar100-coarse"); err == nil {
		t.Errorf("cifar100-coarse is not in this catalog, got %s", p)
	}
	npz, err := c.Get(t.Context(), "medmnist:dermamnist")
	if err != nil {
		t.Fatal(err)
	}
	if ds, err := data.Load("medmnist:dermamnist", npz, "val"); err != nil || ds.N != 14 || ds.ClassNames[5] != "melanocytic nevi" {
		t.Errorf("load the fetched .npz: %v", err)
	}
	// A second Get finds the file and asks the server nothing.
	before := len(f.srv.seen())
	if p, err := c.Get(t.Context(), "cifar10"); err != nil || p != path || len(f.srv.seen()) != before {
		t.Errorf("second Get: %s, %v, %d requests (want none)", p, err, len(f.srv.seen())-before)
	}
	if cached, err := c.Cached("cifar10"); err != nil || cached != path {
		t.Errorf("Cached = %s, %v", cached, err)
	}
	if leftovers, _ := filepath.Glob(filepath.Join(c.Dir, "*.part")); len(leftovers) > 0 {
		t.Errorf("partial files left: %v", leftovers)
	}
}

func TestChecksumMismatchKeepsNothing(t *testing.T) {
	f := newFixture(t)
	f.catalog[0].MD5 = md5hex([]byte("another file"))
	f.catalog[0].Size = 0
	c := f.cache(t)
	_, err := c.Get(t.Context(), "cifar10")
	var ce *fetch.ChecksumError
	if !errors.As(err, &ce) || ce.Got != md5hex(f.cifar) || !strings.Contains(err.Error(), "nothing kept in the cache") {
		t.Fatalf("error %v: want a *fetch.ChecksumError with the file's MD5", err)
	}
	if entries, _ := os.ReadDir(c.Dir); len(entries) != 0 {
		t.Errorf("cache holds %v after a failed check, want nothing", entries)
	}
	if _, err := c.Cached("cifar10"); err == nil {
		t.Error("Cached finds a file that failed its check")
	}
}

func TestSizeMismatchIsAChecksumError(t *testing.T) {
	f := newFixture(t)
	f.catalog[0].Size++
	_, err := f.cache(t).Get(t.Context(), "cifar10")
	if ce := (*fetch.ChecksumError)(nil); !errors.As(err, &ce) || !strings.Contains(err.Error(), "are published") {
		t.Fatalf("error %v: want a *fetch.ChecksumError about the size", err)
	}
}

func TestBrokenDownloadResumesWithRange(t *testing.T) {
	f := newFixture(t)
	f.srv.cut = len(f.cifar) / 3
	c := f.cache(t)
	path, err := c.Get(t.Context(), "cifar10")
	if err != nil {
		t.Fatal(err)
	}
	if got, _ := os.ReadFile(path); !bytes.Equal(got, f.cifar) {
		t.Fatal("resumed file differs from the served one")
	}
	want := []string{"", "bytes=" + strconv.Itoa(f.srv.cut) + "-"}
	if got := f.srv.seen(); strings.Join(got, "|") != strings.Join(want, "|") {
		t.Errorf("requests had Range %q, want %q", got, want)
	}
}

func TestCancelKeepsThePartForTheNextGet(t *testing.T) {
	f := newFixture(t)
	f.srv.hold = 4000
	c := f.cache(t)
	ctx, cancel := context.WithCancel(t.Context())
	c.Progress = func(p fetch.Progress) {
		if p.Done >= int64(f.srv.hold) {
			cancel()
		}
	}
	_, err := c.Get(ctx, "cifar10")
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("error %v, want context.Canceled", err)
	}
	part := filepath.Join(c.Dir, "cifar-10-binary.tar.gz.part")
	if fi, err := os.Stat(part); err != nil || fi.Size() != int64(f.srv.hold) {
		t.Fatalf("partial file: %v, want %d bytes", err, f.srv.hold)
	}
	c.Progress = nil
	if _, err := c.Get(t.Context(), "cifar10"); err != nil {
		t.Fatal(err)
	}
	if got := f.srv.seen(); len(got) != 2 || got[1] != "bytes=4000-" {
		t.Errorf("requests had Range %q, want the second from byte 4000", got)
	}
	if _, err := os.Stat(part); err == nil {
		t.Error("partial file left after the download finished")
	}
}

func TestFailuresNameTheURLAndTheWayByHand(t *testing.T) {
	f := newFixture(t)
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	refused := "http://" + l.Addr().String()
	l.Close()
	for _, tc := range []struct{ name, mirror, want string }{
		{"404", f.srv.URL + "/missing", "404 Not Found"},
		{"refused", refused, "refused"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := f.cache(t)
			c.Mirror = tc.mirror
			_, err := c.Get(t.Context(), "cifar10")
			var de *fetch.DownloadError
			if !errors.As(err, &de) {
				t.Fatalf("error %v: want a *fetch.DownloadError", err)
			}
			if entries, _ := os.ReadDir(c.Dir); len(entries) != 0 {
				t.Errorf("cache holds %v after a failed download, want nothing", entries)
			}
			url := tc.mirror + "/cifar-10-binary.tar.gz"
			for _, want := range []string{url, tc.want, "by hand: download " + f.catalog[0].URL, "save it as " + filepath.Join(c.Dir, "cifar-10-binary.tar.gz")} {
				if !strings.Contains(err.Error(), want) {
					t.Errorf("error %q does not say %q", err, want)
				}
			}
		})
	}
}

func TestMirrorReplacesTheSource(t *testing.T) {
	f := newFixture(t)
	for i := range f.catalog {
		f.catalog[i].URL = "http://127.0.0.1:1/unreachable/" + f.catalog[i].File
	}
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "dermamnist.npz"), f.derma, 0o644); err != nil {
		t.Fatal(err)
	}
	for _, mirror := range []string{f.srv.URL + "/", dir} {
		c := f.cache(t)
		c.Mirror = mirror
		if _, err := c.Get(t.Context(), "medmnist:dermamnist"); err != nil {
			t.Errorf("mirror %s: %v", mirror, err)
		}
	}
}

func TestList(t *testing.T) {
	f := newFixture(t)
	c := f.cache(t)
	if _, err := c.Get(t.Context(), "cifar10"); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(c.Dir, "dermamnist.npz.part"), f.derma[:100], 0o644); err != nil {
		t.Fatal(err)
	}
	entries, err := c.List(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	if len(entries) != 2 || !entries[0].Verified || entries[0].Size != int64(len(f.cifar)) || entries[1].Present || entries[1].Partial != 100 {
		t.Fatalf("entries %+v", entries)
	}
	// A file changed after landing is listed but not verified.
	if err := os.WriteFile(entries[0].Path, []byte("changed"), 0o644); err != nil {
		t.Fatal(err)
	}
	if entries, _ = c.List(t.Context()); !entries[0].Present || entries[0].Verified {
		t.Errorf("changed file: %+v, want present and not verified", entries[0])
	}
	if _, err := c.Get(t.Context(), "cifar10"); err == nil || !strings.Contains(err.Error(), "remove it and fetch again") {
		t.Errorf("Get of a changed file: %v", err)
	}
}

func TestCatalog(t *testing.T) {
	cat := fetch.Catalog()
	s, err := fetch.Lookup(cat, "cifar100-coarse")
	if err != nil || s.File != "cifar-100-binary.tar.gz" || s.MD5 != "03b5dce01913d631647c71ecec9e9cb8" {
		t.Errorf("cifar100-coarse: %+v, %v", s, err)
	}
	s, err = fetch.Lookup(cat, "medmnist:dermamnist")
	if err != nil || s.MD5 != "0744692d530f8e62ec473284d019b0c7" || s.URL != "https://zenodo.org/records/6496656/files/dermamnist.npz?download=1" {
		t.Errorf("medmnist:dermamnist: %+v, %v", s, err)
	}
	for _, src := range cat {
		if len(src.MD5) != 32 {
			t.Errorf("%s: MD5 %q", src.Name, src.MD5)
		}
	}
	if _, err := fetch.Lookup(cat, "medmnist:chestmnist"); err == nil || !strings.Contains(err.Error(), "multi-label") {
		t.Errorf("chestmnist: %v, want a refusal naming multi-label", err)
	}
	if _, err := fetch.Lookup(cat, "mnist"); err == nil || !strings.Contains(err.Error(), "no download for data set \"mnist\"") {
		t.Errorf("mnist: %v", err)
	}
}

func TestDefaultDir(t *testing.T) {
	t.Setenv("TAET_DATA", "/data/sets")
	if dir, err := fetch.DefaultDir(); err != nil || dir != "/data/sets" {
		t.Errorf("with TAET_DATA: %s, %v", dir, err)
	}
	t.Setenv("TAET_DATA", "")
	t.Setenv("XDG_CACHE_HOME", "/xdg")
	if dir, err := fetch.DefaultDir(); err != nil || dir != "/xdg/taet/datasets" {
		t.Errorf("with XDG_CACHE_HOME: %s, %v", dir, err)
	}
}
