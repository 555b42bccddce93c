package sweep

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/taet-ml/taet/attacks"
	"github.com/taet-ml/taet/checkpoint"
	"github.com/taet-ml/taet/evaluate"
	"github.com/taet-ml/taet/internal/atomicfile"
	"github.com/taet-ml/taet/onnx/ort"
	"github.com/taet-ml/taet/train"
)

// Files a sweep adds to a run directory, beside the fit's checkpoint and
// metrics and evaluate.RecordDir.
const (
	// LogFile collects the progress lines of every attempt at the run.
	LogFile = "run.log"
	// FailedFile holds the error of the last attempt, if it failed (not
	// if it was interrupted); the next attempt removes it.
	FailedFile = "failed.txt"
)

// Stage is where a run stands, as its files tell.
type Stage string

const (
	Pending    Stage = "pending"    // no checkpoint yet
	Fitting    Stage = "fitting"    // a checkpoint before the last epoch
	Evaluating Stage = "evaluating" // fitted; an evaluation record missing
	Finished   Stage = "finished"   // fitted, every record written
	Failed     Stage = "failed"     // the last attempt failed (FailedFile)
	// Broken: a file of the run is there but unusable (a corrupt
	// checkpoint, an invalid record, another run's record); Err says which.
	// Running it again fails the same way until the file is removed.
	Broken Stage = "broken"
)

// State is a run's progress.
type State struct {
	Stage         Stage
	Epoch, Epochs int // epochs done of the fit's
	Evals, Of     int // evaluation records written of the run's
	Err           string
}

// Units counts the state's work done and in all: an epoch or an
// evaluation is one unit.
func (s State) Units() (done, total int) { return s.Epoch + s.Evals, s.Epochs + s.Of }

func (s State) String() string {
	switch s.Stage {
	case Fitting:
		return fmt.Sprintf("fitting, %d/%d epochs done", s.Epoch, s.Epochs)
	case Evaluating:
		return fmt.Sprintf("evaluating, %d/%d done", s.Evals, s.Of)
	case Failed:
		return fmt.Sprintf("failed at epoch %d/%d, eval %d/%d: %s", s.Epoch, s.Epochs, s.Evals, s.Of, s.Err)
	case Broken:
		return "broken: " + s.Err
	}
	return string(s.Stage)
}

// RecordPath returns where the record of run r's evaluation e goes.
func RecordPath(sweepDir string, r Run, e Eval) string {
	return filepath.Join(sweepDir, r.Dir, evaluate.RecordDir, e.Label+".json")
}

// StateOf reads run r's state from its files in the sweep in sweepDir. A
// checkpoint or record that is there but unusable makes the run Broken,
// whatever FailedFile says.
func StateOf(sweepDir string, r Run) State {
	dir := filepath.Join(sweepDir, r.Dir)
	s := State{Stage: Pending, Epochs: r.Fit.Epochs(), Of: len(r.Evals)}
	broken := func(err error) State { s.Stage, s.Err = Broken, err.Error(); return s }
	st, err := loadCheckpoint(dir)
	switch {
	case errors.Is(err, fs.ErrNotExist):
	case err != nil:
		return broken(err)
	default:
		s.Epoch, s.Stage = min(st.Epoch, s.Epochs), Fitting
	}
	if s.Epoch == s.Epochs {
		for _, e := range r.Evals {
			done, err := recordDone(sweepDir, r, e, st)
			if err != nil {
				return broken(err)
			}
			if done {
				s.Evals++
			}
		}
		s.Stage = Evaluating
		if s.Evals == s.Of {
			s.Stage = Finished
		}
	}
	if b, err := os.ReadFile(filepath.Join(dir, FailedFile)); err == nil && s.Stage != Finished {
		s.Stage, s.Err = Failed, strings.TrimSpace(string(b))
	}
	return s
}

// loadCheckpoint returns the state of the checkpoint in run directory
// dir; an error wrapping fs.ErrNotExist when there is none yet.
func loadCheckpoint(dir string) (checkpoint.State, error) {
	path := filepath.Join(dir, checkpoint.File)
	if _, err := os.Lstat(path); err != nil {
		return checkpoint.State{}, err
	}
	st, _, err := checkpoint.Load(path)
	return st, err
}

// recordDone says whether run r, fitted into checkpoint state st, has
// the record of its evaluation e: false if there is none yet, an error if
// the file there is no valid record (evaluate.ErrRecord) or the record of
// another checkpoint (evaluate.ErrForeign: copied or linked from another
// run).
func recordDone(sweepDir string, r Run, e Eval, st checkpoint.State) (bool, error) {
	path := RecordPath(sweepDir, r, e)
	rec, err := evaluate.LoadRecord(path)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return false, nil
	case err != nil:
		return false, err
	}
	if err := rec.Of(st.SHA256); err != nil {
		return false, fmt.Errorf("%s: %w", path, err)
	}
	return true, nil
}

// Options configure RunLocal and RunTask.
type Options struct {
	// Jobs is the number of runs at a time (RunLocal); 0 is one.
	Jobs int
	// Threads are the intra-op threads of all runs together, split evenly
	// between Jobs; 0 is one per available CPU.
	Threads int
	// Kernels are the CPU kernels of every run's sessions, training and
	// evaluation (ort.Options.Kernels; the zero value is the default).
	Kernels ort.CPUKernels
	// Progress, if not nil, receives every run's progress: its state after
	// each epoch and evaluation, and each line written to its log. Calls
	// are serialised.
	Progress func(Event)
}

// Event is a run's progress: its state and, if not "", a log line.
type Event struct {
	Run   Run
	State State
	Line  string
}

// Summary is what RunLocal did.
type Summary struct {
	Runs     int // the sweep's
	Finished int // finished when RunLocal returned, here or by another process
	// Elsewhere names the unfinished runs another process is running
	// (holding the run's fit or evaluation lock): another `sweep run` or a
	// Slurm task. They are not failures.
	Elsewhere []string
}

// RunLocal runs the unfinished runs of the sweep in dir, Jobs at a time,
// each as RunTask does. A run that another process is running is left to
// it (Summary.Elsewhere), and one that another process finished is
// skipped. A failed run does not stop the others; RunLocal then returns an
// error naming the failed runs. When ctx is cancelled it starts no more
// runs, lets the running ones checkpoint, and returns ctx.Err().
func RunLocal(ctx context.Context, dir string, o Options) (Summary, error) {
	m, err := Load(dir)
	if err != nil {
		return Summary{}, err
	}
	jobs := max(1, o.Jobs)
	threads := o.Threads
	if threads == 0 {
		threads = ort.AvailableCPUs()
	}
	threads = max(1, threads/jobs)
	var mu sync.Mutex
	report := func(e Event) {
		if o.Progress != nil {
			mu.Lock()
			defer mu.Unlock()
			o.Progress(e)
		}
	}
	todo := make(chan Run, len(m.Runs))
	for _, r := range m.Runs {
		s := StateOf(dir, r)
		report(Event{Run: r, State: s})
		if s.Stage != Finished {
			todo <- r
		}
	}
	close(todo)
	var (
		wg                sync.WaitGroup
		failed, elsewhere []string
	)
	for range jobs {
		wg.Go(func() {
			for r := range todo {
				if ctx.Err() != nil {
					return
				}
				err := runOne(ctx, dir, r, ort.Options{Threads: threads, Kernels: o.Kernels}, report)
				mu.Lock()
				switch {
				case err == nil || ctx.Err() != nil:
				case isLocked(err):
					elsewhere = append(elsewhere, r.Name)
				default:
					failed = append(failed, r.Name)
				}
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	if ctx.Err() != nil {
		return Summary{}, ctx.Err()
	}
	sum := Summary{Runs: len(m.Runs)}
	for _, r := range m.Runs {
		if StateOf(dir, r).Stage == Finished {
			sum.Finished++
		} else if slices.Contains(elsewhere, r.Name) {
			sum.Elsewhere = append(sum.Elsewhere, r.Name) // in the sweep's order
		}
	}
	if len(failed) > 0 {
		return sum, fmt.Errorf("%d of %d runs failed (see %s and %s in their directories): %s",
			len(failed), len(m.Runs), FailedFile, LogFile, strings.Join(failed, ", "))
	}
	return sum, nil
}

// isLocked says whether err is runOne's about a run another process holds.
func isLocked(err error) bool {
	return errors.Is(err, train.ErrLocked) || errors.Is(err, evaluate.ErrLocked)
}

// ErrIndex is wrapped by RunTask's error about a run index out of range.
var ErrIndex = errors.New("no run index")

// RunTask runs run index of the sweep in dir, with o.Threads threads
// (0: one per CPU) and o.Kernels: its fit, resumed from its checkpoint if it has one,
// then each evaluation without a record, resumed from its state. A
// finished run is left as it is. When ctx is cancelled the fit checkpoints
// (or the evaluation saves its state) and RunTask returns an error
// wrapping ctx.Err(), so that the next attempt continues.
func RunTask(ctx context.Context, dir string, index int, o Options) error {
	m, err := Load(dir)
	if err != nil {
		return err
	}
	if index < 0 || index >= len(m.Runs) {
		return fmt.Errorf("%w %d: the sweep in %s has runs 0…%d", ErrIndex, index, dir, len(m.Runs)-1)
	}
	var mu sync.Mutex
	return runOne(ctx, dir, m.Runs[index], ort.Options{Threads: o.Threads, Kernels: o.Kernels}, func(e Event) {
		if o.Progress != nil {
			mu.Lock()
			defer mu.Unlock()
			o.Progress(e)
		}
	})
}

// runOne fits and evaluates run r with rt's threads and CPU kernels, logging into its LogFile; on failure
// (not on interruption, nor when another process holds the run's lock) it
// writes the error into FailedFile.
func runOne(ctx context.Context, sweepDir string, r Run, rt ort.Options, report func(Event)) (err error) {
	if StateOf(sweepDir, r).Stage == Finished {
		return nil
	}
	dir := filepath.Join(sweepDir, r.Dir)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	if err := os.Remove(filepath.Join(dir, FailedFile)); err != nil && !errors.Is(err, os.ErrNotExist) {
		return err
	}
	f, err := os.OpenFile(filepath.Join(dir, LogFile), os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o644)
	if err != nil {
		return err
	}
	defer f.Close()
	lg := &runLog{w: f, run: r, sweepDir: sweepDir, report: report}
	lg.state()
	defer func() {
		switch {
		case err != nil && ctx.Err() != nil:
			lg.printf("interrupted: %v", err)
		case isLocked(err):
			lg.printf("left to the process running it: %v", err) // not a failure of the run
		case err != nil:
			lg.printf("failed: %v", err)
			if werr := atomicfile.Write(filepath.Join(dir, FailedFile), []byte(err.Error()+"\n")); werr != nil {
				err = errors.Join(err, werr)
			}
		default:
			lg.printf("finished")
		}
		lg.state()
	}()
	if err := fit(ctx, dir, r, rt, lg); err != nil {
		return err
	}
	st, err := loadCheckpoint(dir)
	if err != nil {
		return err
	}
	for _, e := range r.Evals {
		if done, err := recordDone(sweepDir, r, e, st); err != nil {
			return fmt.Errorf("evaluation %s: %w", e.Label, err)
		} else if done {
			continue
		}
		if err := evaluateRun(ctx, sweepDir, r, e, rt, lg); err != nil {
			return fmt.Errorf("evaluation %s: %w", e.Label, err)
		}
		lg.state()
	}
	return nil
}

// fit trains run r in dir, resuming from its checkpoint if it has one.
func fit(ctx context.Context, dir string, r Run, rt ort.Options, lg *runLog) error {
	cfg := r.Fit
	kernels, _ := rt.Kernels.Resolve()
	cfg.Threads, cfg.CPUKernels = rt.Threads, kernels.String()
	resume := false
	if st, err := loadCheckpoint(dir); err == nil {
		if st.Epoch >= cfg.Epochs() {
			return nil
		}
		resume = true
	} else if !errors.Is(err, fs.ErrNotExist) {
		return err
	}
	_, err := train.Fit(ctx, cfg, dir, resume, lg)
	return err
}

// evaluateRun attacks run r's final checkpoint as e says and saves the
// record; the evaluation's state (<label>.eval-state.json in the run
// directory, outside RecordDir, which holds records only) lets an
// interrupted one continue.
func evaluateRun(ctx context.Context, sweepDir string, r Run, e Eval, rt ort.Options, lg *runLog) error {
	dev, err := ort.ParseDevice(r.Fit.Device)
	if err != nil {
		return err
	}
	ckpt := filepath.Join(sweepDir, r.Dir, checkpoint.File)
	rt.Device = dev
	tgt, err := evaluate.OpenCheckpoint(ckpt, e.Batch, rt)
	if err != nil {
		return err
	}
	defer tgt.Close()
	specs, err := e.Specs()
	if err != nil {
		return err
	}
	if err := tgt.Check(specs); err != nil {
		return err
	}
	test, err := evaluate.LoadTestSet(tgt, evaluate.TestSetOptions{IR: e.TestIR, Limit: e.Limit, Seed: e.Seed})
	if err != nil {
		return err
	}
	batch, err := tgt.CapBatch(test.N, evaluate.MemoryBudget(dev))
	if err != nil {
		return fmt.Errorf("eval.batch: %w", err)
	}
	lg.printf("eval %s: %d test images (IR %g), attacks %s, eps %.4f", e.Label, test.N, e.TestIR, specNames(specs), e.Eps)
	rec := RecordPath(sweepDir, r, e)
	run := evaluate.Runner{Target: tgt, Test: test, Attacks: specs, Seed: e.Seed, Batch: batch,
		State: filepath.Join(sweepDir, r.Dir, e.Label+".eval-state.json"), Progress: lg.evalProgress}
	res, err := run.Run(ctx)
	if err != nil {
		return err
	}
	out := evaluate.NewRecord(res, tgt, test, e.TestIR, e.Seed, e.Tail)
	out.Checkpoint, out.Eps = ckpt, e.Eps
	for _, a := range out.Results {
		lg.printf("eval %s: %s balanced %.4f, tail %.4f", e.Label, a.Attack, a.Balanced, a.TailRecall)
	}
	return out.Save(rec)
}

func specNames(specs []attacks.Spec) string {
	names := make([]string, len(specs))
	for i, s := range specs {
		names[i] = s.Name
	}
	return strings.Join(names, ", ")
}

// runLog writes a run's progress lines, time-stamped, into its log and
// reports them; it is the fit's train.Observer.
type runLog struct {
	w        io.Writer
	run      Run
	sweepDir string
	report   func(Event)
	last     time.Time
	cur      State // as of the last state()
}

var _ train.Observer = (*runLog)(nil)

// logEvery is the least time between two step lines.
const logEvery = 10 * time.Second

func (l *runLog) printf(format string, args ...any) {
	line := fmt.Sprintf(format, args...)
	fmt.Fprintf(l.w, "%s %s\n", time.Now().UTC().Format(time.RFC3339), line)
	l.report(Event{Run: l.run, State: l.cur, Line: line})
}

// state reads the run's state from its files and reports it.
func (l *runLog) state() {
	l.cur = StateOf(l.sweepDir, l.run)
	l.report(Event{Run: l.run, State: l.cur})
}

func (l *runLog) Started(r train.Run) {
	c := r.Config
	l.printf("fit %s: %s ×%g on %s (IR %g, %d images), stages %v, %d threads", c.Method, c.Model, c.Width, c.Dataset, c.IR, r.TrainImages, c.Stages, c.Threads)
	if r.ResumedAt >= 0 {
		l.printf("resuming at epoch %d, step %d", r.ResumedAt+1, r.ResumedStep)
	}
}

func (l *runLog) StepDone(e train.StepEvent) {
	if now := time.Now(); now.Sub(l.last) >= logEvery || e.Step == e.Steps {
		l.last = now
		l.printf("epoch %d/%d %s step %d/%d loss %.4f %.1f img/s", e.Epoch+1, e.Epochs, e.Stage, e.Step, e.Steps, e.Loss, e.ImgPerSec)
	}
}

func (l *runLog) Evaluating(epoch int) { l.printf("epoch %d: evaluating", epoch+1) }

func (l *runLog) EpochDone(m train.EpochMetrics) {
	l.printf("epoch %d %s: loss %.4f, clean bacc %.4f, PGD brob %.4f (%d images), %.0fs",
		m.Epoch+1, m.Stage, m.TrainLoss, m.CleanBAcc, m.RobustBAcc, m.EvalImages, m.Seconds)
	l.state()
}

func (l *runLog) evalProgress(p evaluate.Progress) {
	if now := time.Now(); now.Sub(l.last) >= logEvery || p.Done == p.Total {
		l.last = now
		l.printf("eval %s: %d/%d images", p.Attack, p.Done, p.Total)
	}
}
