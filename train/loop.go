package train

import (
	"context"
	"fmt"
	"math"
	"time"

	"github.com/taet-ml/taet/attacks"
	"github.com/taet-ml/taet/data"
	"github.com/taet-ml/taet/internal/ortsession"
	"github.com/taet-ml/taet/ortoracle"
)

// closeFinishedStages closes the training sessions of the stages that no
// epoch from epoch on trains: a session keeps the memory of its largest run
// (the CE session about 0.8 GB on the CIFAR ResNet-18), which the next
// stage's session would otherwise add to.
func (f *fitter) closeFinishedStages(epoch int) {
	ahead := map[string]bool{}
	for e := epoch; e < f.cfg.Epochs(); e++ {
		ahead[f.cfg.StageAt(e).Name] = true
	}
	for name, s := range f.steps {
		if !ahead[name] {
			s.Close()
			delete(f.steps, name)
		}
	}
}

// run trains from the state's epoch and step to the end.
func (f *fitter) run(ctx context.Context, obs Observer) (*Result, error) {
	cfg := f.cfg
	aug := data.Augment{}
	if cfg.Augment {
		aug = data.CIFARAugment
	}
	for epoch := f.st.Epoch; epoch < cfg.Epochs(); epoch++ {
		stage := cfg.StageAt(epoch)
		f.closeFinishedStages(epoch)
		sess := f.steps[stage.Name]
		lr := float32(cfg.Optimizer.LRAt(epoch))
		batches := data.TrainBatches(f.train, cfg.Batch, aug, cfg.Seed, epoch)
		steps := batches.Len()
		first, lossSum, lossSteps := 0, 0.0, 0
		if epoch == f.st.Epoch { // resuming mid-epoch
			first, lossSum, lossSteps = f.st.Step, f.st.LossSum, f.st.LossSteps
		}
		start := time.Now()
		f.resetRuntime(sess)
		done := 0
		for step := range steps {
			if batches.Next(f.x.Data(), f.y.Data()) == 0 {
				break
			}
			if step < first {
				continue // resuming mid-epoch: the same batches, skipped
			}
			if stage.Adversarial() {
				if err := f.adversarial(stage, epoch, step); err != nil {
					return nil, err
				}
			}
			loss, err := f.trainStep(sess, stage.Name, lr)
			if err != nil {
				return nil, fmt.Errorf("%s: %w", stepName(epoch, step), err)
			}
			if math.IsNaN(loss) || math.IsInf(loss, 0) {
				kept := "the last checkpoint in " + f.dir + " is untouched"
				if f.st.Epoch == 0 && f.st.Step == 0 {
					kept = "no checkpoint was written"
				}
				return nil, fmt.Errorf("%s (stage %s): %w (%v); %s", stepName(epoch, step), stage.Name, ErrNaNLoss, loss, kept)
			}
			lossSum += loss
			lossSteps++
			done++
			obs.StepDone(StepEvent{Stage: stage.Name, Epoch: epoch, Epochs: cfg.Epochs(), Step: step + 1, Steps: steps,
				Loss: loss, ImgPerSec: float64(done*cfg.Batch) / time.Since(start).Seconds()})
			if ctx.Err() != nil && step+1 < steps {
				f.st.Epoch, f.st.Step, f.st.LossSum, f.st.LossSteps = epoch, step+1, lossSum, lossSteps
				if err := f.save(); err != nil {
					return nil, err
				}
				return nil, f.interrupted(ctx)
			}
		}
		elapsed := time.Since(start)
		m := EpochMetrics{Stage: stage.Name, Epoch: epoch, LR: float64(lr), Seconds: elapsed.Seconds(),
			ImgPerSec: float64(done*cfg.Batch) / elapsed.Seconds()}
		if lossSteps > 0 {
			m.TrainLoss = lossSum / float64(lossSteps)
		}
		if done > 0 {
			m.GoOverhead = 1 - f.runtime(sess).Seconds()/elapsed.Seconds()
		}
		obs.Evaluating(epoch)
		if err := f.evaluate(ctx, &m); err != nil {
			if ctx.Err() == nil {
				return nil, err
			}
			// Interrupted while evaluating: every step is done, so a
			// resumed run skips them and evaluates again.
			f.st.Epoch, f.st.Step, f.st.LossSum, f.st.LossSteps = epoch, steps, lossSum, lossSteps
			if err := f.save(); err != nil {
				return nil, err
			}
			return nil, f.interrupted(ctx)
		}
		f.st.Metrics = append(f.st.Metrics, m)
		f.st.Epoch, f.st.Step, f.st.LossSum, f.st.LossSteps = epoch+1, 0, 0, 0
		if err := f.save(); err != nil {
			return nil, err
		}
		obs.EpochDone(m)
		if ctx.Err() != nil && epoch+1 < cfg.Epochs() {
			return nil, f.interrupted(ctx)
		}
	}
	return &Result{Metrics: f.st.Metrics, Dir: f.dir}, nil
}

// stepName names a step as the progress output does: epoch and step
// counted from 1.
func stepName(epoch, step int) string { return fmt.Sprintf("epoch %d step %d", epoch+1, step+1) }

// InterruptedError is Fit's error when its context was cancelled: the
// checkpoint in Dir holds every finished step, and a resumed fit continues
// from it. It unwraps to the context's error.
type InterruptedError struct {
	Dir   string
	Epoch int // the epoch the checkpoint stopped in, counted from 1
	Step  int // steps of Epoch done; 0: Epoch has not started
	Err   error
}

func (e *InterruptedError) Error() string {
	if e.Step == 0 {
		return fmt.Sprintf("interrupted; checkpoint saved in %s after epoch %d", e.Dir, e.Epoch-1)
	}
	return fmt.Sprintf("interrupted; checkpoint saved in %s at epoch %d step %d", e.Dir, e.Epoch, e.Step)
}

func (e *InterruptedError) Unwrap() error { return e.Err }

// interrupted returns the InterruptedError of the saved state.
func (f *fitter) interrupted(ctx context.Context) error {
	return &InterruptedError{Dir: f.dir, Epoch: f.st.Epoch + 1, Step: f.st.Step, Err: ctx.Err()}
}

// adversarial replaces the training batch in f.x with its PGD examples
// (the last iterate), or for a paired stage writes them into f.xAdv,
// attacking the current parameters with BatchNorm in inference mode on the
// stage's attack loss (Stage.AttackLoss). Each example's random start
// depends only on the seed, the epoch and its position, so a resumed run
// draws the same.
//
// The attack runs on a session built for this step with the parameters
// stored in the graph: creating it costs about a quarter of one attack
// iteration, and the runtime's pre-packed convolutions, with BatchNorm and
// ReLU fused into them, make each iteration about 20% faster than with the
// parameters as inputs even on the blocked kernels (CIFAR ResNet-18 at
// batch 128: 1.24 s against 1.55 s; BenchmarkCIFARResNet18 in graphs/lower),
// so one session per fit would lose.
func (f *fitter) adversarial(stage Stage, epoch, step int) error {
	seeds := attacks.Seeds(f.cfg.Seed^uint64(epoch+1)<<40, step*f.cfg.Batch, f.cfg.Batch)
	if f.dev != nil { // the attack runs on the device and its result stays there (device_fit.go)
		return f.dev.adversarial(f.pgd, f.x, f.y, seeds)
	}
	set := f.oracleSet()
	defer set.Close()
	o, err := set.Get(stage.AttackLoss())
	if err != nil {
		return err
	}
	adv := make([]float32, len(f.x.Data()))
	err = f.pgd.Perturb(o, f.x.Data(), f.y.Data(), seeds, adv)
	f.attackRun += set.RuntimeTime()
	if err != nil {
		return fmt.Errorf("%s: pgd: %w", stepName(epoch, step), err)
	}
	if stage.Paired() {
		copy(f.xAdv.Data(), adv)
	} else {
		copy(f.x.Data(), adv)
	}
	return nil
}

// oracleSet returns attack oracles on the current parameters (stored in
// the graphs, BatchNorm in inference mode).
func (f *fitter) oracleSet() *ortoracle.Set {
	return ortoracle.NewSet(f.net, f.paramValues(), f.image, f.cfg.Batch, f.classes, 0, f.opts)
}

// paramValues returns the current parameters and buffers by name (the
// slices the runtime tensors wrap).
func (f *fitter) paramValues() map[string][]float32 {
	values := make(map[string][]float32, len(f.p.info))
	for i, pi := range f.p.info {
		values[pi.Name] = f.p.tensors[i].Data()
	}
	return values
}

// update applies SGD to every trainable parameter from the step's gradients
// and copies the new BatchNorm running statistics into their buffers.
func (f *fitter) update(s *ortsession.Session, lr float32) {
	o := f.cfg.Optimizer
	for i, pi := range f.p.info {
		theta := f.p.tensors[i].Data()
		if pi.Trainable {
			sgdStep(theta, s.Output(pi.Name+"_grad"), f.p.velocity[pi.Name], lr, float32(o.Momentum), float32(o.WeightDecay))
		} else {
			copy(theta, s.Output(pi.Name+"_updated"))
		}
	}
}
