package main

import (
	"crypto/sha256"
	"encoding/csv"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/taet-ml/taet/attacks"
	"github.com/taet-ml/taet/data"
	"github.com/taet-ml/taet/eval"
	"github.com/taet-ml/taet/export"
	"github.com/taet-ml/taet/internal/atomicfile"
	"github.com/taet-ml/taet/onnx/ort"
	"github.com/taet-ml/taet/train"
	"github.com/urfave/cli/v2"
	"gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/plotutil"
	"gonum.org/v1/plot/vg"
)

// evalOptions are the flags of `taetctl eval`.
type evalOptions struct {
	Checkpoint string
	Dataset    string
	Data       string
	TestIR     float64
	Suite      string
	Attacks    []string
	Eps        float64
	Batch      int
	Limit      int
	Seed       uint64
	Tail       int
	CSV        string
	PlotDir    string
	State      string
	Device     string
	Fetch      dataFetch // finds the data set when Data is ""
}

func newEvalCommand(g *globalOptions) *cli.Command {
	return &cli.Command{
		Name:  "eval",
		Usage: "balanced accuracy and balanced robustness of a checkpoint under FGSM, PGD, CW and AutoAttack",
		Description: `Attacks every test image (or --limit of them) with each attack of --suite or
--attacks and reports, per attack: balanced robustness (mean per-class recall on the
adversarial examples), plain accuracy, the worst class, the mean recall of the last
--tail classes (the paper's tail view) and the largest perturbation found. Classes with
no test samples are left out of the means and named.

Suites (DESIGN.md section 6):
  taet      fgsm, pgd-20, pgd-100, cw-l2, autoattack-10 (what the TAET authors ran)
  standard  autoattack (APGD-CE, APGD-T, FAB-T, Square 5000), cw-linf (κ 50)
Attacks: ` + strings.Join(attacks.Names(), ", ") + `

Every attack checks its own result (perturbation within eps, pixels in [0,1],
broken examples re-run and misclassified). Results are saved after every chunk of
batches in --state (default: eval-state.json beside the checkpoint), so an
interrupted evaluation resumes where it stopped.

` + exitStatusHelp,
		Flags: append([]cli.Flag{
			&cli.StringFlag{Name: "checkpoint", Aliases: []string{"c"}, Usage: "checkpoint file or run directory, or an ONNX file from taetctl export (gradient-free attacks only) (required)"},
			&cli.StringFlag{Name: "dataset", Usage: "data set (default: the checkpoint's)"},
			&cli.StringFlag{Name: "data", Usage: "data set path (default: the checkpoint's, else the copy taetctl data get fetched)"},
			&cli.Float64Flag{Name: "test-ir", Value: 1, Usage: "imbalance ratio of the test set (1 = as is; the TAET authors use the training IR)"},
			&cli.StringFlag{Name: "suite", Value: "taet", Usage: "attack suite: " + strings.Join(attacks.SuiteNames(), ", ")},
			&cli.StringSliceFlag{Name: "attacks", Usage: "attacks to run instead of a suite (comma-separated or repeated)"},
			&cli.StringFlag{Name: "eps", Value: "8/255", Usage: "L∞ radius in [0,1] pixel units"},
			&cli.IntFlag{Name: "batch", Value: 128, Usage: "batch size"},
			&cli.IntFlag{Name: "limit", Usage: "attack only this many test images (a seeded subset; 0 = all)"},
			&cli.Uint64Flag{Name: "seed", Usage: "seed of the subset and the attacks"},
			&cli.IntFlag{Name: "tail", Usage: "classes in the tail view (default: a third of the classes)"},
			&cli.StringFlag{Name: "csv", Usage: "write per-class recall of every attack to this CSV file"},
			&cli.StringFlag{Name: "plot", Usage: "write a PNG per attack (per-class clean vs robust recall) into this directory"},
			&cli.StringFlag{Name: "state", Usage: "resumable state file (default: eval-state.json beside the checkpoint)"},
			&cli.StringFlag{Name: "device", Value: "cpu", Usage: "execution provider: cpu, cuda or cuda:N"},
		}, fetchFlags()...),
		Action: func(c *cli.Context) error {
			eps, err := train.ParseFraction(c.String("eps"))
			if err != nil {
				return usagef("--eps: %v", err)
			}
			o := evalOptions{
				Checkpoint: c.String("checkpoint"), Dataset: c.String("dataset"), Data: c.String("data"),
				TestIR: c.Float64("test-ir"), Suite: c.String("suite"), Eps: eps, Batch: c.Int("batch"),
				Limit: c.Int("limit"), Seed: c.Uint64("seed"), Tail: c.Int("tail"), CSV: c.String("csv"),
				PlotDir: c.String("plot"), State: c.String("state"), Device: c.String("device"),
				Fetch: newDataFetch(c, *g),
			}
			for _, a := range c.StringSlice("attacks") {
				o.Attacks = append(o.Attacks, strings.Split(a, ",")...)
			}
			if err := o.validate(); err != nil {
				return usageError{err}
			}
			if err := ort.Init(g.ORTLib); err != nil {
				return err
			}
			return runEval(o, *g, c.App.Writer, c.App.ErrWriter)
		},
	}
}

func (o evalOptions) validate() error {
	switch {
	case o.Checkpoint == "":
		return fmt.Errorf("--checkpoint: give the checkpoint file or run directory to evaluate")
	case o.Eps <= 0 || o.Eps > 1:
		return fmt.Errorf("--eps %v: want a radius in (0, 1]", o.Eps)
	case o.Batch < 1 || o.Limit < 0 || o.Tail < 0:
		return fmt.Errorf("--batch must be positive, --limit and --tail ≥ 0")
	case o.TestIR < 1:
		return fmt.Errorf("--test-ir %v: want ≥ 1", o.TestIR)
	}
	if _, err := ort.ParseDevice(o.Device); err != nil {
		return fmt.Errorf("--device: %w", err)
	}
	if _, err := o.specs(); err != nil {
		return err
	}
	return nil
}

// specs returns the attacks to run.
func (o evalOptions) specs() ([]attacks.Spec, error) {
	if len(o.Attacks) == 0 {
		return attacks.Suite(o.Suite, o.Eps)
	}
	var out []attacks.Spec
	for _, name := range o.Attacks {
		s, err := attacks.ByName(strings.TrimSpace(name), o.Eps)
		if err != nil {
			return nil, err
		}
		out = append(out, s)
	}
	return out, nil
}

// attackReport is one attack's outcome (one JSON line).
type attackReport struct {
	MessageType string    `json:"message_type"`
	Attack      string    `json:"attack"`
	Balanced    float64   `json:"balanced_robustness"` // balanced_accuracy for "clean"
	Accuracy    float64   `json:"accuracy"`
	Worst       float64   `json:"worst_class_recall"`
	WorstClass  int       `json:"worst_class"`
	Tail        float64   `json:"tail_recall"`
	TailClasses int       `json:"tail_classes"`
	Recall      []float64 `json:"per_class_recall"` // NaN (null) for classes without samples
	Support     []int     `json:"support"`
	Excluded    []int     `json:"excluded_classes,omitempty"`
	MaxLinf     float64   `json:"max_linf"`
	MaxL2       float64   `json:"max_l2"`
	Seconds     float64   `json:"seconds"`
}

// MarshalJSON writes NaN recalls as null (JSON has no NaN).
func (r attackReport) MarshalJSON() ([]byte, error) {
	type plain attackReport
	p := plain(r)
	recall := make([]*float64, len(r.Recall))
	for i := range r.Recall {
		if !math.IsNaN(r.Recall[i]) {
			recall[i] = &r.Recall[i]
		}
	}
	p.Recall = nil
	b, err := json.Marshal(struct {
		plain
		Recall []*float64 `json:"per_class_recall"`
	}{p, recall})
	return b, err
}

// evalState is the resumable part of an evaluation: the predictions of
// every finished chunk of every attack, under a key of what was asked.
type evalState struct {
	Key     string              `json:"key"`
	Clean   []int64             `json:"clean"`
	Attacks map[string]*partial `json:"attacks"`
}

type partial struct {
	Done    int     `json:"done"` // examples finished
	Pred    []int64 `json:"pred"`
	MaxLinf float64 `json:"max_linf"`
	MaxL2   float64 `json:"max_l2"`
	Seconds float64 `json:"seconds"`
}

// chunkBatches is how many batches run between two saves of the state.
const chunkBatches = 4

// evalTarget is what eval attacks: a checkpoint's network or an exported
// ONNX file, with what the report needs to know about it.
type evalTarget struct {
	model       string   // model name for reports
	classes     int      // K
	image       []int64  // [C, H, W]
	classNames  []string // or nil
	trainCounts []int    // training class counts, or nil
	identity    string   // what the resumable state is keyed on
	dataset     string   // defaults for --dataset and --data
	dataPath    string
	oracles     func(kappa float64) attacks.OracleSet
	close       func()
}

// checkpointTarget attacks a checkpoint through input-gradient sessions
// with its parameters stored in the graphs.
func checkpointTarget(o evalOptions, g globalOptions) (*evalTarget, error) {
	net, err := export.LoadCheckpoint(o.Checkpoint)
	if err != nil {
		return nil, dataError{err}
	}
	graphNet, err := net.Net()
	if err != nil {
		return nil, err
	}
	dev, _ := ort.ParseDevice(o.Device)
	sets := map[float64]*train.OracleSet{}
	return &evalTarget{
		model: net.Model, classes: net.Options.Classes, image: net.Image, classNames: net.ClassNames,
		trainCounts: net.State.Split.Counts, identity: net.State.SHA256,
		dataset: net.State.Config.Dataset, dataPath: net.State.Config.DataPath,
		oracles: func(kappa float64) attacks.OracleSet {
			s, ok := sets[kappa]
			if !ok {
				s = train.NewOracleSet(graphNet, net.Values, net.Image, o.Batch, net.Options.Classes, kappa, ort.Options{Threads: g.Threads, Device: dev})
				sets[kappa] = s
			}
			return s.Get
		},
		close: func() {
			for _, s := range sets {
				s.Close()
			}
		},
	}, nil
}

func runEval(o evalOptions, g globalOptions, stdout, stderr io.Writer) error {
	var tgt *evalTarget
	var err error
	if strings.HasSuffix(o.Checkpoint, ".onnx") {
		tgt, err = onnxTarget(o, g)
	} else {
		tgt, err = checkpointTarget(o, g)
	}
	if err != nil {
		return err
	}
	defer tgt.close()
	if o.Dataset == "" {
		o.Dataset = tgt.dataset
	}
	if o.Data == "" {
		o.Data = tgt.dataPath
	}
	if o.Dataset == "" {
		return usagef("--dataset and --data: %s does not say which data set it was trained on", o.Checkpoint)
	}
	if o.Data == "" {
		if o.Data, err = o.Fetch.path(o.Dataset); err != nil {
			return err
		}
	}
	test, err := loadTestSet(o, tgt)
	if err != nil {
		return dataError{err}
	}
	specs, err := o.specs()
	if err != nil {
		return usageError{err}
	}
	statePath := o.State
	if statePath == "" {
		statePath = filepath.Join(runDir(o.Checkpoint), "eval-state.json")
	}
	st := loadEvalState(statePath, evalKey(o, tgt, test))
	k := tgt.classes
	tail := o.Tail
	if tail == 0 {
		tail = max(1, k/3)
	}
	tail = min(tail, k)
	var reports []attackReport
	for _, spec := range specs {
		p := st.Attacks[spec.Name]
		if p == nil {
			p = &partial{}
			st.Attacks[spec.Name] = p
		}
		chunk := chunkBatches * o.Batch
		lastNote := time.Time{}
		for p.Done < test.N {
			start := time.Now()
			end := min(p.Done+chunk, test.N)
			sz := test.ImageSize()
			r, err := attacks.RunDataset(spec.Attack, tgt.oracles(spec.Kappa), test.Images[p.Done*sz:end*sz], test.Labels[p.Done:end],
				attacks.DatasetOptions{Seed: o.Seed, First: p.Done})
			if err != nil {
				return fmt.Errorf("%s: %w", spec.Name, err)
			}
			if len(st.Clean) == p.Done {
				st.Clean = append(st.Clean, r.Clean...)
			}
			p.Pred = append(p.Pred, r.Pred...)
			p.Done = end
			p.MaxLinf, p.MaxL2 = max(p.MaxLinf, r.MaxLinf), max(p.MaxL2, r.MaxL2)
			p.Seconds += time.Since(start).Seconds()
			if err := saveEvalState(statePath, st); err != nil {
				return err
			}
			if !g.Quiet && !g.JSON && time.Since(lastNote) > 10*time.Second {
				fmt.Fprintf(stderr, "%s: %d/%d images, %.1f img/s\n", spec.Name, p.Done, test.N, float64(p.Done)/p.Seconds)
				lastNote = time.Now()
			}
		}
		reports = append(reports, makeReport(spec.Name, p.Pred, test.Labels, k, tail, p))
	}
	clean := makeReport("clean", st.Clean, test.Labels, k, tail, &partial{})
	reports = append([]attackReport{clean}, reports...)
	return writeEvalOutputs(o, g, stdout, reports, tgt, test, tail)
}

// runDir returns the directory of a checkpoint path (a run directory or a file in one).
func runDir(ckpt string) string {
	if fi, err := os.Stat(ckpt); err == nil && fi.IsDir() {
		return ckpt
	}
	return filepath.Dir(ckpt)
}

// loadTestSet reads the test split, long-tails it with --test-ir and takes
// a seeded --limit subset; it must match the checkpoint's classes and image shape.
func loadTestSet(o evalOptions, tgt *evalTarget) (*data.Dataset, error) {
	test, err := data.Load(o.Dataset, o.Data, "test")
	if err != nil {
		return nil, err
	}
	if test.Classes != tgt.classes || int64(test.C) != tgt.image[0] || int64(test.H) != tgt.image[1] || int64(test.W) != tgt.image[2] {
		return nil, fmt.Errorf("%s test set has %d classes of %d×%d×%d images; %s expects %d classes of %v",
			o.Dataset, test.Classes, test.C, test.H, test.W, o.Checkpoint, tgt.classes, tgt.image)
	}
	if o.TestIR > 1 {
		if test, _, err = data.LongTail(test, o.TestIR, 0, o.Seed); err != nil {
			return nil, err
		}
	}
	if o.Limit > 0 && o.Limit < test.N {
		test = test.Subset(rand.New(rand.NewPCG(o.Seed, 0x11317)).Perm(test.N)[:o.Limit])
	}
	return test, nil
}

// evalKey identifies what an evaluation state belongs to.
func evalKey(o evalOptions, tgt *evalTarget, test *data.Dataset) string {
	h := sha256.New()
	fmt.Fprintf(h, "%s|%s|%v|%v|%d|%d|%d|%d|%s", o.Dataset, o.Data, o.TestIR, o.Eps, o.Batch, o.Limit, o.Seed, test.N, tgt.identity)
	return hex.EncodeToString(h.Sum(nil))
}

// loadEvalState returns the saved state at path if it belongs to key, else a fresh one.
func loadEvalState(path, key string) *evalState {
	st := &evalState{Key: key, Attacks: map[string]*partial{}}
	b, err := os.ReadFile(path)
	if err != nil {
		return st
	}
	var saved evalState
	if json.Unmarshal(b, &saved) != nil || saved.Key != key || saved.Attacks == nil {
		return st
	}
	return &saved
}

func saveEvalState(path string, st *evalState) error {
	b, err := json.Marshal(st)
	if err != nil {
		return err
	}
	if err := atomicfile.Write(path, b); err != nil {
		return fmt.Errorf("save evaluation state: %w", err)
	}
	return nil
}

func makeReport(name string, pred, truth []int64, k, tail int, p *partial) attackReport {
	r := eval.Evaluate(pred, truth, k)
	return attackReport{MessageType: "attack", Attack: name, Balanced: r.Balanced, Accuracy: r.Accuracy,
		Worst: r.Worst, WorstClass: r.WorstClass, Tail: r.Tail(tail), TailClasses: tail, Recall: r.Recall,
		Support: r.Support, Excluded: r.Excluded, MaxLinf: p.MaxLinf, MaxL2: p.MaxL2, Seconds: p.Seconds}
}

func writeEvalOutputs(o evalOptions, g globalOptions, w io.Writer, reports []attackReport, tgt *evalTarget, test *data.Dataset, tail int) error {
	if o.CSV != "" {
		if err := writeEvalCSV(o.CSV, reports, tgt.classNames); err != nil {
			return err
		}
	}
	if o.PlotDir != "" {
		if err := os.MkdirAll(o.PlotDir, 0o755); err != nil {
			return err
		}
		for _, r := range reports[1:] {
			if err := plotRecall(filepath.Join(o.PlotDir, r.Attack+".png"), reports[0], r, tgt); err != nil {
				return err
			}
		}
	}
	if g.JSON {
		for _, r := range reports {
			if err := writeJSON(w, r); err != nil {
				return err
			}
		}
		return nil
	}
	fmt.Fprintf(w, "%s on %s test (%d images, %d classes), eps %.4f\n", tgt.model, o.Dataset, test.N, tgt.classes, o.Eps)
	if ex := reports[0].Excluded; len(ex) > 0 {
		fmt.Fprintf(w, "classes without test samples, left out of the means: %v\n", ex)
	}
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintf(tw, "ATTACK\tBALANCED\tACCURACY\tTAIL-%d\tWORST CLASS\tMAX L∞\tSECONDS\n", tail)
	for _, r := range reports {
		fmt.Fprintf(tw, "%s\t%.4f\t%.4f\t%.4f\t%.4f (%s)\t%.4f\t%.0f\n", r.Attack, r.Balanced, r.Accuracy, r.Tail,
			r.Worst, className(tgt.classNames, r.WorstClass), r.MaxLinf, r.Seconds)
	}
	return tw.Flush()
}

func className(names []string, c int) string {
	if c >= 0 && c < len(names) {
		return names[c]
	}
	return strconv.Itoa(c)
}

func writeEvalCSV(path string, reports []attackReport, names []string) error {
	var b strings.Builder
	cw := csv.NewWriter(&b)
	cw.Write([]string{"attack", "class", "name", "support", "recall"})
	for _, r := range reports {
		for c, rec := range r.Recall {
			v := ""
			if !math.IsNaN(rec) {
				v = strconv.FormatFloat(rec, 'f', 6, 64)
			}
			cw.Write([]string{r.Attack, strconv.Itoa(c), className(names, c), strconv.Itoa(r.Support[c]), v})
		}
	}
	cw.Flush()
	if err := cw.Error(); err != nil {
		return err
	}
	return atomicfile.Write(path, []byte(b.String()))
}

// plotRecall draws per-class clean and robust recall as bars, the training
// class counts (scaled to [0, 1]) as points over them, like the paper's Figure 1.
func plotRecall(file string, clean, robust attackReport, tgt *evalTarget) error {
	counts := tgt.trainCounts
	p := plot.New()
	p.Title.Text = fmt.Sprintf("%s: per-class recall, clean vs %s", tgt.model, robust.Attack)
	p.Y.Label.Text = "recall"
	p.Y.Min, p.Y.Max = 0, 1.05
	w := vg.Points(12)
	values := func(r []float64) plotter.Values {
		v := make(plotter.Values, len(r))
		for i, x := range r {
			if !math.IsNaN(x) {
				v[i] = x
			}
		}
		return v
	}
	cb, err := plotter.NewBarChart(values(clean.Recall), w)
	if err != nil {
		return err
	}
	rb, err := plotter.NewBarChart(values(robust.Recall), w)
	if err != nil {
		return err
	}
	cb.Offset, rb.Offset = -w/2, w/2
	cb.Color, rb.Color = plotutil.Color(0), plotutil.Color(1)
	cb.LineStyle.Width, rb.LineStyle.Width = 0, 0
	p.Add(cb, rb)
	p.Legend.Add("clean", cb)
	p.Legend.Add(robust.Attack, rb)
	if len(counts) == len(clean.Recall) {
		top := 0
		for _, n := range counts {
			top = max(top, n)
		}
		pts := make(plotter.XYs, len(counts))
		for i, n := range counts {
			pts[i] = plotter.XY{X: float64(i), Y: float64(n) / float64(top)}
		}
		line, err := plotter.NewLine(pts)
		if err != nil {
			return err
		}
		line.Color = plotutil.Color(2)
		p.Add(line)
		p.Legend.Add("training images (scaled)", line)
	}
	labels := make([]string, len(clean.Recall))
	for i := range labels {
		labels[i] = className(tgt.classNames, i)
	}
	p.NominalX(labels...)
	p.Legend.Top = true
	return p.Save(9*vg.Inch, 5*vg.Inch, file)
}
