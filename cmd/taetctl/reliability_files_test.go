package main

import (
	"bytes"
	"compress/gzip"
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"github.com/taet-ml/taet/checkpoint"
	"github.com/taet-ml/taet/data"
	"github.com/taet-ml/taet/internal/runlock"
	"github.com/taet-ml/taet/internal/synthdata"
	"github.com/taet-ml/taet/internal/testenv"
	"github.com/taet-ml/taet/sweep"
)

// The second probe's cases (issue 23): files overwritten, scripts
// injected, downloads and decompression unbounded, SIGHUP.
func init() {
	addFailureCases(map[string]failureCase{
		"`export --out` is the checkpoint it reads, in either format, `--force` or not": func(t *testing.T, bin, dir string) (int, string) {
			run := tinyRun(t)
			ckpt := filepath.Join(run, checkpoint.File)
			defer unchanged(t, ckpt)()
			return withAndWithoutForce(t, bin, "export", "--checkpoint", run, "--out", ckpt, "--format", "safetensors")
		},
		"`export --out` names a file a run or sweep directory owns (`metrics.jsonl`, `fit.lock`, `eval/…`, `run.log`, `sweep.json` …)": func(t *testing.T, bin, dir string) (int, string) {
			run := tinyRun(t)
			metrics := filepath.Join(run, checkpoint.MetricsFile)
			defer unchanged(t, metrics)()
			return withAndWithoutForce(t, bin, "export", "--checkpoint", run, "--out", metrics, "--format", "safetensors")
		},
		"`export --out` names an existing file": func(t *testing.T, bin, dir string) (int, string) {
			out := filepath.Join(dir, "model.safetensors")
			if err := os.WriteFile(out, []byte("an earlier export"), 0o644); err != nil {
				t.Fatal(err)
			}
			defer unchanged(t, out)()
			return runBin(t, bin, nil, "export", "--checkpoint", tinyRun(t), "--out", out, "--format", "safetensors")
		},
		"`sweep slurm --partition $'gpu\\ntouch /tmp/x'`, or a `;` or a space in it": func(t *testing.T, bin, dir string) (int, string) {
			sw := slurmSweepDir(t, dir)
			defer noScript(t, sw)
			return runBin(t, bin, nil, "sweep", "slurm", sw, "--partition", "gpu\ntouch /tmp/x", "--time", "1:00:00")
		},
		"`sweep slurm --time $'1:00\\ntouch /tmp/x'`, or any value not in one of sbatch's formats (`1h`)": func(t *testing.T, bin, dir string) (int, string) {
			sw := slurmSweepDir(t, dir)
			defer noScript(t, sw)
			return runBin(t, bin, nil, "sweep", "slurm", sw, "--time", "1:00\ntouch /tmp/x")
		},
		"`sweep slurm` of a sweep whose path has a space or quotes": func(t *testing.T, bin, dir string) (int, string) {
			sw := slurmSweepDir(t, filepath.Join(dir, `my "sweep" it's`))
			code, out := runBin(t, bin, nil, "sweep", "slurm", sw)
			script, _ := os.ReadFile(filepath.Join(sw, sweep.SlurmDir, sweep.ScriptFile))
			return code, out + string(script)
		},
		"`data get` from a server that never stops sending": func(t *testing.T, bin, dir string) (int, string) {
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				chunk := make([]byte, 1<<20)
				for range 200 { // 200 MB, more than cifar10's published 170 MB (unbounded, today: all of it, then a wrong MD5)
					if _, err := w.Write(chunk); err != nil {
						return
					}
				}
			}))
			defer srv.Close()
			code, out := runBin(t, bin, []string{"TAET_DATA=" + dir}, "data", "get", "--mirror", srv.URL, "cifar10")
			if entries, _ := os.ReadDir(dir); len(entries) != 0 {
				t.Errorf("the cache holds %v after the refused download, want nothing", entries)
			}
			return code, out
		},
		"`data get` from a server that stops sending (or never answers)": func(t *testing.T, bin, dir string) (int, string) {
			first := true
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				w.Header().Set("Content-Length", "170052171")
				if first { // some bytes, then silence: one resume, which gets nothing
					first = false
					w.Write(make([]byte, 1000))
				}
				w.(http.Flusher).Flush()
				<-r.Context().Done()
			}))
			defer srv.Close()
			defer srv.CloseClientConnections()
			ctx, cancel := context.WithTimeout(context.Background(), time.Minute) // hangs forever, today
			defer cancel()
			cmd := exec.CommandContext(ctx, bin, "data", "get", "--mirror", srv.URL, "cifar10")
			cmd.Env = append(os.Environ(), "TAET_DATA="+dir, timeoutEnv+"=2s")
			out, err := cmd.CombinedOutput()
			return exitOf(t, err), string(out)
		},
		"Two `data get` of one data set at once": func(t *testing.T, bin, dir string) (int, string) {
			lock, err := runlock.Acquire(filepath.Join(dir, "cifar-10-binary.tar.gz.lock")) // as the first holds it
			if err != nil {
				t.Fatal(err)
			}
			defer lock.Release()
			return runBin(t, bin, []string{"TAET_DATA=" + dir}, "data", "get", "--mirror", "http://127.0.0.1:1", "cifar10")
		},
		"`fit --out FILE`, an existing file": func(t *testing.T, bin, dir string) (int, string) {
			file := filepath.Join(dir, "notes.txt")
			if err := os.WriteFile(file, []byte("mine"), 0o644); err != nil {
				t.Fatal(err)
			}
			return runBin(t, bin, nil, "fit", "--data", synthdata.FashionIDX(t, 40, 12), "--out", file)
		},
		"A gzipped IDX file whose header is valid and whose body is hundreds of MB of zeros": func(t *testing.T, bin, dir string) (int, string) {
			path := synthdata.FashionIDX(t, 40, 12)
			header := []byte{0, 0, 8, 3, 0, 0, 0, 40, 0, 0, 0, 12, 0, 0, 0, 12}
			if err := os.WriteFile(filepath.Join(path, "train-images-idx3-ubyte"), gzipped(t, header, 256<<20), 0o644); err != nil {
				t.Fatal(err)
			}
			return runBin(t, bin, nil, "data", "stats", "--dataset", "fashion-mnist", "--path", path)
		},
		"SIGHUP (a dropped ssh session) during a fit": func(t *testing.T, bin, dir string) (int, string) {
			cmd := exec.Command(bin, "--json", "--threads", "1", "fit", "--data", synthdata.FashionIDX(t, 2000, 12), "--stage", "ce:3",
				"--width", "0.0625", "--batch", "16", "--eval-size", "0", "--out", filepath.Join(dir, "run"))
			stderr, err := runSignalled(t, cmd, syscall.SIGHUP, func(line []byte) bool { return bytes.Contains(line, []byte(`"message_type":"status"`)) })
			return exitOf(t, err), stderr
		},
		"SIGHUP to `sweep run -j 2`": func(t *testing.T, bin, dir string) (int, string) {
			if _, err := os.Stat(data.FashionMNISTDebianDir); err != nil {
				testenv.Missing(t, "needs Debian's Fashion-MNIST (make deb): %v", err)
			}
			sw := filepath.Join(dir, "sweep")
			if code, out := runSweepInit(t, sw, append(tinySweepFlags[4:], "--seed", "0,1")...); code != 0 {
				t.Fatalf("init: exit %d: %s", code, out)
			}
			cmd := exec.Command(bin, "--json", "sweep", "run", sw, "-j", "2")
			cmd.Env = taetctlEnv(t)
			stderr, err := runSignalled(t, cmd, syscall.SIGHUP, func(line []byte) bool {
				var s struct{ Stage string }
				return json.Unmarshal(line, &s) == nil && s.Stage == string(sweep.Fitting)
			})
			return exitOf(t, err), stderr
		},
	})
}

// withAndWithoutForce runs bin with args, then, if that exited 2, again
// with --force added; it returns what the last run did.
func withAndWithoutForce(t *testing.T, bin string, args ...string) (int, string) {
	if code, out := runBin(t, bin, nil, args...); code != exitUsage {
		return code, out
	}
	return runBin(t, bin, nil, append(args, "--force")...)
}

// unchanged reads path and returns a func that fails t if path then holds
// anything else.
func unchanged(t *testing.T, path string) func() {
	before, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return func() {
		if after, err := os.ReadFile(path); err != nil || !bytes.Equal(after, before) {
			t.Errorf("%s was changed (%v)", path, err)
		}
	}
}

// slurmSweepDir initialises a two-run sweep in dir.
func slurmSweepDir(t *testing.T, dir string) string {
	if code, out := runSweepInit(t, dir, "--stage", "ce:1", "--seed", "0,1"); code != 0 {
		t.Fatalf("sweep init: exit %d: %s", code, out)
	}
	return dir
}

// noScript fails t if the sweep in dir has a Slurm script.
func noScript(t *testing.T, dir string) {
	if _, err := os.Stat(filepath.Join(dir, sweep.SlurmDir, sweep.ScriptFile)); err == nil {
		t.Errorf("a refused sweep slurm wrote %s", sweep.ScriptFile)
	}
}

// gzipped returns the gzip of header followed by n zero bytes.
func gzipped(t *testing.T, header []byte, n int) []byte {
	var b bytes.Buffer
	zw, _ := gzip.NewWriterLevel(&b, gzip.BestSpeed)
	zw.Write(header)
	zeros := make([]byte, 1<<20)
	for range n >> 20 {
		zw.Write(zeros)
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}
