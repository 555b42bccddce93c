package train

import (
	"fmt"
	"time"

	"github.com/taet-ml/taet/attacks"
	"github.com/taet-ml/taet/checkpoint"
	"github.com/taet-ml/taet/data"
	"github.com/taet-ml/taet/graphs"
	"github.com/taet-ml/taet/internal/ortsession"
	"github.com/taet-ml/taet/internal/safetensors"
	"github.com/taet-ml/taet/models"
	"github.com/taet-ml/taet/onnx/ort"
)

// fitter holds a fit's data, graphs and runtime state.
type fitter struct {
	cfg        Config
	dir        string
	st         checkpoint.State
	train      *data.Dataset
	evalSet    *data.Dataset
	counts     []int
	classes    int
	image      []int64
	p          *params
	net        graphs.Net
	pgd        attacks.PGD
	opts       ort.Options
	x          *ort.Tensor[float32] // training-step input
	y          *ort.Tensor[int64]
	xAdv       *ort.Tensor[float32]           // the PGD examples of x, input of the paired stages' steps; nil without such a stage
	steps      map[string]*ortsession.Session // train-step session per stage; none when dev is set
	dev        *deviceTrainer                 // device-resident training (device_fit.go); nil: Go SGD on the host
	attackRun  time.Duration                  // runtime time of this epoch's attack sessions
	paramCount int64
}

// newFitter builds the train-step sessions of spec, with the parameters and
// optimizer state of saved (resuming from st) or drawn from the seed.
func newFitter(spec *Spec, dir string, st *checkpoint.State, saved []safetensors.Tensor) (_ *fitter, err error) {
	cfg := spec.Config
	f := &fitter{cfg: cfg, dir: dir, train: spec.Train, evalSet: spec.Eval, net: spec.Net, pgd: spec.PGD, opts: spec.Runtime,
		classes: spec.Train.Classes, image: spec.Train.Shape(), steps: map[string]*ortsession.Session{}}
	defer func() {
		if err != nil {
			f.close() // whatever was created before the error
		}
	}()
	if f.train.N < cfg.Batch {
		return nil, fmt.Errorf("%w: %d training images, fewer than one batch of %d", ErrData, f.train.N, cfg.Batch)
	}
	if st != nil {
		if err := f.train.Matches(st.Classes, st.Image); err != nil {
			return nil, fmt.Errorf("%w: the checkpoint in %s does not fit the data: %w", ErrData, dir, err)
		}
		f.st = *st
	} else {
		f.st = checkpoint.State{Config: cfg, Split: spec.Split}
	}
	f.st.Classes, f.st.Image = f.classes, f.image
	f.counts = data.ClassCounts(f.train.Labels, f.classes)
	b := int64(cfg.Batch)
	if f.x, err = ort.NewZeros[float32](b, f.image[0], f.image[1], f.image[2]); err != nil {
		return nil, err
	}
	if f.y, err = ort.NewZeros[int64](b); err != nil {
		return nil, err
	}
	// One train-step graph per stage.
	var info []graphs.ParamInfo
	specs := map[string]graphs.GraphSpec{}
	for _, s := range cfg.Stages {
		if _, ok := specs[s.Name]; ok {
			continue
		}
		gs := graphs.GraphSpec{Name: cfg.Model + "-" + s.Name, Batch: b, Image: f.image, Net: f.net}
		var ok bool
		if s.Paired() {
			gs.Pair, ok = spec.PairLosses[s.Name]
		} else {
			gs.Loss, ok = spec.Losses[s.Name]
		}
		if !ok {
			return nil, fmt.Errorf("train: no loss for stage %s in the spec", s.Name)
		}
		if err := checkStageDevice(s, f.opts.Device); err != nil {
			return nil, err
		}
		specs[s.Name] = gs
		g, err := graphs.TrainStepGraph(gs)
		if err != nil {
			return nil, err
		}
		if f.p == nil {
			info = g.Params
			if f.p, err = f.initParams(info, saved); err != nil {
				return nil, err
			}
		}
		if deviceResident(f.opts.Device) {
			continue // device_fit.go builds the device's sessions
		}
		ins := []ort.Value{f.x, f.y}
		if gs.Pair != nil {
			if f.xAdv == nil {
				if f.xAdv, err = ort.NewZeros[float32](b, f.image[0], f.image[1], f.image[2]); err != nil {
					return nil, err
				}
			}
			ins = append(ins, f.xAdv)
		}
		if f.steps[s.Name], err = ortsession.New(g.Model, f.opts, append(ins, f.p.values()...)); err != nil {
			return nil, err
		}
	}
	if deviceResident(f.opts.Device) {
		if f.dev, err = newDeviceTrainer(specs, f.classes, cfg.Optimizer, f.opts, f.p, f.x, f.y); err != nil {
			return nil, err
		}
	}
	f.paramCount = models.ParamCount(info)
	return f, nil
}

// initParams returns the parameters: from the checkpoint, or drawn from the seed.
func (f *fitter) initParams(info []graphs.ParamInfo, saved []safetensors.Tensor) (*params, error) {
	values := graphs.InitParams(info, f.cfg.Seed)
	if saved == nil {
		p, err := newParams(info, values)
		if err == nil {
			f.st.Params = paramNames(info)
		}
		return p, err
	}
	byName := map[string][]float32{}
	for _, t := range saved {
		byName[t.Name] = t.Data
	}
	for _, pi := range info {
		v, ok := byName[pi.Name]
		if !ok || int64(len(v)) != pi.Size() {
			return nil, fmt.Errorf("%w: parameter %s missing or of the wrong size (the model does not match the checkpoint)", checkpoint.ErrCheckpoint, pi.Name)
		}
		values[pi.Name] = v
	}
	p, err := newParams(info, values)
	if err != nil {
		return nil, err
	}
	for name, v := range p.velocity {
		m, ok := byName[checkpoint.MomentumPrefix+name]
		if !ok || len(m) != len(v) {
			p.close()
			return nil, fmt.Errorf("%w: optimizer state of %s missing", checkpoint.ErrCheckpoint, name)
		}
		copy(v, m)
	}
	return p, nil
}

func paramNames(info []graphs.ParamInfo) []string {
	out := make([]string, len(info))
	for i, p := range info {
		out[i] = p.Name
	}
	return out
}

func (f *fitter) describe(resumed bool) Run {
	r := Run{Config: f.cfg, Dir: f.dir, TrainImages: f.train.N, Counts: f.counts, Params: f.paramCount, ResumedAt: -1}
	if f.evalSet != nil {
		r.EvalImages = f.evalSet.N
	}
	if resumed {
		r.ResumedAt, r.ResumedStep = f.st.Epoch, f.st.Step
	}
	return r
}

func (f *fitter) close() {
	if f.dev != nil {
		f.dev.close()
	}
	for _, s := range f.steps {
		s.Close()
	}
	if f.p != nil {
		f.p.close()
	}
	if f.x != nil {
		f.x.Close()
	}
	if f.y != nil {
		f.y.Close()
	}
	if f.xAdv != nil {
		f.xAdv.Close()
	}
}
