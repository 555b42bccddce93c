package main

import (
	"bytes"
	"context"
	"crypto/md5"
	"encoding/hex"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/taet-ml/taet/data/fetch"
	"github.com/taet-ml/taet/internal/ortest"
	"github.com/taet-ml/taet/internal/synthdata"
)

// fetchFixture serves a tiny CIFAR-10 archive and a tiny DermaMNIST .npz
// from a local server, makes them the catalog (with their MD5s, official
// addresses that are unreachable) and points TAET_DATA at an empty cache.
type fetchFixture struct {
	url, cache   string
	cifar, derma []byte
}

func newFetchFixture(t *testing.T) *fetchFixture {
	f := &fetchFixture{cifar: synthdata.CIFAR10TarGz(t, 5), derma: synthdata.MedMNISTNPZ(t, 14, 7), cache: t.TempDir()}
	served := t.TempDir()
	for name, b := range map[string][]byte{"cifar-10-binary.tar.gz": f.cifar, "dermamnist.npz": f.derma} {
		if err := os.WriteFile(filepath.Join(served, name), b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	srv := httptest.NewServer(http.FileServer(http.Dir(served)))
	t.Cleanup(srv.Close)
	f.url = srv.URL
	sum := func(b []byte) string { h := md5.Sum(b); return hex.EncodeToString(h[:]) }
	saved := dataCatalog
	t.Cleanup(func() { dataCatalog = saved })
	dataCatalog = []fetch.Source{
		{Name: "cifar10", File: "cifar-10-binary.tar.gz", URL: "http://127.0.0.1:1/cifar-10-binary.tar.gz", MD5: sum(f.cifar)},
		{Name: "medmnist:dermamnist", File: "dermamnist.npz", URL: "http://127.0.0.1:1/dermamnist.npz?download=1", MD5: sum(f.derma)},
	}
	t.Setenv("TAET_DATA", f.cache)
	t.Setenv(mirrorEnv, "")
	return f
}

// taetctl runs the app on args and returns its stdout, stderr and exit code.
func taetctl(t *testing.T, args ...string) (stdout, stderr string, code int) {
	t.Helper()
	g := &globalOptions{}
	var out, errOut bytes.Buffer
	app := newApp(g)
	app.Writer, app.ErrWriter = &out, &errOut
	ctx := context.Background()
	err := app.RunContext(ctx, append([]string{"taetctl"}, args...))
	if err != nil {
		errOut.WriteString(err.Error())
	}
	return out.String(), errOut.String(), exitCode(ctx, err)
}

func TestDataGet(t *testing.T) {
	f := newFetchFixture(t)
	stdout, stderr, code := taetctl(t, "data", "get", "--mirror", f.url, "cifar10", "medmnist:dermamnist")
	if code != exitOK {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	path := filepath.Join(f.cache, "cifar-10-binary.tar.gz")
	if got, err := os.ReadFile(path); err != nil || !bytes.Equal(got, f.cifar) {
		t.Fatalf("%s: %v, or not the served file", path, err)
	}
	for _, want := range []string{"get cifar10 from " + f.url + "/cifar-10-binary.tar.gz", "cifar10: " + path + " (MD5 verified)",
		"medmnist:dermamnist: " + filepath.Join(f.cache, "dermamnist.npz")} {
		if !strings.Contains(stderr, want) {
			t.Errorf("stderr lacks %q:\n%s", want, stderr)
		}
	}
	if stdout != "" {
		t.Errorf("stdout %q, want nothing without --json", stdout)
	}

	// The cached copies stand in for --data / --path.
	stdout, stderr, code = taetctl(t, "data", "stats", "--dataset", "medmnist:dermamnist", "--split", "test")
	if code != exitOK || !strings.Contains(stdout, "melanocytic nevi") || !strings.Contains(stdout, filepath.Join(f.cache, "dermamnist.npz")) {
		t.Errorf("data stats on the cached copy: exit %d\n%s%s", code, stdout, stderr)
	}

	stdout, _, code = taetctl(t, "data", "list")
	if code != exitOK || !strings.Contains(stdout, "cache "+f.cache) ||
		!strings.Contains(stdout, "cifar10              verified") || !strings.Contains(stdout, "medmnist:dermamnist  verified") {
		t.Errorf("data list: exit %d\n%s", code, stdout)
	}
}

func TestDataGetJSONAndMirrorEnv(t *testing.T) {
	f := newFetchFixture(t)
	t.Setenv(mirrorEnv, f.url)
	stdout, stderr, code := taetctl(t, "--json", "data", "get", "cifar10")
	if code != exitOK {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	var types []string
	var status map[string]any
	for line := range strings.Lines(stdout) {
		var m map[string]any
		if err := json.Unmarshal([]byte(line), &m); err != nil {
			t.Fatalf("stdout line %q: %v", line, err)
		}
		types = append(types, m["message_type"].(string))
		if m["message_type"] == "status" {
			status = m
		}
	}
	if len(types) < 2 || types[len(types)-1] != "data_fetched" || slices.ContainsFunc(types[:len(types)-1], func(s string) bool { return s != "status" }) || status["bytes"] != float64(len(f.cifar)) || status["url"] != f.url+"/cifar-10-binary.tar.gz" {
		t.Errorf("JSON lines %s", stdout)
	}
	stdout, _, _ = taetctl(t, "--json", "data", "list")
	if !strings.Contains(stdout, `"name":"cifar10","partial_bytes":0,"path":"`+filepath.Join(f.cache, "cifar-10-binary.tar.gz")+`","present":true,"url":"http://127.0.0.1:1/cifar-10-binary.tar.gz","verified":true`) {
		t.Errorf("data list --json:\n%s", stdout)
	}
}

func TestDataGetFailures(t *testing.T) {
	f := newFetchFixture(t)
	_, stderr, code := taetctl(t, "data", "get", "--mirror", f.url+"/nowhere", "cifar10")
	by := "by hand: download http://127.0.0.1:1/cifar-10-binary.tar.gz (MD5 " + dataCatalog[0].MD5 + ") and save it as " + filepath.Join(f.cache, "cifar-10-binary.tar.gz")
	if code != exitData || !strings.Contains(stderr, f.url+"/nowhere/cifar-10-binary.tar.gz: HTTP 404 Not Found") || !strings.Contains(stderr, by) {
		t.Errorf("404: exit %d, %s", code, stderr)
	}
	_, stderr, code = taetctl(t, "data", "get", "cifar10") // the official address refuses
	if code != exitData || !strings.Contains(stderr, "connection refused") || !strings.Contains(stderr, by) {
		t.Errorf("refused: exit %d, %s", code, stderr)
	}

	if entries, _ := os.ReadDir(f.cache); len(entries) != 0 {
		t.Errorf("cache holds %v after failed downloads, want nothing", entries)
	}

	dataCatalog[0].MD5 = strings.Repeat("0", 32)
	_, stderr, code = taetctl(t, "data", "get", "--mirror", f.url, "cifar10")
	if code != exitData || !strings.Contains(stderr, "want 00000000000000000000000000000000: not the published file") {
		t.Errorf("checksum: exit %d, %s", code, stderr)
	}
	if entries, _ := os.ReadDir(f.cache); len(entries) != 0 {
		t.Errorf("cache holds %v after failures, want nothing", entries)
	}

	_, stderr, code = taetctl(t, "data", "get", "imagenet")
	if code != exitUsage || !strings.Contains(stderr, `no download for data set "imagenet"`) {
		t.Errorf("unknown name: exit %d, %s", code, stderr)
	}
	_, stderr, code = taetctl(t, "data", "get", "medmnist:chestmnist")
	if code != exitUsage || !strings.Contains(stderr, "chestmnist is multi-label") {
		t.Errorf("chestmnist: exit %d, %s", code, stderr)
	}
}

func TestDownloadFlag(t *testing.T) {
	f := newFetchFixture(t)
	_, stderr, code := taetctl(t, "data", "stats", "--dataset", "cifar10")
	if code != exitData || !strings.Contains(stderr, "fetch it with `taetctl data get cifar10` (or add --download)") {
		t.Errorf("not fetched: exit %d, %s", code, stderr)
	}
	stdout, stderr, code := taetctl(t, "data", "stats", "--dataset", "cifar10", "--download", "--mirror", f.url)
	if code != exitOK || !strings.Contains(stdout, "cifar10 train ("+filepath.Join(f.cache, "cifar-10-binary.tar.gz")+"): 50 images") {
		t.Errorf("--download: exit %d\n%s%s", code, stdout, stderr)
	}
}

// TestFitDownloadsAndExportNamesClasses trains on a MedMNIST set that
// fit --download fetches, then checks that the export's metadata carries
// the set's class names from MedMNIST's table.
func TestFitDownloadsAndExportNamesClasses(t *testing.T) {
	ortest.Init(t)
	f := newFetchFixture(t)
	run := filepath.Join(t.TempDir(), "run")
	_, stderr, code := taetctl(t, "--quiet", "--threads", "1", "fit", "--dataset", "medmnist:dermamnist", "--download", "--mirror", f.url,
		"--stage", "ce:1", "--ir", "1", "--batch", "7", "--width", "0.125", "--eval-size", "0", "--out", run)
	if code != exitOK {
		t.Fatalf("fit: exit %d: %s", code, stderr)
	}
	if _, err := os.Stat(filepath.Join(f.cache, "dermamnist.npz")); err != nil {
		t.Fatalf("fit --download did not fill the cache: %v", err)
	}
	model := filepath.Join(t.TempDir(), "m.onnx")
	if _, stderr, code = taetctl(t, "export", "--checkpoint", run, "--out", model); code != exitOK {
		t.Fatalf("export: exit %d: %s", code, stderr)
	}
	var out bytes.Buffer
	if err := runInspect(model, globalOptions{JSON: true}, &out); err != nil {
		t.Fatal(err)
	}
	var r inspectReport
	if err := json.Unmarshal(out.Bytes(), &r); err != nil || !strings.Contains(r.Metadata["class_names"], `"melanocytic nevi"`) {
		t.Errorf("export metadata class_names = %q (%v), want DermaMNIST's", r.Metadata["class_names"], err)
	}
}
