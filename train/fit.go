package train

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"runtime/debug"

	"github.com/taet-ml/taet/checkpoint"
	"github.com/taet-ml/taet/internal/runlock"
	"github.com/taet-ml/taet/internal/safetensors"
)

// Version is written into checkpoints; cmd/taetctl sets it.
var Version = "dev"

// ErrNaNLoss is wrapped by the error of a step whose loss is NaN or infinite.
var ErrNaNLoss = errors.New("loss is not finite")

// ErrData is wrapped by errors about the data set, its split or a
// model/data mismatch.
var ErrData = errors.New("data error")

// StepEvent reports one finished training step.
type StepEvent struct {
	Stage     string
	Epoch     int
	Epochs    int
	Step      int // 1-based within the epoch
	Steps     int
	Loss      float64
	ImgPerSec float64 // over the epoch so far
}

// Observer receives progress; cmd/taetctl prints it. Calls come from the
// goroutine running Fit. A nil Observer is silent.
type Observer interface {
	Started(Run)
	StepDone(StepEvent)
	EpochDone(EpochMetrics)
	Evaluating(epoch int)
}

// Run describes a starting fit.
type Run struct {
	Config      Config
	Dir         string
	TrainImages int
	Counts      []int
	EvalImages  int
	Params      int64 // trainable parameters
	ResumedAt   int   // epoch, or -1 for a fresh run
	ResumedStep int
}

// Result is what a finished fit returns.
type Result struct {
	Metrics []EpochMetrics
	Dir     string
}

// Fit trains a model as cfg says (Resolve, then FitSpec), writing a
// checkpoint and a metrics line into dir after every epoch. With resume it
// continues from dir's checkpoint, whose configuration wins over cfg except
// Threads, Device and CPUKernels, and whose data split is rebuilt.
//
// A run directory is single-writer: Fit and FitSpec hold LockFile's lock
// until they return, and a second fit into dir meanwhile fails at once
// with an error wrapping ErrLocked that names the holder's PID.
func Fit(ctx context.Context, cfg Config, dir string, resume bool, obs Observer) (*Result, error) {
	if !resume {
		if err := check(cfg); err != nil { // before creating dir
			return nil, err
		}
	}
	lock, err := lockRun(dir)
	if err != nil {
		return nil, err
	}
	defer lock.Release()
	if !resume {
		if err := refuseExisting(dir); err != nil { // before loading the data
			return nil, err
		}
		spec, err := Resolve(cfg)
		if err != nil {
			return nil, err
		}
		return fitFrom(ctx, spec, dir, nil, nil, obs)
	}
	st, saved, err := checkpoint.Load(dir)
	if err != nil {
		return nil, err
	}
	st.Config.Threads, st.Config.Device, st.Config.CPUKernels = cfg.Threads, cfg.Device, cfg.CPUKernels
	spec, err := resolve(st.Config, &st.Split)
	if err != nil {
		return nil, err
	}
	return fitFrom(ctx, spec, dir, &st, saved, obs)
}

// FitSpec trains spec.Net on spec.Train through spec.Config's stages,
// writing a checkpoint and a metrics line into dir after every epoch; with
// resume it continues from dir's checkpoint, which must hold the same
// network and data shape.
//
// When ctx is cancelled it finishes the current step (or stops the
// evaluation within one attack iteration), writes a checkpoint (resumable
// mid-epoch) and returns ctx.Err(). A NaN or infinite loss stops it with an
// error wrapping ErrNaNLoss; the last checkpoint stays as it was.
func FitSpec(ctx context.Context, spec *Spec, dir string, resume bool, obs Observer) (*Result, error) {
	lock, err := lockRun(dir)
	if err != nil {
		return nil, err
	}
	defer lock.Release()
	if !resume {
		if err := refuseExisting(dir); err != nil {
			return nil, err
		}
		return fitFrom(ctx, spec, dir, nil, nil, obs)
	}
	st, saved, err := checkpoint.Load(dir)
	if err != nil {
		return nil, err
	}
	return fitFrom(ctx, spec, dir, &st, saved, obs)
}

// LockFile is the lock file inside a run directory (see package
// internal/runlock); it records the PID of the fit holding it.
const LockFile = "fit.lock"

// ErrLocked is wrapped by the error of a fit into a run directory that
// another process is fitting into.
var ErrLocked = runlock.ErrLocked

// lockRun creates dir if needed and takes its lock.
func lockRun(dir string) (*runlock.Lock, error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, err
	}
	return runlock.Acquire(filepath.Join(dir, LockFile))
}

// ErrRunExists is wrapped by the error of a fresh fit into a directory that
// holds a checkpoint: a fresh fit never overwrites a run.
var ErrRunExists = errors.New("already holds a checkpoint")

// refuseExisting returns an error wrapping ErrRunExists if dir holds a checkpoint.
func refuseExisting(dir string) error {
	if _, err := os.Stat(filepath.Join(dir, checkpoint.File)); err == nil {
		return fmt.Errorf("%s %w: resume it, or choose another directory", dir, ErrRunExists)
	}
	return nil
}

// fitFrom runs spec from a loaded checkpoint, or from the start if st is nil.
func fitFrom(ctx context.Context, spec *Spec, dir string, st *checkpoint.State, saved []safetensors.Tensor, obs Observer) (*Result, error) {
	if obs == nil {
		obs = silent{}
	}
	f, err := newFitter(spec, dir, st, saved)
	if err != nil {
		return nil, err
	}
	defer f.close()
	// What loading left behind is garbage now (the whole decoded training
	// set, 614 MB for CIFAR-10, of which the split keeps a copy, and the file
	// bytes), but the first collection comes only at twice the heap that
	// held it, and the runtime returns freed memory to the system slowly:
	// collect and return it before the sessions' memory comes on top of it.
	debug.FreeOSMemory()
	obs.Started(f.describe(st != nil))
	return f.run(ctx, obs)
}

// silent is the Observer of a nil one.
type silent struct{}

func (silent) Started(Run)            {}
func (silent) StepDone(StepEvent)     {}
func (silent) EpochDone(EpochMetrics) {}
func (silent) Evaluating(int)         {}
