package main

import (
	"context"
	"errors"
	"fmt"
	"github.com/taet-ml/taet/checkpoint"
	"io"
	"os"
	"path/filepath"
	"reflect"
	"strconv"
	"strings"
	"syscall"

	"github.com/taet-ml/taet/data"
	"github.com/taet-ml/taet/models"
	"github.com/taet-ml/taet/onnx/ort"
	"github.com/taet-ml/taet/train"
	"github.com/urfave/cli/v2"
)

func newFitCommand(g *globalOptions) *cli.Command {
	return &cli.Command{
		Name:      "fit",
		Usage:     "train a model in stages (TAET: clean CE, then HEL on PGD examples) or with a baseline",
		ArgsUsage: " ",
		Description: `Trains on a long-tailed training split and writes, after every epoch, an atomic
checkpoint (` + checkpoint.File + `) and a line of ` + checkpoint.MetricsFile + ` into --out:
stage, epoch, LR, train loss, clean balanced accuracy and PGD balanced robustness on a
held-out subset of the test split, wall time and images/s.

--method fills in the stages and the PGD settings as the method's authors ran them:
  taet    ce:40 then hel:60; PGD from x+0.001·N(0,1), 10 steps of 0.003, eps 0.031
  at      at:100; PGD from x+U(-eps,eps), 10 steps of 2/255, eps 8/255
  at-bsl  bsl:100; PGD as at, balanced softmax (tau 1)
  trades  trades:100; beta 6; PGD on the KL from x+0.001·N(0,1), 10 steps of 0.007, eps 0.031
  mart    mart:100; beta 6; PGD on CE from x+0.001·N(0,1), 10 steps of 0.007, eps 0.031
  robal   robal:80 on a cosine head (scale 1, gamma 1/32); RoBal-N: s 10, m 0.1, tau_m 0,
          tau_b 1.2, beta 6, inference adjustment tau_p 0.1; PGD from x+eps·U(0,1), 5 steps
          of 0.0078, eps 0.031; batch 64, weight decay 2e-4, the authors' compounding LR decay
  reat    reat:80; balanced softmax + tail-feature alignment (weight 1); PGD as at; LR ×0.1
          at epochs 60 and 75
--stage NAME[:EPOCHS] (repeatable) replaces the method's stages: ce = cross-entropy on
clean images, at = CE on PGD examples, bsl = balanced softmax on PGD examples,
hel = Hierarchical Equalization Loss on PGD examples, trades = CE on clean images +
beta·KL(clean || PGD), mart = boosted CE on PGD examples + beta·KL(clean || PGD)·(1 − p_y),
robal = RoBal's class-aware margin loss on PGD examples + beta·KL(clean || PGD), reat =
balanced softmax on PGD examples + REAT's tail-feature alignment. A model with a robal stage
is evaluated and exported with RoBal's adjustment s·z − tau_p·log(prior) in its graph.
The trades, mart and robal stages train on the CPU only so far. Any flag overrides the preset.

Ctrl-C (or SIGTERM) finishes the current step, checkpoints and exits with 130 (SIGHUP,
a dropped ssh session: the same, exit 129);
--resume continues exactly where the run stopped (same batches, same results).

` + exitStatusHelp,
		Flags: append([]cli.Flag{
			&cli.StringFlag{Name: "method", Value: "taet", Usage: "preset: " + strings.Join(train.Methods(), ", ")},
			&cli.StringSliceFlag{Name: "stage", Usage: "stage NAME[:EPOCHS] (repeatable; replaces the method's stages)"},
			&cli.StringFlag{Name: "dataset", Value: "fashion-mnist", Usage: "data set: " + strings.Join(data.Names(), ", ")},
			&cli.StringFlag{Name: "data", Usage: "data set path (default for fashion-mnist: " + data.FashionMNISTDebianDir + ", else the copy taetctl data get fetched)"},
			&cli.Float64Flag{Name: "ir", Value: 10, Usage: "imbalance ratio of the long-tailed training split (1 = as is)"},
			&cli.IntFlag{Name: "n-max", Usage: "images of the head class (0 = as many as the data set has)"},
			&cli.Uint64Flag{Name: "seed", Value: 0, Usage: "seed of the split, initialisation, batches, augmentation and attacks"},
			&cli.StringFlag{Name: "model", Value: "resnet18", Usage: "model: " + strings.Join(models.Names(), ", ")},
			&cli.Float64Flag{Name: "width", Value: 1, Usage: "width multiplier (ResNet base width 64·w)"},
			&cli.IntFlag{Name: "batch", Usage: "batch size (default 128)"},
			&cli.StringFlag{Name: "lr", Usage: "learning rate (default 0.1)"},
			&cli.StringFlag{Name: "momentum", Usage: "SGD momentum (default 0.9)"},
			&cli.StringFlag{Name: "weight-decay", Usage: "weight decay (default 5e-4)"},
			&cli.IntSliceFlag{Name: "milestones", Usage: "epochs at which the LR is multiplied by --lr-gamma (default 75,90)"},
			&cli.StringFlag{Name: "lr-gamma", Usage: "LR decay factor (default 0.1)"},
			&cli.StringFlag{Name: "eps", Usage: "PGD L∞ radius in [0,1] pixel units, e.g. 8/255 (default: the method's)"},
			&cli.StringFlag{Name: "pgd-step", Usage: "PGD step size, e.g. 2/255 (default: the method's)"},
			&cli.IntFlag{Name: "pgd-steps", Usage: "PGD iterations (default 10)"},
			&cli.StringFlag{Name: "pgd-start", Usage: "PGD start: none, uniform, normal or positive (x + ε·U(0,1), RoBal's) (default: the method's)"},
			&cli.StringFlag{Name: "hel-alpha", Usage: "HEL weight of the balanced class loss (default 0.1)"},
			&cli.StringFlag{Name: "hel-beta", Usage: "HEL weight of the class-loss dispersion (default 0.1)"},
			&cli.StringFlag{Name: "hel-gamma", Usage: "HEL weight of the relative class loss (default 0.1)"},
			&cli.StringFlag{Name: "hel-variant", Usage: "all-classes (the authors' code, default) or present-classes (the paper's text)"},
			&cli.StringFlag{Name: "bsl-tau", Usage: "balanced-softmax tau (default 1)"},
			&cli.StringFlag{Name: "trades-beta", Usage: "TRADES weight of the KL term (default 6)"},
			&cli.StringFlag{Name: "mart-beta", Usage: "MART weight of the weighted KL term (default 6)"},
			&cli.StringFlag{Name: "head", Usage: "classifier: linear or cosine (default: the method's; robal: cosine)"},
			&cli.StringFlag{Name: "head-scale", Usage: "cosine head scale (robal default 1)"},
			&cli.StringFlag{Name: "head-gamma", Usage: "cosine head gamma added to the weight norms (robal default 1/32)"},
			&cli.StringFlag{Name: "robal-s", Usage: "RoBal scale of the cosine logits in the loss and the adjustment (default 10)"},
			&cli.StringFlag{Name: "robal-m", Usage: "RoBal uniform margin (default 0.1)"},
			&cli.StringFlag{Name: "robal-tau-m", Usage: "RoBal class-aware margin tau_m (default 0; RoBal-R 0.3)"},
			&cli.StringFlag{Name: "robal-tau-b", Usage: "RoBal training prior bias tau_b (default 1.2; RoBal-R 1.5)"},
			&cli.StringFlag{Name: "robal-tau-p", Usage: "RoBal inference prior bias tau_p (default 0.1)"},
			&cli.StringFlag{Name: "robal-beta", Usage: "RoBal weight of the TRADES term (default 6)"},
			&cli.StringFlag{Name: "reat-tail", Usage: "REAT weight of the tail-feature alignment (default 1)"},
			&cli.BoolFlag{Name: "no-augment", Usage: "no random crop and flip"},
			&cli.IntFlag{Name: "eval-size", Value: 1000, Usage: "test images scored after each epoch (0 = none)"},
			&cli.StringFlag{Name: "device", Value: "cpu", Usage: "execution provider: cpu, cuda or cuda:N"},
			&cli.StringFlag{Name: "out", Aliases: []string{"o"}, Value: "runs/fit", Usage: "run directory for the checkpoint and metrics"},
			&cli.BoolFlag{Name: "resume", Usage: "continue the run in --out from its checkpoint (its settings win)"},
		}, fetchFlags()...),
		Action: func(c *cli.Context) error {
			cfg, err := fitConfig(c, *g)
			if err != nil {
				return usageError{err}
			}
			if err := checkRunDir(c.String("out")); err != nil {
				return err
			}
			if c.Bool("resume") {
				if err := checkResumeFlags(c, cfg, c.String("out")); err != nil {
					return err
				}
			}
			if cfg.DataPath == "" {
				if cfg.DataPath, err = newDataFetch(c, *g).path(cfg.Dataset); err != nil {
					return err
				}
			}
			if err := ort.Init(g.ORTLib); err != nil {
				return err
			}
			return runFit(c.Context, cfg, c.String("out"), c.Bool("resume"), *g, c.App.Writer, c.App.ErrWriter)
		},
	}
}

// fitFlagKeys are the fit flags and the settings they give
// (train.Configure); taetctl sweep init takes the same flags.
var fitFlagKeys = []struct{ flag, key string }{
	{"method", "method"}, {"stage", "stages"}, {"dataset", "dataset"}, {"data", "data"}, {"ir", "ir"},
	{"n-max", "n_max"}, {"seed", "seed"}, {"model", "model"}, {"width", "width"}, {"batch", "batch"},
	{"lr", "lr"}, {"momentum", "momentum"}, {"weight-decay", "weight_decay"}, {"milestones", "milestones"},
	{"lr-gamma", "lr_gamma"}, {"eps", "pgd.eps"}, {"pgd-step", "pgd.step"}, {"pgd-steps", "pgd.steps"},
	{"pgd-start", "pgd.start"}, {"hel-alpha", "hel.alpha"}, {"hel-beta", "hel.beta"}, {"hel-gamma", "hel.gamma"},
	{"hel-variant", "hel.variant"}, {"bsl-tau", "bsl_tau"}, {"trades-beta", "trades.beta"}, {"mart-beta", "mart.beta"},
	{"head", "head.kind"}, {"head-scale", "head.scale"}, {"head-gamma", "head.gamma"}, {"robal-s", "robal.s"},
	{"robal-m", "robal.m"}, {"robal-tau-m", "robal.tau_m"}, {"robal-tau-b", "robal.tau_b"}, {"robal-tau-p", "robal.tau_p"},
	{"robal-beta", "robal.beta"}, {"reat-tail", "reat.tail"},
	{"no-augment", "augment"}, {"eval-size", "eval_size"},
	{"device", "device"},
}

// fitFlagOf returns the fit flag that gives setting key.
func fitFlagOf(key string) string {
	for _, fk := range fitFlagKeys {
		if fk.key == key {
			return fk.flag
		}
	}
	return key
}

// fitConfig resolves the preset and the flags into a configuration.
func fitConfig(c *cli.Context, g globalOptions) (train.Config, error) {
	var settings []train.Setting
	for _, fk := range fitFlagKeys {
		if !c.IsSet(fk.flag) && fk.flag != "dataset" { // fit's default data set is not the presets' (CIFAR-10)
			continue
		}
		var v string
		switch fk.flag {
		case "stage":
			v = strings.Join(c.StringSlice(fk.flag), "+")
		case "milestones":
			v = strings.Trim(strings.Join(strings.Fields(fmt.Sprint(c.IntSlice(fk.flag))), "+"), "[]")
		case "no-augment":
			v = strconv.FormatBool(!c.Bool(fk.flag))
		default:
			v = fmt.Sprint(c.Value(fk.flag))
		}
		settings = append(settings, train.Setting{Key: fk.key, Value: v})
	}
	cfg, err := train.Configure(settings)
	var se *train.SettingError
	if errors.As(err, &se) {
		return cfg, fmt.Errorf("--%s: %w", fitFlagOf(se.Key), se.Err)
	}
	if err != nil {
		return cfg, err
	}
	if data.Splits(cfg.Dataset) == nil {
		return cfg, fmt.Errorf("--dataset %q: want one of %s, or %s<flag>", cfg.Dataset, strings.Join(data.Names(), ", "), data.MedMNISTPrefix)
	}
	kernels, _ := g.CPUKernels.Resolve() // what the run's sessions use, so a resume can keep it
	cfg.Threads, cfg.CPUKernels = g.Threads, kernels.String()
	return cfg, train.Check(cfg) // before a data set is fetched
}

// fitFlagSettings are the settings each fit flag sets, as checkResumeFlags
// compares them; --device and --threads are not among them (a resumed run
// may change them).
var fitFlagSettings = map[string]func(train.Config) any{
	"method": func(c train.Config) any { return c.Method }, "stage": func(c train.Config) any { return c.Stages },
	"dataset": func(c train.Config) any { return c.Dataset }, "data": func(c train.Config) any { return c.DataPath },
	"ir": func(c train.Config) any { return c.IR }, "n-max": func(c train.Config) any { return c.NMax },
	"seed": func(c train.Config) any { return c.Seed }, "model": func(c train.Config) any { return c.Model },
	"width": func(c train.Config) any { return c.Width }, "batch": func(c train.Config) any { return c.Batch },
	"lr": func(c train.Config) any { return c.Optimizer.LR }, "momentum": func(c train.Config) any { return c.Optimizer.Momentum },
	"weight-decay": func(c train.Config) any { return c.Optimizer.WeightDecay },
	"milestones":   func(c train.Config) any { return c.Optimizer.Milestones },
	"lr-gamma":     func(c train.Config) any { return c.Optimizer.Gamma }, "eps": func(c train.Config) any { return c.PGD.Eps },
	"pgd-step": func(c train.Config) any { return c.PGD.Step }, "pgd-steps": func(c train.Config) any { return c.PGD.Steps },
	"pgd-start": func(c train.Config) any { return c.PGD.Start }, "hel-alpha": func(c train.Config) any { return c.HEL.Alpha },
	"hel-beta": func(c train.Config) any { return c.HEL.Beta }, "hel-gamma": func(c train.Config) any { return c.HEL.Gamma },
	"hel-variant": func(c train.Config) any { return c.HEL.Variant }, "bsl-tau": func(c train.Config) any { return c.BSLTau },
	"trades-beta": func(c train.Config) any { return c.TRADES.Beta }, "mart-beta": func(c train.Config) any { return c.MART.Beta },
	"head": func(c train.Config) any { return c.Head.Kind }, "head-scale": func(c train.Config) any { return c.Head.Scale },
	"head-gamma": func(c train.Config) any { return c.Head.Gamma }, "robal-s": func(c train.Config) any { return c.RoBal.S },
	"robal-m": func(c train.Config) any { return c.RoBal.M }, "robal-tau-m": func(c train.Config) any { return c.RoBal.TauM },
	"robal-tau-b": func(c train.Config) any { return c.RoBal.TauB }, "robal-tau-p": func(c train.Config) any { return c.RoBal.TauP },
	"robal-beta": func(c train.Config) any { return c.RoBal.Beta }, "reat-tail": func(c train.Config) any { return c.REAT.Tail },
	"no-augment": func(c train.Config) any { return !c.Augment }, "eval-size": func(c train.Config) any { return c.EvalSize },
}

// checkResumeFlags returns a usage error naming both values if a flag
// given with --resume contradicts the checkpoint in out, whose settings a
// resumed run keeps.
func checkResumeFlags(c *cli.Context, cfg train.Config, out string) error {
	st, _, err := checkpoint.Load(out)
	if err != nil {
		return dataError{fmt.Errorf("--resume: %w", err)}
	}
	for _, f := range c.Command.Flags {
		name := f.Names()[0]
		setting, ok := fitFlagSettings[name]
		if !ok || !c.IsSet(name) {
			continue
		}
		if given, saved := setting(cfg), setting(st.Config); !reflect.DeepEqual(given, saved) {
			return usagef("--%s %v contradicts the checkpoint in %s, which has %v: a resumed run keeps its settings (drop --%s, or fit into another --out)",
				name, given, out, saved, name)
		}
	}
	return nil
}

// checkRunDir refuses an --out that is, or lies under, something other
// than a directory.
func checkRunDir(out string) error {
	fi, err := os.Stat(out)
	switch {
	case err == nil && !fi.IsDir():
		return usagef("--out %s is a file: want a run directory (an existing one, or one to create)", out)
	case errors.Is(err, syscall.ENOTDIR):
		return usagef("--out %s: a part of the path is a file: want a run directory", out)
	}
	return nil
}

// runFit trains and prints the final metrics; it has no urfave types so tests call it.
func runFit(ctx context.Context, cfg train.Config, out string, resume bool, g globalOptions, stdout, stderr io.Writer) error {
	obs := newFitObserver(g, stdout, stderr)
	res, err := train.Fit(ctx, cfg, out, resume, obs)
	obs.finish()
	var interrupted *train.InterruptedError
	switch {
	case errors.As(err, &interrupted):
		return fmt.Errorf("%w; resume with: taetctl fit --resume --out %s", err, out)
	case errors.Is(err, train.ErrConfig):
		return usageError{err}
	case errors.Is(err, train.ErrRunExists):
		return usagef("--out %s %v: continue it with --resume, or choose another --out", out, train.ErrRunExists)
	case errors.Is(err, train.ErrLocked):
		return dataError{fmt.Errorf("--out %s: %w; wait for that fit to end, or choose another --out", out, err)}
	case errors.Is(err, train.ErrData), errors.Is(err, checkpoint.ErrCheckpoint):
		return dataError{err}
	case err != nil:
		return err
	}
	return printFitSummary(g, stdout, res)
}

// printFitSummary writes the last epoch's metrics to stdout.
func printFitSummary(g globalOptions, w io.Writer, res *train.Result) error {
	if len(res.Metrics) == 0 {
		return nil
	}
	m := res.Metrics[len(res.Metrics)-1]
	ckpt := filepath.Join(res.Dir, checkpoint.File)
	p := newPrinter(g, w, nil)
	if m.EvalImages == 0 {
		return p.result(map[string]any{"message_type": "summary", "checkpoint": ckpt, "epochs": len(res.Metrics)}, func(w io.Writer) error {
			_, err := fmt.Fprintf(w, "checkpoint                %s (not evaluated: --eval-size 0)\n", ckpt)
			return err
		})
	}
	summary := map[string]any{"message_type": "summary", "checkpoint": ckpt, "epochs": len(res.Metrics),
		"clean_bacc": m.CleanBAcc, "robust_bacc": m.RobustBAcc, "clean_acc": m.CleanAcc, "robust_acc": m.RobustAcc}
	return p.result(summary, func(w io.Writer) error {
		fmt.Fprintf(w, "clean balanced accuracy   %.4f\n", m.CleanBAcc)
		fmt.Fprintf(w, "PGD balanced robustness   %.4f\n", m.RobustBAcc)
		fmt.Fprintf(w, "clean / PGD accuracy      %.4f / %.4f\n", m.CleanAcc, m.RobustAcc)
		_, err := fmt.Fprintf(w, "checkpoint                %s\n", ckpt)
		return err
	})
}

// stderrIsTerminal reports whether progress bars make sense.
func stderrIsTerminal() bool {
	fi, err := os.Stderr.Stat()
	return err == nil && fi.Mode()&os.ModeCharDevice != 0
}
