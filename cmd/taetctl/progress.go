package main

import (
	"fmt"
	"io"
	"time"

	"github.com/schollz/progressbar/v3"
	"github.com/taet-ml/taet/evaluate"
	"github.com/taet-ml/taet/train"
)

// fitObserver prints a fit's progress through a printer: a progress bar on
// a terminal, a plain line every plainEvery otherwise, "status" JSON lines
// (at most once a second) with --json, and the epoch summaries.
type fitObserver struct {
	p    printer
	bar  *progressbar.ProgressBar
	last time.Time
}

var _ train.Observer = (*fitObserver)(nil)

const plainEvery = 10 * time.Second

func newFitObserver(g globalOptions, stdout, stderr io.Writer) *fitObserver {
	return &fitObserver{p: newPrinter(g, stdout, stderr)}
}

func (o *fitObserver) Started(r train.Run) {
	c := r.Config
	if o.p.json {
		writeJSON(o.p.stdout, map[string]any{"message_type": "start", "config": c, "dir": r.Dir,
			"train_images": r.TrainImages, "class_counts": r.Counts, "eval_images": r.EvalImages,
			"params": r.Params, "resumed_epoch": r.ResumedAt, "resumed_step": r.ResumedStep})
		return
	}
	o.p.note("fit %s: %s on %s (IR %g, %d images, classes %v), %d parameters",
		c.Method, c.Model, c.Dataset, c.IR, r.TrainImages, r.Counts, r.Params)
	var stages []string
	for _, s := range c.Stages {
		stages = append(stages, fmt.Sprintf("%s:%d", s.Name, s.Epochs))
	}
	o.p.note("stages %v, batch %d, lr %g, PGD eps %.4f step %.4f ×%d (%s start); run dir %s",
		stages, c.Batch, c.Optimizer.LR, c.PGD.Eps, c.PGD.Step, c.PGD.Steps, c.PGD.Start, r.Dir)
	switch {
	case r.ResumedAt >= c.Epochs():
		o.p.note("the run already finished its %d epochs", c.Epochs())
	case r.ResumedAt >= 0:
		o.p.note("resuming at epoch %d, step %d", r.ResumedAt+1, r.ResumedStep)
	}
}

func (o *fitObserver) StepDone(e train.StepEvent) {
	now := time.Now()
	if o.p.bar() {
		if o.bar == nil || e.Step == 1 {
			o.finish()
			o.bar = newBar(o.p, e.Steps)
		}
		o.bar.Describe(fmt.Sprintf("epoch %d/%d %s loss %.4f %.1f img/s", e.Epoch+1, e.Epochs, e.Stage, e.Loss, e.ImgPerSec))
		o.bar.Set(e.Step)
		return
	}
	if !o.p.json && (o.last.IsZero() || e.Step == 1) {
		o.last = now // the first plain line of an epoch comes after plainEvery
	}
	if now.Sub(o.last) < o.every() && e.Step < e.Steps {
		return
	}
	o.last = now
	o.p.progress(map[string]any{"message_type": "status", "stage": e.Stage, "epoch": e.Epoch + 1,
		"epochs": e.Epochs, "step": e.Step, "steps_total": e.Steps, "loss": e.Loss, "img_per_s": e.ImgPerSec},
		"epoch %d/%d %s step %d/%d loss %.4f %.1f img/s", e.Epoch+1, e.Epochs, e.Stage, e.Step, e.Steps, e.Loss, e.ImgPerSec)
}

// every is the least time between two progress lines: a second for JSON
// status lines, plainEvery for text.
func (o *fitObserver) every() time.Duration {
	if o.p.json {
		return time.Second
	}
	return plainEvery
}

func (o *fitObserver) Evaluating(epoch int) {
	o.finish()
	o.p.note("epoch %d: evaluating…", epoch+1)
}

func (o *fitObserver) EpochDone(m train.EpochMetrics) {
	if o.p.json {
		writeJSON(o.p.stdout, struct {
			MessageType string `json:"message_type"`
			train.EpochMetrics
		}{"epoch_summary", m})
		return
	}
	scores := "no evaluation (--eval-size 0)"
	if m.EvalImages > 0 {
		scores = fmt.Sprintf("clean bacc %.4f, PGD brob %.4f (+%.0fs eval)", m.CleanBAcc, m.RobustBAcc, m.EvalSeconds)
	}
	o.p.note("epoch %d %s: loss %.4f, %s, %.1f img/s, %.0fs, Go overhead %.1f%%",
		m.Epoch+1, m.Stage, m.TrainLoss, scores, m.ImgPerSec, m.Seconds, 100*m.GoOverhead)
}

// finish ends any progress bar.
func (o *fitObserver) finish() {
	if o.bar != nil {
		o.bar.Finish()
		o.bar = nil
	}
}

// newBar returns a progress bar of total steps on the printer's stderr.
func newBar(p printer, total int) *progressbar.ProgressBar {
	return progressbar.NewOptions(total, progressbar.OptionSetWriter(p.stderr),
		progressbar.OptionShowCount(), progressbar.OptionSetPredictTime(true), progressbar.OptionSetWidth(25),
		progressbar.OptionThrottle(100*time.Millisecond), progressbar.OptionClearOnFinish())
}

// evalProgress prints an evaluation's progress like fitObserver: a bar on
// a terminal, a plain line every plainEvery otherwise, "status" JSON lines
// (at most once a second) with --json.
type evalProgress struct {
	p      printer
	bar    *progressbar.ProgressBar
	attack string
	last   time.Time
}

func newEvalProgress(g globalOptions, stdout, stderr io.Writer) *evalProgress {
	return &evalProgress{p: newPrinter(g, stdout, stderr)}
}

func (o *evalProgress) update(e evaluate.Progress) {
	now := time.Now()
	rate := float64(e.Done-e.Resumed) / e.Seconds
	newAttack := e.Attack != o.attack
	o.attack = e.Attack
	if o.p.bar() {
		if o.bar == nil || newAttack {
			o.finish()
			o.bar = newBar(o.p, e.Total)
		}
		o.bar.Describe(fmt.Sprintf("%s %.1f img/s", e.Attack, rate))
		o.bar.Set(e.Done)
		return
	}
	every := plainEvery
	if o.p.json {
		every = time.Second
	}
	if !o.p.json && newAttack {
		o.last = now // the first plain line of an attack comes after plainEvery
	}
	if now.Sub(o.last) < every && e.Done < e.Total && !(o.p.json && newAttack) {
		return
	}
	o.last = now
	o.p.progress(map[string]any{"message_type": "status", "attack": e.Attack, "done": e.Done,
		"total": e.Total, "resumed": e.Resumed, "img_per_s": rate},
		"%s: %d/%d images, %.1f img/s", e.Attack, e.Done, e.Total, rate)
}

// finish ends any progress bar.
func (o *evalProgress) finish() {
	if o.bar != nil {
		o.bar.Finish()
		o.bar = nil
	}
}
