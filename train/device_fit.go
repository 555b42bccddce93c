package train

import (
	"fmt"
	"time"

	"github.com/taet-ml/taet/attacks"
	"github.com/taet-ml/taet/evaluate"
	"github.com/taet-ml/taet/graphs"
	"github.com/taet-ml/taet/internal/ortsession"
	"github.com/taet-ml/taet/onnx/ort"
)

// deviceTrainer trains with the state resident on a device (a GPU): one
// deviceStepper per stage loss, all reading the fit loop's x and y (or the
// training attack's result, left on the device by devicePGD), and one
// evaluation oracle, all reading the state where the last step left it. The
// state moves to the host (params) only when sync is called, for
// checkpoints, and from the host only when the stage changes.
type deviceTrainer struct {
	p        *params
	steppers map[string]*deviceStepper // by stage name
	cur      *deviceStepper            // holds the newest state; nil: p does
	oracle   *deviceOracle             // the evaluation's oracle on the newest state
	spec     graphs.GraphSpec          // the network, for the attack's graph
	classes  int
	opts     ort.Options
	pgd      *devicePGD        // the training attack, built on first use
	xAdv     *ort.DeviceTensor // its result, read by the next step
	inRun    time.Duration     // time in the runtime's steps and attacks since reset
}

// newDeviceTrainer builds the in-graph-SGD step of every stage from
// specs (by stage name) on opts.Device, sharing x and y, and the attack
// oracle over classes logits.
func newDeviceTrainer(specs map[string]graphs.GraphSpec, classes int, o Optimizer, opts ort.Options, p *params, x *ort.Tensor[float32], y *ort.Tensor[int64]) (_ *deviceTrainer, err error) {
	d := &deviceTrainer{p: p, steppers: map[string]*deviceStepper{}, classes: classes, opts: opts}
	defer func() {
		if err != nil {
			d.close()
		}
	}()
	for stage, spec := range specs {
		g, err := graphs.TrainStepSGDGraph(spec, float32(o.Momentum), float32(o.WeightDecay))
		if err != nil {
			return nil, err
		}
		if d.steppers[stage], err = newDeviceStepper(g, opts, d.hostValues(), x, y); err != nil {
			return nil, fmt.Errorf("stage %s on %s: %w", stage, opts.Device, err)
		}
		if d.oracle == nil {
			d.spec = spec
			if d.oracle, err = newDeviceOracle(spec, classes, opts); err != nil {
				return nil, fmt.Errorf("attack oracle on %s: %w", opts.Device, err)
			}
		}
	}
	return d, nil
}

// state returns the newest state: on the device (the current stepper's,
// when it has stepped) and on the host (p, for the rest).
func (d *deviceTrainer) state() (device map[string]*ort.DeviceTensor, host map[string]*ort.Tensor[float32]) {
	if d.cur != nil {
		device = d.cur.state
	}
	host = map[string]*ort.Tensor[float32]{}
	for i, pi := range d.p.info {
		host[pi.Name] = d.p.tensors[i]
	}
	return device, host
}

// attackOracle returns the CE attack oracle bound to the newest state.
func (d *deviceTrainer) attackOracle() (attacks.Oracle, error) {
	device, host := d.state()
	if err := bindState(d.oracle.b, d.oracle.params, device, host); err != nil {
		return nil, err
	}
	return d.oracle, nil
}

// adversarial runs the training attack on the batch in x and y on the
// device; the next step trains on its result, which stays there.
func (d *deviceTrainer) adversarial(attack attacks.PGD, x *ort.Tensor[float32], y *ort.Tensor[int64], seeds []uint64) error {
	if d.pgd == nil {
		var err error
		if d.pgd, err = newDevicePGD(d.spec, attack, d.opts); err != nil {
			return fmt.Errorf("training attack on %s: %w", d.opts.Device, err)
		}
	}
	device, host := d.state()
	start := time.Now()
	xAdv, err := d.pgd.perturb(x, y, seeds, device, host)
	d.inRun += time.Since(start)
	if err != nil {
		return err
	}
	d.xAdv.Close()
	d.xAdv = xAdv
	return nil
}

// hostValues returns p's state under the step graph's names.
func (d *deviceTrainer) hostValues() map[string][]float32 {
	values := map[string][]float32{}
	for i, pi := range d.p.info {
		values[pi.Name] = d.p.tensors[i].Data()
		if pi.Trainable {
			values[pi.Name+graphs.MomentumSuffix] = d.p.velocity[pi.Name]
		}
	}
	return values
}

// step runs one step of stage at learning rate lr and returns the loss.
func (d *deviceTrainer) step(stage string, lr float32) (float32, error) {
	s := d.steppers[stage]
	if d.cur != s {
		if err := d.sync(); err != nil {
			return 0, err
		}
		if err := s.setValues(d.hostValues()); err != nil {
			return 0, err
		}
		d.cur = s
	}
	start := time.Now()
	loss, err := s.step(lr, d.xAdv)
	d.inRun += time.Since(start)
	d.xAdv.Close()
	d.xAdv = nil
	return loss, err
}

// sync copies the newest state into p; the device keeps its copy.
func (d *deviceTrainer) sync() error {
	if d.cur == nil {
		return nil
	}
	values, err := d.cur.values()
	if err != nil {
		return fmt.Errorf("copy the state from the device: %w", err)
	}
	for name, v := range d.hostValues() {
		copy(v, values[name])
	}
	return nil
}

func (d *deviceTrainer) close() {
	for _, s := range d.steppers {
		s.close()
	}
	if d.oracle != nil {
		d.oracle.close()
	}
	if d.pgd != nil {
		d.pgd.close()
	}
	d.xAdv.Close()
}

// deviceResident reports whether training on dev keeps its state on the
// device. On the CPU the Go update is as fast (measured within noise, the
// update is under 1% of a step), and the attacks' sessions with the
// parameters as initializers get the CPU's pre-packed convolutions.
var deviceResident = func(dev ort.Device) bool { return dev.CUDA }

// trainStep runs one step of stage at learning rate lr, update included,
// and returns the loss: on the device with its state resident there, or
// with sess and the Go update.
func (f *fitter) trainStep(sess *ortsession.Session, stage string, lr float32) (float64, error) {
	if f.dev != nil {
		loss, err := f.dev.step(stage, lr)
		return float64(loss), err
	}
	if err := sess.Run(); err != nil {
		return 0, err
	}
	f.update(sess, lr)
	return float64(sess.Output("loss")[0]), nil
}

// syncFromDevice brings f.p up to date with the device's state, if any.
func (f *fitter) syncFromDevice() error {
	if f.dev == nil {
		return nil
	}
	return f.dev.sync()
}

// evalTarget is what the per-epoch evaluation attacks: on the device the
// deviceTrainer's oracle (on its newest state), else sessions on the host's
// current parameters.
func (f *fitter) evalTarget() *evaluate.Target {
	if f.dev == nil {
		return evaluate.NewTarget(f.net, f.paramValues(), f.image, f.classes, f.cfg.Batch, f.opts)
	}
	return &evaluate.Target{Classes: f.classes, Image: f.image,
		Oracles: func(float64) attacks.OracleSet {
			return func(loss string) (attacks.Oracle, error) {
				if loss != "ce" {
					return nil, fmt.Errorf("train: no %s oracle on the device", loss)
				}
				return f.dev.attackOracle()
			}
		}}
}

// resetRuntime zeroes the epoch's runtime counters: the device's, or those
// of sess and the attacks.
func (f *fitter) resetRuntime(sess *ortsession.Session) {
	f.attackRun = 0
	if f.dev != nil {
		f.dev.inRun = 0
	} else {
		sess.ResetTime()
	}
}

// runtime returns the epoch's time inside the runtime: steps and attacks.
func (f *fitter) runtime(sess *ortsession.Session) time.Duration {
	if f.dev != nil {
		return f.dev.inRun
	}
	return sess.RuntimeTime() + f.attackRun
}
