package main

import (
	"bytes"
	"context"
	"encoding/csv"
	"encoding/json"
	"fmt"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/taet-ml/taet/checkpoint"
	"github.com/taet-ml/taet/data"
	"github.com/taet-ml/taet/evaluate"
	"github.com/taet-ml/taet/internal/ortest"
	"github.com/taet-ml/taet/internal/testenv"
	"github.com/taet-ml/taet/report"
)

// TestReportOfRealFits fits a 1/16-width ResNet-18 on a few hundred
// Fashion-MNIST images with two seeds, evaluates each with --record, and
// reports the two run directories: one configuration of two runs whose
// means and sample standard deviation match the records and checkpoints.
func TestReportOfRealFits(t *testing.T) {
	if testing.Short() {
		t.Skip("trains two tiny fits (~30 s); skipped with -short")
	}
	if _, err := os.Stat(filepath.Join(data.FashionMNISTDebianDir, "train-images-idx3-ubyte.gz")); err != nil {
		testenv.Missing(t, "needs Debian's Fashion-MNIST: apt-get install dataset-fashion-mnist (%v)", err)
	}
	ortest.Init(t)
	bin := buildTaetctl(t)
	dir := t.TempDir()
	env := taetctlEnv(t) // the binary runs in dir, away from the repository
	run := func(args ...string) []byte {
		t.Helper()
		cmd := exec.Command(bin, args...)
		cmd.Dir, cmd.Env = dir, env
		var stderr bytes.Buffer
		cmd.Stderr = &stderr
		out, err := cmd.Output()
		if err != nil {
			t.Fatalf("taetctl %s: %v\n%s", strings.Join(args, " "), err, stderr.String())
		}
		return out
	}
	var clean, fitSeconds []float64
	for seed := range 2 {
		out := fmt.Sprintf("runs/s%d", seed)
		run("--quiet", "--threads", "2", "fit", "--method", "taet", "--stage", "ce:1", "--stage", "hel:1", "--ir", "10",
			"--n-max", "200", "--width", "0.0625", "--batch", "32", "--eval-size", "64", "--pgd-steps", "2",
			"--seed", strconv.Itoa(seed), "--out", out)
		record := filepath.Join(out, evaluate.RecordDir, "main.json")
		run("--quiet", "--threads", "2", "eval", "-c", out, "--attacks", "fgsm,pgd-20", "--limit", "64", "--batch", "64", "--record", record)
		rec, err := evaluate.LoadRecord(filepath.Join(dir, record))
		if err != nil {
			t.Fatal(err)
		}
		clean = append(clean, rec.Results[0].Balanced)
		st, _, err := checkpoint.Load(filepath.Join(dir, out))
		if err != nil {
			t.Fatal(err)
		}
		s := 0.0
		for _, m := range st.Metrics {
			s += m.Seconds + m.EvalSeconds
		}
		fitSeconds = append(fitSeconds, s)
	}

	var sum struct {
		Type           string `json:"message_type"`
		Dir            string `json:"dir"`
		Configurations int    `json:"configurations"`
		Runs           int    `json:"runs"`
		Missing        []any  `json:"missing"`
	}
	// Flags may follow the run directories.
	if err := json.Unmarshal(run("--json", "report", "runs/s0", "runs/s1", "--out", "rep"), &sum); err != nil {
		t.Fatal(err)
	}
	if sum.Type != "report" || sum.Dir != "rep" || sum.Configurations != 1 || sum.Runs != 2 || len(sum.Missing) != 0 {
		t.Fatalf("report summary %+v: want 2 runs in 1 configuration in ./rep, nothing missing", sum)
	}
	f, err := os.Open(filepath.Join(dir, "rep", report.CSVFile))
	if err != nil {
		t.Fatal(err)
	}
	rows, err := csv.NewReader(f).ReadAll()
	f.Close()
	if err != nil {
		t.Fatal(err)
	}
	want := map[string][2]float64{ // metric: mean, sample std
		"clean_bacc":  {(clean[0] + clean[1]) / 2, math.Abs(clean[0]-clean[1]) / math.Sqrt2},
		"fit_seconds": {(fitSeconds[0] + fitSeconds[1]) / 2, math.Abs(fitSeconds[0]-fitSeconds[1]) / math.Sqrt2},
	}
	found := map[string]bool{}
	for _, r := range rows[1:] {
		if r[0] != "custom" || r[2] != "main" { // one configuration, named by its method: custom, as --stage replaced the preset's
			continue
		}
		found[r[3]] = true
		if w, ok := want[r[3]]; ok {
			mean, _ := strconv.ParseFloat(r[4], 64)
			std, _ := strconv.ParseFloat(r[5], 64)
			if math.Abs(mean-w[0]) > 1e-9 || math.Abs(std-w[1]) > 1e-9 || r[6] != "2" {
				t.Errorf("%s: %q, want mean %v, std %v, n 2", r[3], r, w[0], w[1])
			}
		}
	}
	for _, m := range []string{"clean_bacc", "robust_bacc/fgsm", "robust_bacc/pgd-20", "tail_recall/clean", "tail_recall/pgd-20", "fit_seconds", "eval_seconds", "total_seconds"} {
		if !found[m] {
			t.Errorf("%s has no row custom, main, %s: %q", report.CSVFile, m, rows)
		}
	}
	for _, fig := range []string{"recall-01-custom-main.png", "curves-01-custom.png", "tradeoff-main.png"} {
		if fi, err := os.Stat(filepath.Join(dir, "rep", report.FigureDir, fig)); err != nil || fi.Size() == 0 {
			t.Errorf("figure %s: %v", fig, err)
		}
	}
}

// TestReportRefusesBadArguments checks the usage errors and the error for
// a directory that is no run.
func TestReportRefusesBadArguments(t *testing.T) {
	dir := t.TempDir()
	os.WriteFile(filepath.Join(dir, "sweep.json"), []byte("{}"), 0o644)
	for _, c := range []struct {
		args []string
		code int
		want string
	}{
		{[]string{"report"}, exitUsage, "sweep directory or run directories"},
		{[]string{"report", dir, dir}, exitUsage, "is a sweep"},
		{[]string{"report", dir}, exitData, "sweep.json"},
		{[]string{"report", t.TempDir()}, exitData, "not a run directory"},
	} {
		var out bytes.Buffer
		app := newApp(&globalOptions{})
		app.Writer, app.ErrWriter = &out, &out
		err := app.RunContext(context.Background(), append([]string{"taetctl"}, c.args...))
		if code := exitCode(context.Background(), err); code != c.code || err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("taetctl %v: exit %d, %v; want exit %d and %q", c.args, code, err, c.code, c.want)
		}
	}
}
