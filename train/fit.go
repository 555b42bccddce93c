package train

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"time"

	"github.com/taet-ml/taet/attacks"
	"github.com/taet-ml/taet/data"
	"github.com/taet-ml/taet/eval"
	"github.com/taet-ml/taet/graphs"
	"github.com/taet-ml/taet/internal/atomicfile"
	"github.com/taet-ml/taet/internal/safetensors"
	"github.com/taet-ml/taet/losses"
	"github.com/taet-ml/taet/models"
	"github.com/taet-ml/taet/onnx/ort"
)

// Version is written into checkpoints; cmd/taetctl sets it.
var Version = "dev"

// ErrNaNLoss is wrapped by the error of a step whose loss is NaN or infinite.
var ErrNaNLoss = errors.New("loss is not finite")

// ErrData is wrapped by errors about the data set, its split or a
// model/data mismatch.
var ErrData = errors.New("data error")

// EpochMetrics is one line of metrics.jsonl.
type EpochMetrics struct {
	Stage       string  `json:"stage"`
	Epoch       int     `json:"epoch"` // 0-based, over all stages
	LR          float64 `json:"lr"`
	TrainLoss   float64 `json:"train_loss"`
	CleanBAcc   float64 `json:"clean_bacc"`  // balanced accuracy on the evaluation subset
	RobustBAcc  float64 `json:"robust_bacc"` // balanced robustness under the training PGD
	CleanAcc    float64 `json:"clean_acc"`
	RobustAcc   float64 `json:"robust_acc"`
	Seconds     float64 `json:"seconds"`      // wall time of the epoch's training steps
	ImgPerSec   float64 `json:"img_per_s"`    // training images per second
	GoOverhead  float64 `json:"go_overhead"`  // share of step time spent outside ONNX Runtime
	EvalSeconds float64 `json:"eval_seconds"` // wall time of the evaluation
	EvalImages  int     `json:"eval_images"`  // images scored; 0: no evaluation, the four metrics above are meaningless
}

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
// goroutine running Fit.
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

// Fit trains a model as cfg says, writing a checkpoint and a metrics line
// into dir after every epoch. With resume it continues from dir's
// checkpoint (whose configuration wins over cfg, except Threads and Device).
//
// When ctx is cancelled it finishes the current step, writes a checkpoint
// (resumable mid-epoch) and returns ctx.Err(). A NaN or infinite loss stops
// it with an error wrapping ErrNaNLoss; the last checkpoint stays as it was.
func Fit(ctx context.Context, cfg Config, dir string, resume bool, obs Observer) (*Result, error) {
	var st State
	var saved []safetensors.Tensor
	if resume {
		var err error
		if st, saved, err = LoadCheckpoint(dir); err != nil {
			return nil, err
		}
		st.Config.Threads, st.Config.Device = cfg.Threads, cfg.Device
		cfg = st.Config
	} else if _, err := os.Stat(filepath.Join(dir, CheckpointFile)); err == nil {
		return nil, fmt.Errorf("%s already holds a checkpoint: continue it with --resume, or choose another --out", dir)
	}
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	f, err := newFitter(cfg, dir, st, saved, resume)
	if err != nil {
		return nil, err
	}
	defer f.close()
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, err
	}
	obs.Started(f.describe(resume))
	return f.run(ctx, obs)
}

// fitter holds a fit's data, graphs and runtime state.
type fitter struct {
	cfg        Config
	dir        string
	st         State
	train      *data.Dataset
	evalSet    *data.Dataset
	counts     []int
	classes    int
	image      []int64
	p          *params
	net        graphs.Net
	opts       ort.Options
	x          *ort.Tensor[float32] // training-step input
	y          *ort.Tensor[int64]
	steps      map[string]*session // train-step session per stage loss
	dev        *deviceTrainer      // device-resident training (device_fit.go); nil: Go SGD on the host
	attackRun  time.Duration       // runtime time of this epoch's attack sessions
	paramCount int64
}

func newFitter(cfg Config, dir string, st State, saved []safetensors.Tensor, resume bool) (_ *fitter, err error) {
	f := &fitter{cfg: cfg, dir: dir, st: st, steps: map[string]*session{}}
	defer func() {
		if err != nil {
			f.close() // whatever was created before the error
		}
	}()
	if err := f.loadData(resume); err != nil {
		return nil, err
	}
	net, err := models.ByName(cfg.Model, models.Options{Classes: f.classes, ImageSize: int(f.image[1]), Width: cfg.Width})
	if err != nil {
		return nil, err
	}
	opts, err := f.sessionOptions()
	if err != nil {
		return nil, err
	}
	f.net, f.opts = net, opts
	b := int64(cfg.Batch)
	if f.x, err = ort.NewZeros[float32](b, f.image[0], f.image[1], f.image[2]); err != nil {
		return nil, err
	}
	if f.y, err = ort.NewZeros[int64](b); err != nil {
		return nil, err
	}
	// One train-step graph per distinct stage loss.
	var info []graphs.ParamInfo
	specs := map[string]graphs.GraphSpec{}
	for _, s := range cfg.Stages {
		if _, ok := specs[s.Name]; ok {
			continue
		}
		head, err := f.lossHead(s.Name)
		if err != nil {
			return nil, err
		}
		specs[s.Name] = graphs.GraphSpec{Name: cfg.Model + "-" + s.Name, Batch: b, Image: f.image, Net: net, Loss: head}
		g, err := graphs.TrainStepGraph(specs[s.Name])
		if err != nil {
			return nil, err
		}
		if f.p == nil {
			info = g.Params
			if f.p, err = f.initParams(info, saved); err != nil {
				return nil, err
			}
		}
		if deviceResident(opts.Device) {
			continue // device_fit.go builds the device's sessions
		}
		ins := append([]ort.Value{f.x, f.y}, f.p.values()...)
		if f.steps[s.Name], err = newSession(g.Model, opts, ins); err != nil {
			return nil, err
		}
	}
	if deviceResident(opts.Device) { // device_fit.go
		if f.dev, err = newDeviceTrainer(specs, f.classes, cfg.Optimizer, opts, f.p, f.x, f.y); err != nil {
			return nil, err
		}
	}
	f.paramCount = models.ParamCount(info)
	return f, nil
}

func (f *fitter) sessionOptions() (ort.Options, error) {
	dev, err := ort.ParseDevice(f.cfg.Device)
	if err != nil {
		return ort.Options{}, err
	}
	return ort.Options{Threads: f.cfg.Threads, Device: dev}, nil
}

// loadData reads the training split, makes it long-tailed (or, resuming,
// rebuilds the recorded split and checks it) and picks the evaluation subset.
func (f *fitter) loadData(resume bool) error {
	full, err := data.Load(f.cfg.Dataset, f.cfg.DataPath, "train")
	if err != nil {
		return fmt.Errorf("%w: %v", ErrData, err)
	}
	if resume {
		if f.train, err = f.st.Split.Rebuild(full); err != nil {
			return fmt.Errorf("%w: %v", ErrData, err)
		}
	} else {
		var rec data.SplitRecord
		if f.train, rec, err = data.LongTail(full, f.cfg.IR, f.cfg.NMax, f.cfg.Seed); err != nil {
			return fmt.Errorf("%w: %v", ErrData, err)
		}
		f.st = State{Config: f.cfg, Split: rec}
	}
	if f.train.N < f.cfg.Batch {
		return fmt.Errorf("%w: %d training images, fewer than one batch of %d", ErrData, f.train.N, f.cfg.Batch)
	}
	f.classes = f.train.Classes
	f.image = []int64{int64(f.train.C), int64(f.train.H), int64(f.train.W)}
	if resume && (f.st.Classes != f.classes || fmt.Sprint(f.st.Image) != fmt.Sprint(f.image)) {
		return fmt.Errorf("%w: checkpoint was trained on %d classes of %v images, the data has %d of %v",
			ErrData, f.st.Classes, f.st.Image, f.classes, f.image)
	}
	f.st.Classes, f.st.Image = f.classes, f.image
	f.counts = data.ClassCounts(f.train.Labels, f.classes)
	if f.cfg.EvalSize > 0 {
		test, err := data.Load(f.cfg.Dataset, f.cfg.DataPath, "test")
		if err != nil {
			return fmt.Errorf("%w: %v", ErrData, err)
		}
		idx := rand.New(rand.NewPCG(f.cfg.Seed, 0xE7A1)).Perm(test.N)
		f.evalSet = test.Subset(idx[:min(f.cfg.EvalSize, test.N)])
	}
	return nil
}

// lossHead returns the training loss of a stage.
func (f *fitter) lossHead(stage string) (graphs.LossHead, error) {
	variant, err := losses.ParseHELVariant(f.cfg.HEL.Variant)
	if err != nil {
		return nil, err
	}
	o := losses.Options{
		ClassCounts: f.counts, Tau: float32(f.cfg.BSLTau),
		HEL: losses.HELOpts{Alpha: float32(f.cfg.HEL.Alpha), Beta: float32(f.cfg.HEL.Beta), Gamma: float32(f.cfg.HEL.Gamma), Variant: variant},
	}
	name := map[string]string{"ce": "ce", "at": "ce", "bsl": "balanced-softmax", "hel": "hel"}[stage]
	return losses.ByName(name, o)
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
			return nil, fmt.Errorf("%w: parameter %s missing or of the wrong size (the model does not match the checkpoint)", ErrCheckpoint, pi.Name)
		}
		values[pi.Name] = v
	}
	p, err := newParams(info, values)
	if err != nil {
		return nil, err
	}
	for name, v := range p.velocity {
		m, ok := byName[momentumPrefix+name]
		if !ok || len(m) != len(v) {
			p.close()
			return nil, fmt.Errorf("%w: optimizer state of %s missing", ErrCheckpoint, name)
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
		s.close()
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
		sess := f.steps[stage.Name]
		lr := float32(cfg.Optimizer.LRAt(epoch))
		batches := data.TrainBatches(f.train, cfg.Batch, aug, cfg.Seed, epoch)
		steps := batches.Len()
		first, lossSum, lossSteps := 0, 0.0, 0
		if epoch == f.st.Epoch { // resuming mid-epoch
			first, lossSum, lossSteps = f.st.Step, f.st.LossSum, f.st.LossSteps
		}
		start := time.Now()
		f.resetRuntime(sess) // device_fit.go
		done := 0
		for step := range steps {
			if batches.Next(f.x.Data(), f.y.Data()) == 0 {
				break
			}
			if step < first {
				continue // resuming mid-epoch: the same batches, skipped
			}
			if stage.Adversarial() {
				if err := f.adversarial(epoch, step); err != nil {
					return nil, err
				}
			}
			loss, err := f.trainStep(sess, stage.Name, lr) // device_fit.go
			if err != nil {
				return nil, fmt.Errorf("epoch %d step %d: %w", epoch, step, err)
			}
			if math.IsNaN(loss) || math.IsInf(loss, 0) {
				return nil, fmt.Errorf("epoch %d step %d (stage %s): %w (%v); the last checkpoint in %s is untouched",
					epoch, step, stage.Name, ErrNaNLoss, loss, f.dir)
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
				return nil, ctx.Err()
			}
		}
		elapsed := time.Since(start)
		m := EpochMetrics{Stage: stage.Name, Epoch: epoch, LR: float64(lr), Seconds: elapsed.Seconds(),
			ImgPerSec: float64(done*cfg.Batch) / elapsed.Seconds()}
		if lossSteps > 0 {
			m.TrainLoss = lossSum / float64(lossSteps)
		}
		if done > 0 {
			m.GoOverhead = 1 - f.runtime(sess).Seconds()/elapsed.Seconds() // device_fit.go
		}
		obs.Evaluating(epoch)
		if err := f.evaluate(&m); err != nil {
			return nil, err
		}
		f.st.Metrics = append(f.st.Metrics, m)
		f.st.Epoch, f.st.Step, f.st.LossSum, f.st.LossSteps = epoch+1, 0, 0, 0
		if err := f.save(); err != nil {
			return nil, err
		}
		obs.EpochDone(m)
		if ctx.Err() != nil && epoch+1 < cfg.Epochs() {
			return nil, ctx.Err()
		}
	}
	return &Result{Metrics: f.st.Metrics, Dir: f.dir}, nil
}

// adversarial replaces the training batch in f.x with its PGD examples
// (the last iterate), attacking the current parameters with BatchNorm in
// inference mode. Each example's random start depends only on the seed,
// the epoch and its position, so a resumed run draws the same.
//
// The attack runs on a session built for this step with the parameters
// stored in the graph: creating it costs about a third of one attack
// iteration, and the runtime's pre-packed convolutions make each of the
// iterations about 30% faster than with the parameters as inputs.
func (f *fitter) adversarial(epoch, step int) error {
	seeds := attacks.Seeds(f.cfg.Seed^uint64(epoch+1)<<40, step*f.cfg.Batch, f.cfg.Batch)
	if f.dev != nil { // device_fit.go: the attack runs on the device, its result stays there
		return f.dev.adversarial(f.pgd(), f.x, f.y, seeds)
	}
	set := f.oracleSet()
	defer set.Close()
	o, err := set.Get("ce")
	if err != nil {
		return err
	}
	adv := make([]float32, len(f.x.Data()))
	err = f.pgd().Perturb(o, f.x.Data(), f.y.Data(), seeds, adv)
	f.attackRun += set.RuntimeTime()
	if err != nil {
		return fmt.Errorf("epoch %d step %d: pgd: %w", epoch, step, err)
	}
	copy(f.x.Data(), adv)
	return nil
}

// oracleSet returns attack oracles on the current parameters (stored in
// the graphs, BatchNorm in inference mode).
func (f *fitter) oracleSet() *OracleSet {
	values := make(map[string][]float32, len(f.p.info))
	for i, pi := range f.p.info {
		values[pi.Name] = f.p.tensors[i].Data()
	}
	return NewOracleSet(f.net, values, f.image, f.cfg.Batch, f.classes, 0, f.opts)
}

// pgd returns the training attack.
func (f *fitter) pgd() attacks.PGD {
	start := map[PGDStart]attacks.Start{StartNone: attacks.StartNone, StartUniform: attacks.StartUniform, StartNormal: attacks.StartNormal}[f.cfg.PGD.Start]
	return attacks.PGD{Eps: f.cfg.PGD.Eps, Alpha: f.cfg.PGD.Step, Steps: f.cfg.PGD.Steps, Start: start}
}

// update applies SGD to every trainable parameter from the step's gradients
// and copies the new BatchNorm running statistics into their buffers.
func (f *fitter) update(s *session, lr float32) {
	o := f.cfg.Optimizer
	for i, pi := range f.p.info {
		theta := f.p.tensors[i].Data()
		if pi.Trainable {
			sgdStep(theta, s.output(pi.Name+"_grad"), f.p.velocity[pi.Name], lr, float32(o.Momentum), float32(o.WeightDecay))
		} else {
			copy(theta, s.output(pi.Name+"_updated"))
		}
	}
}

// evaluate scores the evaluation subset: clean predictions and
// predictions on PGD examples (the training attack, verified), as
// balanced accuracies.
func (f *fitter) evaluate(m *EpochMetrics) error {
	if f.evalSet == nil {
		return nil
	}
	start := time.Now()
	get := f.attackOracles() // device_fit.go
	defer get.close()
	r, err := attacks.RunDataset(f.pgd(), get.oracle, f.evalSet.Images, f.evalSet.Labels, attacks.DatasetOptions{Seed: f.cfg.Seed ^ 0xE7A1})
	if err != nil {
		return fmt.Errorf("evaluation: %w", err)
	}
	rc, rr := eval.Evaluate(r.Clean, f.evalSet.Labels, f.classes), eval.Evaluate(r.Pred, f.evalSet.Labels, f.classes)
	m.CleanBAcc, m.CleanAcc = rc.Balanced, rc.Accuracy
	m.RobustBAcc, m.RobustAcc = rr.Balanced, rr.Accuracy
	m.EvalSeconds, m.EvalImages = time.Since(start).Seconds(), f.evalSet.N
	return nil
}

// save writes the checkpoint and rewrites metrics.jsonl from the state.
func (f *fitter) save() error {
	if err := f.syncFromDevice(); err != nil { // device_fit.go
		return err
	}
	f.st.Version = Version
	var ts []safetensors.Tensor
	for i, pi := range f.p.info {
		ts = append(ts, safetensors.Tensor{Name: pi.Name, Shape: pi.Shape, Data: f.p.tensors[i].Data()})
	}
	for _, pi := range f.p.info {
		if pi.Trainable {
			ts = append(ts, safetensors.Tensor{Name: momentumPrefix + pi.Name, Shape: pi.Shape, Data: f.p.velocity[pi.Name]})
		}
	}
	if err := saveCheckpoint(f.dir, f.st, ts); err != nil {
		return fmt.Errorf("write checkpoint: %w", err)
	}
	var lines []byte
	for _, m := range f.st.Metrics {
		b, err := json.Marshal(m)
		if err != nil {
			return err
		}
		lines = append(append(lines, b...), '\n')
	}
	return atomicfile.Write(filepath.Join(f.dir, MetricsFile), lines)
}
