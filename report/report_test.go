package report

import (
	"bytes"
	"encoding/csv"
	"encoding/json"
	"errors"
	"fmt"
	"image/png"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/taet-ml/taet/checkpoint"
	"github.com/taet-ml/taet/evaluate"
	"github.com/taet-ml/taet/internal/safetensors"
	"github.com/taet-ml/taet/sweep"
)

// fixtureRun is a run to write by hand: a fit of cfg that has finished
// epochs (of cfg's total) with the given epoch seconds, and records.
type fixtureRun struct {
	cfg          checkpoint.Config
	epochs       int
	epochSeconds float64 // each epoch's training seconds; each epoch's evaluation takes 1 s
	records      map[string]evaluate.Record
}

// write writes the run's checkpoint (a tiny tensor) and records into dir.
func (f fixtureRun) write(t *testing.T, dir string) {
	t.Helper()
	if err := os.MkdirAll(filepath.Join(dir, evaluate.RecordDir), 0o755); err != nil {
		t.Fatal(err)
	}
	st := checkpoint.State{Config: f.cfg, Epoch: f.epochs, Classes: 3}
	for e := range f.epochs {
		st.Metrics = append(st.Metrics, checkpoint.EpochMetrics{Stage: f.cfg.StageAt(e).Name, Epoch: e,
			TrainLoss: 2 - float64(e), CleanBAcc: 0.4 + 0.1*float64(e), RobustBAcc: 0.1 * float64(e+1),
			Seconds: f.epochSeconds, EvalSeconds: 1, EvalImages: 30})
	}
	ts := []safetensors.Tensor{{Name: "w", Shape: []int64{1}, Data: []float32{float32(f.cfg.Seed)}}} // runs of other seeds differ
	if err := checkpoint.Save(dir, st, ts); err != nil {
		t.Fatal(err)
	}
	for label, rec := range f.records {
		if err := rec.Save(filepath.Join(dir, evaluate.RecordDir, label+".json")); err != nil {
			t.Fatal(err)
		}
	}
}

// record returns an evaluation record of three classes (the last one the
// tail) with clean balanced accuracy clean, PGD-20 balanced robustness
// robust, and attack seconds 1 (clean) and pgdSeconds.
func record(clean, robust, pgdSeconds float64) evaluate.Record {
	return evaluate.Record{Format: evaluate.RecordFormat, Model: "resnet18", Dataset: "fashion-mnist", TestIR: 1, Images: 30,
		TailClasses: 1, ClassNames: []string{"a", "b", "c"}, TrainCounts: []int{100, 30, 10},
		Results: []evaluate.AttackRecord{
			{Attack: "clean", Balanced: clean, TailRecall: max(0, clean-0.2), Recall: []float64{min(1, clean+0.2), clean, max(0, clean-0.2)},
				Support: []int{10, 10, 10}, Seconds: 1},
			{Attack: "pgd-20", Balanced: robust, TailRecall: robust / 2, Recall: []float64{robust, robust, math.NaN()},
				Support: []int{10, 10, 0}, Seconds: pgdSeconds},
		}}
}

// config returns a two-epoch (ce:1 hel:1) fit configuration.
func config(method string, seed uint64, alpha float64) checkpoint.Config {
	return checkpoint.Config{Method: method, Dataset: "fashion-mnist", IR: 10, Seed: seed, Model: "resnet18", Width: 0.0625,
		Stages: []checkpoint.Stage{{Name: "ce", Epochs: 1}, {Name: "hel", Epochs: 1}}, Batch: 32, HEL: checkpoint.HEL{Alpha: alpha}}
}

// writeSweep writes a sweep of methods taet, at and at-bsl × seeds 0, 1,
// 2 with one evaluation "main":
//
//	taet seeds 0, 1, 2: clean 0.5, 0.6, 0.7; PGD-20 0.2, 0.3, 0.4; epoch seconds 10, 11, 12; PGD seconds 4, 5, 6;
//	  seed 0 also has a record "extra" (one run: no std);
//	at seeds 0, 1: clean 0.3, 0.5; PGD-20 0.1, 0.2; seed 2 stopped after one of two epochs, with no record;
//	at-bsl: no run started.
func writeSweep(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	m := sweep.Manifest{Format: sweep.ManifestFormat, Axes: []sweep.Axis{{Key: "method", Values: []string{"taet", "at", "at-bsl"}},
		{Key: "ir", Values: []string{"10"}}, {Key: "seed", Values: []string{"0", "1", "2"}}}}
	for _, method := range m.Axes[0].Values {
		for s := range 3 {
			r := sweep.Run{Index: len(m.Runs), Name: fmt.Sprintf("%s-ir10-s%d", method, s), Values: map[string]string{"method": method, "ir": "10", "seed": fmt.Sprint(s)},
				Fit: config(method, uint64(s), 0), Evals: []sweep.Eval{{Label: "main", Suite: "taet"}}}
			r.Dir = filepath.Join("runs", r.Name)
			m.Runs = append(m.Runs, r)
			f := fixtureRun{cfg: r.Fit, epochs: 2, epochSeconds: 10 + float64(s)}
			switch {
			case method == "taet":
				f.records = map[string]evaluate.Record{"main": record(0.5+0.1*float64(s), 0.2+0.1*float64(s), 4+float64(s))}
				if s == 0 {
					f.records["extra"] = record(0.9, 0.8, 1)
				}
			case method == "at" && s < 2:
				f.records = map[string]evaluate.Record{"main": record(0.3+0.2*float64(s), 0.1+0.1*float64(s), 4)}
			case method == "at":
				f.epochs = 1
			default:
				continue
			}
			f.write(t, filepath.Join(dir, r.Dir))
		}
	}
	b, err := json.Marshal(m)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, sweep.ManifestFile), b, 0o644); err != nil {
		t.Fatal(err)
	}
	return dir
}

func near(a, b float64) bool { return math.Abs(a-b) < 1e-9 }

// TestCollectLeavesOutNaN checks that a run without a value (NaN: a tail
// recall on a test subset with no tail images) is left out of the mean,
// the std and n instead of making them NaN.
func TestCollectLeavesOutNaN(t *testing.T) {
	runs := []*Run{{Name: "a"}, {Name: "b"}, {Name: "c"}}
	values := map[string]float64{"a": 0.2, "b": math.NaN(), "c": 0.4}
	ms := collect(runs, func(r *Run, add func(string, float64)) { add("tail_recall/pgd-20", values[r.Name]) })
	if len(ms) != 1 || ms[0].Stat.N != 2 || !near(ms[0].Stat.Mean, 0.3) || !near(ms[0].Stat.Std, math.Sqrt(0.02)) || len(ms[0].Runs) != 2 {
		t.Errorf("collect gave %+v; want mean 0.3, std √0.02, n 2 over runs a and c", ms)
	}
}

// TestAggregateSweep checks the statistics against numbers worked out by
// hand: sample standard deviations (n−1), seeds kept within their method.
func TestAggregateSweep(t *testing.T) {
	runs, err := LoadSweep(writeSweep(t))
	if err != nil {
		t.Fatal(err)
	}
	rep := Aggregate("test", runs)
	if len(rep.Configs) != 3 {
		t.Fatalf("%d configurations, want 3 (taet, at, at-bsl)", len(rep.Configs))
	}
	want := map[string]map[string]Stat{
		"method=taet": {
			"clean_bacc":         {Mean: 0.6, Std: 0.1, N: 3}, // population std would be 0.0816
			"robust_bacc/pgd-20": {Mean: 0.3, Std: 0.1, N: 3},
			"tail_recall/clean":  {Mean: 0.4, Std: 0.1, N: 3},
			"tail_recall/pgd-20": {Mean: 0.15, Std: 0.05, N: 3},
			"fit_seconds":        {Mean: 24, Std: 2, N: 3}, // 2 epochs × (10+s training + 1 evaluation)
			"eval_seconds":       {Mean: 6, Std: 1, N: 3},  // 1 + 4+s
			"total_seconds":      {Mean: 30, Std: 3, N: 3},
		},
		"method=at": {
			"clean_bacc":         {Mean: 0.4, Std: math.Sqrt(0.02), N: 2}, // mixed with taet's seeds it would differ
			"robust_bacc/pgd-20": {Mean: 0.15, Std: math.Sqrt(0.005), N: 2},
			"fit_seconds":        {Mean: 23, Std: math.Sqrt(2), N: 2},
		},
	}
	for _, c := range rep.Configs {
		for name, w := range want[c.Name] {
			l := c.Label("main")
			if l == nil {
				t.Fatalf("%s: no label main", c.Name)
			}
			m, ok := l.Metric(name)
			if !ok || !near(m.Mean, w.Mean) || !near(m.Std, w.Std) || m.N != w.N {
				t.Errorf("%s main %s = %+v (found %v), want %+v", c.Name, name, m.Stat, ok, w)
			}
		}
	}
	taet := rep.Configs[0]
	if m, _ := taet.Label("extra").Metric("clean_bacc"); m.N != 1 || !math.IsNaN(m.Std) || m.Mean != 0.9 {
		t.Errorf("taet extra clean_bacc = %+v, want mean 0.9, n 1 and no std", m.Stat)
	}
	if e, _ := taet.Training[0], 0; e.Name != "epochs" || e.Mean != 2 || e.N != 3 {
		t.Errorf("taet training %+v, want 2 epochs over 3 runs", e)
	}
	if got := taet.Label("main").Recall[1].Recall; !near(got[0], 0.3) || !math.IsNaN(got[2]) {
		t.Errorf("taet per-class PGD recall %v, want 0.3 for class a and NaN for c (no support)", got)
	}
	if len(taet.Curves) != 2 || taet.Curves[1].Stage != "hel" || !near(taet.Curves[0].TrainLoss.Mean, 2) || taet.StageEnds[0] != 1 {
		t.Errorf("taet curves %+v, stage ends %v: want 2 epochs (ce, hel), loss 2 then 1, a stage end after epoch 1", taet.Curves, taet.StageEnds)
	}
	at := rep.Configs[1]
	if len(at.Curves) != 2 || at.Curves[0].TrainLoss.N != 3 || at.Curves[1].TrainLoss.N != 2 {
		t.Errorf("at curves %+v: epoch 1 from 3 runs, epoch 2 from the 2 that got there", at.Curves)
	}
}

// TestUnfinishedRunsReportedMissing checks that runs not started or
// stopped midway are listed with what they lack, and are left out of the
// statistics that need them.
func TestUnfinishedRunsReportedMissing(t *testing.T) {
	runs, err := LoadSweep(writeSweep(t))
	if err != nil {
		t.Fatal(err)
	}
	rep := Aggregate("test", runs)
	got := map[string]string{}
	for _, m := range rep.Missing {
		got[m.Run] = strings.Join(m.What, "; ")
	}
	want := map[string]string{
		"at-ir10-s2":     "fit unfinished: 1 of 2 epochs; no evaluation eval/main.json",
		"at-bsl-ir10-s0": "fit not started (no checkpoint.safetensors); no evaluation eval/main.json",
	}
	for run, w := range want {
		if got[run] != w {
			t.Errorf("missing of %s: %q, want %q", run, got[run], w)
		}
	}
	if len(got) != 4 { // at s2; at-bsl ×3; not taet s1, s2, which lack "extra", an evaluation the sweep does not ask for
		t.Errorf("%d runs reported missing, want 4: %v", len(got), got)
	}
	if m := rep.Configs[1].Training; m[0].N != 2 {
		t.Errorf("at: training stats over %d runs, want the 2 finished", m[0].N)
	}
	if len(rep.Configs[2].Labels) != 1 || len(rep.Configs[2].Label("main").Metrics) != 0 {
		t.Errorf("at-bsl (not started): labels %+v, want main without numbers", rep.Configs[2].Labels)
	}
}

// writeFixtureReport aggregates the fixture sweep and writes its report
// into SWEEP/report, returning the report and that directory.
func writeFixtureReport(t *testing.T) (*Report, string) {
	t.Helper()
	sw := writeSweep(t)
	runs, err := LoadSweep(sw)
	if err != nil {
		t.Fatal(err)
	}
	rep := Aggregate("fixture sweep", runs)
	out := filepath.Join(sw, "report")
	if err := rep.Write(out); err != nil {
		t.Fatal(err)
	}
	return rep, out
}

// TestWriteFiles writes the report of the fixture sweep and reads it back.
func TestWriteFiles(t *testing.T) {
	_, out := writeFixtureReport(t)

	f, err := os.Open(filepath.Join(out, CSVFile))
	if err != nil {
		t.Fatal(err)
	}
	rows, err := csv.NewReader(f).ReadAll()
	f.Close()
	if err != nil {
		t.Fatal(err)
	}
	csvRow := func(config, label, metric string) []string {
		for _, r := range rows {
			if r[0] == config && r[2] == label && r[3] == metric {
				return r
			}
		}
		return nil
	}
	if r := csvRow("method=at", "main", "clean_bacc"); r == nil || r[4] != "0.4" || !strings.HasPrefix(r[5], "0.14142135") || r[6] != "2" {
		t.Errorf("csv at/main/clean_bacc: %q, want mean 0.4, std 0.1414…, n 2", r)
	}
	if r := csvRow("method=taet", "extra", "clean_bacc"); r == nil || r[5] != "" || r[6] != "1" {
		t.Errorf("csv taet/extra/clean_bacc: %q, want an empty std for n 1", r)
	}
	if r := csvRow("method=taet", TrainingLabel, "fit_seconds"); r == nil || r[4] != "24" {
		t.Errorf("csv taet/%s/fit_seconds: %q, want mean 24", TrainingLabel, r)
	}

	b, err := os.ReadFile(filepath.Join(out, JSONFile))
	if err != nil {
		t.Fatal(err)
	}
	var js struct {
		Configs []struct {
			Name   string `json:"name"`
			Labels []struct {
				Label   string `json:"label"`
				Metrics []struct {
					Metric string   `json:"metric"`
					Std    *float64 `json:"std"`
					Runs   []RunValue
				} `json:"metrics"`
			} `json:"evaluations"`
		} `json:"configurations"`
		Figures []Figure `json:"figures"`
		Missing []Missing
	}
	if err := json.Unmarshal(b, &js); err != nil {
		t.Fatalf("%s: %v", JSONFile, err)
	}
	m := js.Configs[0].Labels[0].Metrics[0]
	if js.Configs[0].Name != "method=taet" || m.Metric != "clean_bacc" || len(m.Runs) != 3 || m.Runs[2].Seed != "2" || !near(m.Runs[2].Value, 0.7) {
		t.Errorf("%s: first metric %+v of %s, want clean_bacc with three runs, seed 2 at 0.7", JSONFile, m, js.Configs[0].Name)
	}
	if extra := js.Configs[0].Labels[1].Metrics[0]; extra.Std != nil {
		t.Errorf("%s: std of a single run %v, want null", JSONFile, *extra.Std)
	}
	if len(js.Missing) != 4 {
		t.Errorf("%s: %d missing runs, want 4", JSONFile, len(js.Missing))
	}

	md, err := os.ReadFile(filepath.Join(out, MarkdownFile))
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"| method=taet | 3 | 0.6000 ± 0.1000 (n=3) |", "0.9000 (n=1, no std)", "fit unfinished: 1 of 2 epochs", "(figures/curves-01-method_taet.png)"} {
		if !strings.Contains(string(md), want) {
			t.Errorf("%s lacks %q:\n%s", MarkdownFile, want, md)
		}
	}

	// Figures: recall per configuration and label with records (taet main,
	// extra; at main), curves for taet and at, a trade-off per label.
	kinds := map[string]int{}
	for _, fig := range js.Figures {
		kinds[strings.SplitN(filepath.Base(fig.File), "-", 2)[0]]++
		checkPNG(t, filepath.Join(out, fig.File))
	}
	if kinds["recall"] != 3 || kinds["curves"] != 2 || kinds["tradeoff"] != 2 {
		t.Errorf("figures %v, want 3 recall, 2 curves, 2 tradeoff", kinds)
	}
	html, err := os.ReadFile(filepath.Join(out, HTMLFile))
	if err != nil {
		t.Fatal(err)
	}
	if n := strings.Count(string(html), `src="data:image/png;base64,`); n != len(js.Figures) {
		t.Errorf("%s embeds %d images, want %d", HTMLFile, n, len(js.Figures))
	}
	if strings.Contains(string(html), "ZgotmplZ") || strings.Contains(string(html), "http") {
		t.Errorf("%s has a filtered or external URL", HTMLFile)
	}
}

// checkPNG fails t unless path is a PNG that decodes to a nonempty image
// with more than one colour.
func checkPNG(t *testing.T, path string) {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	img, err := png.Decode(bytes.NewReader(b))
	if err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	bd := img.Bounds()
	if bd.Dx() < 100 || bd.Dy() < 100 {
		t.Fatalf("%s: %v, want a real figure", path, bd)
	}
	first := img.At(bd.Min.X, bd.Min.Y)
	for y := bd.Min.Y; y < bd.Max.Y; y += 3 {
		for x := bd.Min.X; x < bd.Max.X; x += 3 {
			if img.At(x, y) != first {
				return
			}
		}
	}
	t.Errorf("%s: blank (one colour)", path)
}

// TestLoadRunsGroupsBySettings reports bare run directories: two HEL
// weights × two seeds, one run with other threads (which do not make
// another configuration).
func TestLoadRunsGroupsBySettings(t *testing.T) {
	dir := t.TempDir()
	var dirs []string
	for _, alpha := range []float64{0.1, 0.2} {
		for seed := range uint64(2) {
			cfg := config("taet", seed, alpha)
			cfg.Threads = int(seed) + 1
			d := filepath.Join(dir, fmt.Sprintf("a%v-s%d", alpha, seed))
			fixtureRun{cfg: cfg, epochs: 2, epochSeconds: 5,
				records: map[string]evaluate.Record{"main": record(alpha+0.5*float64(seed), 0.1, 1)}}.write(t, d)
			dirs = append(dirs, d)
		}
	}
	runs, err := LoadRuns(dirs)
	if err != nil {
		t.Fatal(err)
	}
	rep := Aggregate("bare", runs)
	if len(rep.Configs) != 2 || rep.Configs[0].Name != "hel.alpha=0.1" || rep.Configs[1].Name != "hel.alpha=0.2" {
		t.Fatalf("configurations %v, want hel.alpha=0.1 and hel.alpha=0.2", rep.Configs)
	}
	for i, c := range rep.Configs {
		m, _ := c.Label("main").Metric("clean_bacc")
		if w := []float64{0.35, 0.45}[i]; m.N != 2 || !near(m.Mean, w) || !near(m.Std, math.Sqrt(0.125)) {
			t.Errorf("%s clean_bacc %+v, want mean %v, std √0.125, n 2", c.Name, m.Stat, w)
		}
	}
	if len(rep.Missing) != 0 {
		t.Errorf("missing %v, want none", rep.Missing)
	}

	// One configuration only: named by its method.
	runs, err = LoadRuns(dirs[:2])
	if err != nil {
		t.Fatal(err)
	}
	if rep := Aggregate("one", runs); len(rep.Configs) != 1 || rep.Configs[0].Name != "taet" {
		t.Errorf("configurations %v, want one named taet", rep.Configs)
	}
}

// TestLoadErrorsNameTheFile checks that foreign files are refused with
// their name.
func TestLoadErrorsNameTheFile(t *testing.T) {
	dir := t.TempDir()
	run := filepath.Join(dir, "run")
	fixtureRun{cfg: config("taet", 0, 0), epochs: 2, records: map[string]evaluate.Record{"main": record(0.5, 0.2, 1)}}.write(t, run)
	foreign := filepath.Join(run, evaluate.RecordDir, "notes.json")
	if err := os.WriteFile(foreign, []byte(`{"hello": 1}`), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := LoadRuns([]string{run}); err == nil || !strings.Contains(err.Error(), foreign) {
		t.Errorf("foreign record: %v, want an error naming %s", err, foreign)
	}
	os.Remove(foreign)

	empty := filepath.Join(dir, "empty")
	os.Mkdir(empty, 0o755)
	if _, err := LoadRuns([]string{run, empty}); err == nil || !strings.Contains(err.Error(), empty) || !strings.Contains(err.Error(), "not a run directory") {
		t.Errorf("directory without a checkpoint: %v, want an error naming it", err)
	}
	ckpt := filepath.Join(run, checkpoint.File)
	if err := os.WriteFile(ckpt, []byte("garbage"), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := LoadRuns([]string{run}); err == nil || !strings.Contains(err.Error(), ckpt) {
		t.Errorf("corrupt checkpoint: %v, want an error naming %s", err, ckpt)
	}
	if err := os.WriteFile(filepath.Join(dir, sweep.ManifestFile), []byte("[]"), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := LoadSweep(dir); err == nil || !strings.Contains(err.Error(), sweep.ManifestFile) {
		t.Errorf("bad manifest: %v, want an error naming it", err)
	}
}

// TestLoadRefusesBadAndForeignRecords checks that a record with a number
// out of range, or one that names another checkpoint than its run's, is
// refused naming the file, not reported.
func TestLoadRefusesBadAndForeignRecords(t *testing.T) {
	dir := t.TempDir()
	a, b := filepath.Join(dir, "a"), filepath.Join(dir, "b")
	fixtureRun{cfg: config("taet", 0, 0), epochs: 2}.write(t, a)
	fixtureRun{cfg: config("taet", 1, 0), epochs: 2}.write(t, b)
	stA, _, err := checkpoint.Load(a)
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(b, evaluate.RecordDir, "main.json")
	for _, tc := range []struct {
		name string
		edit func(r *evaluate.Record)
		want string
	}{
		{"balanced robustness -5", func(r *evaluate.Record) { r.Results[1].Balanced = -5 }, "balanced_robustness -5"},
		{"accuracy 1e308", func(r *evaluate.Record) { r.Results[0].Accuracy = 1e308 }, "accuracy 1e+308"},
		{"a's record in b", func(r *evaluate.Record) { r.Identity, r.Checkpoint = stA.SHA256, a }, "another checkpoint"},
	} {
		rec := record(0.5, 0.2, 1)
		tc.edit(&rec)
		if err := rec.Save(path); err != nil {
			t.Fatal(err)
		}
		if _, err := LoadRuns([]string{a, b}); err == nil || !strings.Contains(err.Error(), path) || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: %v, want an error naming %s and %q", tc.name, err, path, tc.want)
		}
	}
}

// TestWriteReplacesTheWholeReport checks that a second Write leaves no
// file of the first behind (a figure no longer drawn), no temporary
// directory beside it, and that a directory holding other files is refused
// and left as it is.
func TestWriteReplacesTheWholeReport(t *testing.T) {
	rep, out := writeFixtureReport(t)
	sw := filepath.Dir(out)
	stale := filepath.Join(out, FigureDir, "recall-99-old.png")
	if err := os.WriteFile(stale, []byte("old"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := rep.Write(out); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(stale); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("a figure of the previous report survived the new one: %v", err)
	}
	if _, err := os.Stat(filepath.Join(out, HTMLFile)); err != nil {
		t.Error(err)
	}
	entries, _ := os.ReadDir(sw)
	for _, e := range entries {
		if strings.HasPrefix(e.Name(), ".") {
			t.Errorf("%s left beside the report", e.Name())
		}
	}
	mine := filepath.Join(t.TempDir(), "notes")
	if err := os.MkdirAll(mine, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(mine, "thesis.tex"), []byte("mine"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := rep.Write(mine); err == nil || !strings.Contains(err.Error(), "thesis.tex") {
		t.Errorf("a directory of other files: %v, want a refusal naming thesis.tex", err)
	}
	if b, err := os.ReadFile(filepath.Join(mine, "thesis.tex")); err != nil || string(b) != "mine" {
		t.Errorf("the refused directory changed: %q, %v", b, err)
	}
}

// TestFigureFileFitsTheFileSystem: a configuration named by many differing
// settings (robal beside reat: head, batch, milestones, PGD, …) still gives
// a figure file name within the 255 bytes file systems allow, and the
// configuration index keeps two such names apart.
func TestFigureFileFitsTheFileSystem(t *testing.T) {
	long := strings.Repeat("optimizer.milestones=59+60+61+62 ", 40)
	a, b := figureFile("recall", 0, long, "balanced"), figureFile("recall", 1, long, "balanced")
	if n := len(filepath.Base(a)); n > 255 {
		t.Errorf("%d-byte file name %q", n, a)
	}
	if a == b {
		t.Errorf("two configurations share the figure file %s", a)
	}
}
