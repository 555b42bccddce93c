package main

import (
	"cmp"
	"context"
	"encoding/csv"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"text/tabwriter"

	"github.com/taet-ml/taet/attacks"
	"github.com/taet-ml/taet/evaluate"
	"github.com/taet-ml/taet/internal/atomicfile"
	"github.com/taet-ml/taet/internal/boundedfile"
	"github.com/taet-ml/taet/onnx/ort"
	"github.com/taet-ml/taet/report"
	"github.com/taet-ml/taet/train"
	"github.com/urfave/cli/v2"
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
	Record     string
	Device     ort.Device
	Fetch      dataFetch // finds the data set when Data is "" and the target names none
}

// evalStateFile is eval's default --state, beside the checkpoint.
const evalStateFile = "eval-state.json"

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
broken examples re-run and misclassified). Results are saved after every batch in
--state (default: eval-state.json beside the checkpoint). Ctrl-C stops within one
attack iteration (exit 130; 129 after SIGHUP); the same command then resumes where it stopped, and
each attack's resumed_images says how many images came from the state.

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
			&cli.StringFlag{Name: "record", Usage: "write the evaluation record (JSON, what taetctl report reads; conventionally RUN/eval/LABEL.json) to this file"},
			&cli.StringFlag{Name: "state", Usage: "resumable state file (default: eval-state.json beside the checkpoint)"},
			&cli.StringFlag{Name: "device", Value: "cpu", Usage: "execution provider: cpu, cuda or cuda:N"},
		}, fetchFlags()...),
		Action: func(c *cli.Context) error {
			eps, err := train.ParseNumber(c.String("eps"))
			if err != nil {
				return usagef("--eps: %v", err)
			}
			dev, err := ort.ParseDevice(c.String("device"))
			if err != nil {
				return usagef("--device: %v", err)
			}
			o := evalOptions{
				Checkpoint: c.String("checkpoint"), Dataset: c.String("dataset"), Data: c.String("data"),
				TestIR: c.Float64("test-ir"), Suite: c.String("suite"), Eps: eps, Batch: c.Int("batch"),
				Limit: c.Int("limit"), Seed: c.Uint64("seed"), Tail: c.Int("tail"), CSV: c.String("csv"),
				PlotDir: c.String("plot"), State: c.String("state"), Record: c.String("record"), Device: dev,
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
			return runEval(c.Context, o, *g, c.App.Writer, c.App.ErrWriter)
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
	if _, err := o.specs(); err != nil {
		return err
	}
	return nil
}

// specs returns the attacks to run.
func (o evalOptions) specs() ([]attacks.Spec, error) {
	return attacks.Select(o.Suite, o.Attacks, o.Eps)
}

// attackLine is one attack's outcome as a JSON line: the record's fields
// after message_type "attack" and tail_classes.
type attackLine struct {
	rec  evaluate.AttackRecord
	tail int
}

func (l attackLine) MarshalJSON() ([]byte, error) {
	b, err := json.Marshal(l.rec)
	if err != nil {
		return nil, err
	}
	return append(fmt.Appendf(nil, `{"message_type":"attack","tail_classes":%d,`, l.tail), b[1:]...), nil
}

func runEval(ctx context.Context, o evalOptions, g globalOptions, stdout, stderr io.Writer) error {
	tgt, err := evaluate.Open(o.Checkpoint, o.Batch, ort.Options{Threads: g.Threads, Device: o.Device, Kernels: g.CPUKernels})
	if errors.Is(err, evaluate.ErrTarget) {
		return dataError{err}
	} else if err != nil {
		return err
	}
	defer tgt.Close()
	specs, err := o.specs()
	if err != nil {
		return usageError{err}
	}
	if err := tgt.Check(specs); err != nil {
		return usagef("--attacks: %v", err)
	}
	if o.Dataset == "" && tgt.Dataset == "" {
		return usagef("--dataset and --data: %s does not say which data set it was trained on", o.Checkpoint)
	}
	if o.Data == "" && tgt.DataPath == "" { // checked before, so that a bad flag never waits for a download
		if o.Data, err = o.Fetch.path(cmp.Or(o.Dataset, tgt.Dataset)); err != nil {
			return err
		}
	}
	test, err := evaluate.LoadTestSet(tgt, evaluate.TestSetOptions{Dataset: o.Dataset, Path: o.Data, IR: o.TestIR, Limit: o.Limit, Seed: o.Seed})
	if err != nil {
		return dataError{fmt.Errorf("%s: %w", o.Checkpoint, err)}
	}
	batch, err := tgt.CapBatch(test.N, evaluate.MemoryBudget(o.Device))
	if err != nil {
		return usagef("--batch: %v", err)
	}
	pr := newEvalProgress(g, stdout, stderr)
	if batch < o.Batch {
		pr.p.note("--batch %d capped to %d, the test images to attack", o.Batch, batch)
	}
	statePath := o.State
	if statePath == "" {
		statePath = filepath.Join(runDir(o.Checkpoint), evalStateFile)
	}
	r := evaluate.Runner{Target: tgt, Test: test, Attacks: specs, Seed: o.Seed, Batch: batch, State: statePath, Progress: pr.update}
	res, err := r.Run(ctx)
	pr.finish()
	if errors.Is(err, evaluate.ErrLocked) {
		return dataError{fmt.Errorf("%w; wait for that evaluation to end, or give another --state", err)}
	} else if errors.Is(err, boundedfile.ErrTooLarge) {
		return dataError{fmt.Errorf("--state: %w", err)}
	} else if err != nil {
		return err
	}
	rec := evaluate.NewRecord(res, tgt, test, o.TestIR, o.Seed, o.Tail)
	rec.Checkpoint, rec.Eps = o.Checkpoint, o.Eps
	if o.Record != "" {
		if err := rec.Save(o.Record); err != nil {
			return fmt.Errorf("--record: %w", err)
		}
	}
	if err := writeEvalOutputs(o, g, stdout, rec, tgt); err != nil {
		return err
	}
	if res.StateErr != nil { // after the results, so that they are not lost
		return fmt.Errorf("the results above are complete, but the evaluation state was not saved (a rerun starts over): %w", res.StateErr)
	}
	return nil
}

// runDir returns the directory of a checkpoint path (a run directory or a file in one).
func runDir(ckpt string) string {
	if fi, err := os.Stat(ckpt); err == nil && fi.IsDir() {
		return ckpt
	}
	return filepath.Dir(ckpt)
}

func writeEvalOutputs(o evalOptions, g globalOptions, w io.Writer, rec evaluate.Record, tgt *evaluate.Target) error {
	if o.CSV != "" {
		if err := writeEvalCSV(o.CSV, rec); err != nil {
			return err
		}
	}
	if o.PlotDir != "" {
		if err := os.MkdirAll(o.PlotDir, 0o755); err != nil {
			return err
		}
		for _, r := range rec.Results[1:] {
			b, err := report.RecordRecallPNG(rec, r)
			if err != nil {
				return err
			}
			if err := atomicfile.Write(filepath.Join(o.PlotDir, r.Attack+".png"), b); err != nil {
				return err
			}
		}
	}
	lines := make([]attackLine, len(rec.Results))
	for i, r := range rec.Results {
		lines[i] = attackLine{r, rec.TailClasses}
	}
	return resultLines(newPrinter(g, w, nil), lines, func(w io.Writer) error {
		return printEvalTable(w, rec)
	})
}

// printEvalTable writes the record as a table.
func printEvalTable(w io.Writer, rec evaluate.Record) error {
	fmt.Fprintf(w, "%s on %s test (%d images, %d classes), eps %.4f\n", rec.Model, rec.Dataset, rec.Images, len(rec.Results[0].Recall), rec.Eps)
	if ex := rec.Results[0].Excluded; len(ex) > 0 {
		fmt.Fprintf(w, "classes without test samples, left out of the means: %v\n", ex)
	}
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintf(tw, "ATTACK\tBALANCED\tACCURACY\tTAIL-%d\tWORST CLASS\tMAX L∞\tSECONDS\n", rec.TailClasses)
	for _, r := range rec.Results {
		fmt.Fprintf(tw, "%s\t%.4f\t%.4f\t%.4f\t%.4f (%s)\t%.4f\t%.0f\n", r.Attack, r.Balanced, r.Accuracy, r.TailRecall,
			r.Worst, className(rec.ClassNames, r.WorstClass), r.MaxLinf, r.Seconds)
	}
	return tw.Flush()
}

func className(names []string, c int) string {
	if c >= 0 && c < len(names) {
		return names[c]
	}
	return strconv.Itoa(c)
}

func writeEvalCSV(path string, rec evaluate.Record) error {
	var b strings.Builder
	cw := csv.NewWriter(&b)
	cw.Write([]string{"attack", "class", "name", "support", "recall"})
	for _, r := range rec.Results {
		for c, recall := range r.Recall {
			v := ""
			if !math.IsNaN(recall) {
				v = strconv.FormatFloat(recall, 'f', 6, 64)
			}
			cw.Write([]string{r.Attack, strconv.Itoa(c), className(rec.ClassNames, c), strconv.Itoa(r.Support[c]), v})
		}
	}
	cw.Flush()
	if err := cw.Error(); err != nil {
		return err
	}
	return atomicfile.Write(path, []byte(b.String()))
}
