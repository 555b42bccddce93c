package main

import (
	"encoding/json"
	"fmt"
	"io"
	"time"

	"github.com/schollz/progressbar/v3"
	"github.com/taet-ml/taet/evaluate"
	"github.com/taet-ml/taet/train"
)

// writeJSON writes v as one JSON line.
func writeJSON(w io.Writer, v any) error { return json.NewEncoder(w).Encode(v) }

// jsonIndent returns v as indented JSON with a final newline, for files people read.
func jsonIndent(v any) ([]byte, error) {
	b, err := json.MarshalIndent(v, "", "  ")
	return append(b, '\n'), err
}

// fitObserver prints a fit's progress: a progress bar on a terminal, a plain
// line every plainEvery otherwise, JSON Lines with --json (status lines at
// most once a second on stdout, with the epoch summaries). Progress goes to
// stderr, results to stdout.
type fitObserver struct {
	g              globalOptions
	stdout, stderr io.Writer
	tty            bool
	bar            *progressbar.ProgressBar
	last           time.Time
}

var _ train.Observer = (*fitObserver)(nil)

const plainEvery = 10 * time.Second

func newFitObserver(g globalOptions, stdout, stderr io.Writer) *fitObserver {
	return &fitObserver{g: g, stdout: stdout, stderr: stderr, tty: stderrIsTerminal() && !g.Quiet && !g.JSON}
}

func (o *fitObserver) Started(r train.Run) {
	if o.g.JSON {
		writeJSON(o.stdout, map[string]any{"message_type": "start", "config": r.Config, "dir": r.Dir,
			"train_images": r.TrainImages, "class_counts": r.Counts, "eval_images": r.EvalImages,
			"params": r.Params, "resumed_epoch": r.ResumedAt, "resumed_step": r.ResumedStep})
		return
	}
	if o.g.Quiet {
		return
	}
	c := r.Config
	fmt.Fprintf(o.stderr, "fit %s: %s on %s (IR %g, %d images, classes %v), %d parameters\n",
		c.Method, c.Model, c.Dataset, c.IR, r.TrainImages, r.Counts, r.Params)
	var stages []string
	for _, s := range c.Stages {
		stages = append(stages, fmt.Sprintf("%s:%d", s.Name, s.Epochs))
	}
	fmt.Fprintf(o.stderr, "stages %v, batch %d, lr %g, PGD eps %.4f step %.4f ×%d (%s start); run dir %s\n",
		stages, c.Batch, c.Optimizer.LR, c.PGD.Eps, c.PGD.Step, c.PGD.Steps, c.PGD.Start, r.Dir)
	switch {
	case r.ResumedAt >= c.Epochs():
		fmt.Fprintf(o.stderr, "the run already finished its %d epochs\n", c.Epochs())
	case r.ResumedAt >= 0:
		fmt.Fprintf(o.stderr, "resuming at epoch %d, step %d\n", r.ResumedAt+1, r.ResumedStep)
	}
}

func (o *fitObserver) StepDone(e train.StepEvent) {
	now := time.Now()
	switch {
	case o.g.JSON:
		if now.Sub(o.last) < time.Second && e.Step < e.Steps {
			return
		}
		writeJSON(o.stdout, map[string]any{"message_type": "status", "stage": e.Stage, "epoch": e.Epoch + 1,
			"epochs": e.Epochs, "step": e.Step, "steps_total": e.Steps, "loss": e.Loss, "img_per_s": e.ImgPerSec})
	case o.g.Quiet:
		return
	case o.tty:
		if o.bar == nil || e.Step == 1 {
			o.finishBar()
			o.bar = progressbar.NewOptions(e.Steps, progressbar.OptionSetWriter(o.stderr),
				progressbar.OptionShowCount(), progressbar.OptionSetPredictTime(true), progressbar.OptionSetWidth(25),
				progressbar.OptionThrottle(100*time.Millisecond), progressbar.OptionClearOnFinish())
		}
		o.bar.Describe(fmt.Sprintf("epoch %d/%d %s loss %.4f %.1f img/s", e.Epoch+1, e.Epochs, e.Stage, e.Loss, e.ImgPerSec))
		o.bar.Set(e.Step)
		return
	default:
		if o.last.IsZero() || e.Step == 1 {
			o.last = now // first line after plainEvery
		}
		if now.Sub(o.last) < plainEvery {
			return
		}
		fmt.Fprintf(o.stderr, "epoch %d/%d %s step %d/%d loss %.4f %.1f img/s\n",
			e.Epoch+1, e.Epochs, e.Stage, e.Step, e.Steps, e.Loss, e.ImgPerSec)
	}
	o.last = now
}

func (o *fitObserver) Evaluating(epoch int) {
	o.finishBar()
	if !o.g.JSON && !o.g.Quiet {
		fmt.Fprintf(o.stderr, "epoch %d: evaluating…\n", epoch+1)
	}
}

func (o *fitObserver) EpochDone(m train.EpochMetrics) {
	if o.g.JSON {
		writeJSON(o.stdout, struct {
			MessageType string `json:"message_type"`
			train.EpochMetrics
		}{"epoch_summary", m})
		return
	}
	if o.g.Quiet {
		return
	}
	scores := "no evaluation (--eval-size 0)"
	if m.EvalImages > 0 {
		scores = fmt.Sprintf("clean bacc %.4f, PGD brob %.4f (+%.0fs eval)", m.CleanBAcc, m.RobustBAcc, m.EvalSeconds)
	}
	fmt.Fprintf(o.stderr, "epoch %d %s: loss %.4f, %s, %.1f img/s, %.0fs, Go overhead %.1f%%\n",
		m.Epoch+1, m.Stage, m.TrainLoss, scores, m.ImgPerSec, m.Seconds, 100*m.GoOverhead)
}

func (o *fitObserver) finishBar() {
	if o.bar != nil {
		o.bar.Finish()
		o.bar = nil
	}
}

// finish ends any progress bar.
func (o *fitObserver) finish() { o.finishBar() }

// evalProgress prints an evaluation's progress like fitObserver: a bar on
// a terminal, a plain line every plainEvery otherwise, JSON status lines
// (at most once a second) on stdout with --json.
type evalProgress struct {
	g              globalOptions
	stdout, stderr io.Writer
	tty            bool
	bar            *progressbar.ProgressBar
	attack         string
	last           time.Time
}

func newEvalProgress(g globalOptions, stdout, stderr io.Writer) *evalProgress {
	return &evalProgress{g: g, stdout: stdout, stderr: stderr, tty: stderrIsTerminal() && !g.Quiet && !g.JSON}
}

func (o *evalProgress) update(p evaluate.Progress) {
	now := time.Now()
	rate := float64(p.Done-p.Resumed) / p.Seconds
	newAttack := p.Attack != o.attack
	o.attack = p.Attack
	switch {
	case o.g.JSON:
		if now.Sub(o.last) < time.Second && p.Done < p.Total && !newAttack {
			return
		}
		writeJSON(o.stdout, map[string]any{"message_type": "status", "attack": p.Attack, "done": p.Done,
			"total": p.Total, "resumed": p.Resumed, "img_per_s": rate})
	case o.g.Quiet:
		return
	case o.tty:
		if o.bar == nil || newAttack {
			o.finish()
			o.bar = progressbar.NewOptions(p.Total, progressbar.OptionSetWriter(o.stderr),
				progressbar.OptionShowCount(), progressbar.OptionSetPredictTime(true), progressbar.OptionSetWidth(25),
				progressbar.OptionThrottle(100*time.Millisecond), progressbar.OptionClearOnFinish())
		}
		o.bar.Describe(fmt.Sprintf("%s %.1f img/s", p.Attack, rate))
		o.bar.Set(p.Done)
		return
	default:
		if o.last.IsZero() || newAttack {
			o.last = now // first line after plainEvery
		}
		if now.Sub(o.last) < plainEvery {
			return
		}
		fmt.Fprintf(o.stderr, "%s: %d/%d images, %.1f img/s\n", p.Attack, p.Done, p.Total, rate)
	}
	o.last = now
}

// finish ends any progress bar.
func (o *evalProgress) finish() {
	if o.bar != nil {
		o.bar.Finish()
		o.bar = nil
	}
}
