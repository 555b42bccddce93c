package devcheck

import (
	"context"
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"time"

	"github.com/taet-ml/taet/attacks"
	"github.com/taet-ml/taet/graphs"
	"github.com/taet-ml/taet/onnx/ort"
	"github.com/taet-ml/taet/ortoracle"
	"github.com/taet-ml/taet/train"
)

// PGDAgreement is the least fraction of images whose prediction at the
// PGD-20 iterate must be the same on the device as on the CPU: PGD's sign
// steps turn tiny gradient differences into different pixels, so the
// iterates may part ways.
const PGDAgreement = 0.9

// pgd runs 20 PGD steps (ε 8/255, α 2/255, from the clean image, every step
// taken: no early stop) on the CPU and on the device, and compares the
// iterates and the predictions at them.
func pgd(r *Report, sz Size, cpu, dev ort.Options) error {
	const classes = 10
	net, err := network(sz, classes)
	if err != nil {
		return err
	}
	values := graphs.InitParams(mustParams(net, sz), 2)
	x, y := batch(sz, classes, 2)
	image := []int64{3, int64(sz.Image), int64(sz.Image)}
	attack := attacks.PGD{Eps: 8.0 / 255, Alpha: 2.0 / 255, Steps: 20, Start: attacks.StartNone}
	var adv [2][]float32
	var pred [2][]int64
	for i, opts := range []ort.Options{cpu, dev} {
		set := ortoracle.NewSet(net, values, image, sz.Batch, classes, 0, opts)
		adv[i], pred[i], err = perturb(set, attack, x, y, classes)
		set.Close()
		if err != nil {
			return fmt.Errorf("%s: %w", opts.Device, err)
		}
	}
	agree, pixels := 0, 0
	for i := range y {
		if pred[0][i] == pred[1][i] {
			agree++
		}
	}
	for i, a := range adv[0] {
		if math.Abs(float64(a-adv[1][i])) > 1e-4 {
			pixels++
		}
	}
	r.Tolerance = 1 - PGDAgreement
	r.Metrics["prediction_agreement"] = float64(agree) / float64(len(y))
	r.Metrics["pixels_differing"] = float64(pixels) / float64(len(x))
	r.Metrics["max_linf_cpu"] = linf(adv[0], x)
	if r.Metrics["prediction_agreement"] < PGDAgreement {
		return fmt.Errorf("predictions at the PGD-20 iterates agree on %d of %d images, want at least %.0f%%", agree, len(y), 100*PGDAgreement)
	}
	return nil
}

// perturb returns the attack's last iterate and the predictions there.
func perturb(set *ortoracle.Set, attack attacks.PGD, x []float32, y []int64, classes int) ([]float32, []int64, error) {
	o, err := set.Get("ce")
	if err != nil {
		return nil, nil, err
	}
	adv := make([]float32, len(x))
	if err := attack.Perturb(o, x, y, attacks.Seeds(1, 0, len(y)), adv); err != nil {
		return nil, nil, err
	}
	logits := make([]float32, len(y)*classes)
	if err := o.Eval(adv, y, nil, logits, nil); err != nil {
		return nil, nil, err
	}
	return adv, argmax(logits, classes), nil
}

// linf returns max |a − b|.
func linf(a, b []float32) float64 {
	m := 0.0
	for i := range a {
		m = max(m, math.Abs(float64(a[i]-b[i])))
	}
	return m
}

// mustParams returns the parameters of net (building a graph cannot fail
// for the registered models at valid sizes; a failure panics into Run's report).
func mustParams(net graphs.Net, sz Size) []graphs.ParamInfo {
	g, err := graphs.EvalGraph(spec("params", sz, net, nil), nil)
	if err != nil {
		panic(err)
	}
	return g.Params
}

func argmax(logits []float32, classes int) []int64 {
	out := make([]int64, len(logits)/classes)
	for i := range out {
		row := logits[i*classes : (i+1)*classes]
		out[i] = int64(slices.Index(row, slices.Max(row)))
	}
	return out
}

// throughput measures images per second on the device of the steps fit
// takes (the clean CE step and the TAET stage-2 step: PGD-10 from
// x + 0.001·N(0,1), then the HEL step; both with the state resident on the
// device), each over reps steps after a first, untimed one, on synthetic
// CIFAR-10; and of PGD-20 as evaluation runs it (20 gradient evaluations and
// a clean one on a session with the parameters stored in the graph).
func throughput(ctx context.Context, r *Report, sz Size, reps int, dev ort.Device, threads int) error {
	for _, stage := range []struct{ name, metric string }{{"ce", "clean_step"}, {"hel", "taet_stage2_step"}} {
		v, err := fitImgPerSec(ctx, stage.name, sz, reps, dev, threads)
		if err != nil {
			return fmt.Errorf("%s: %w", stage.metric, err)
		}
		r.Metrics[stage.metric+"_img_per_s"] = v
	}

	const classes = 10
	net, err := network(sz, classes)
	if err != nil {
		return err
	}
	x, y := batch(sz, classes, 3)
	set := ortoracle.NewSet(net, graphs.InitParams(mustParams(net, sz), 3), []int64{3, int64(sz.Image), int64(sz.Image)}, sz.Batch, classes, 0, ort.Options{Threads: threads, Device: dev})
	defer set.Close()
	o, err := set.Get("ce")
	if err != nil {
		return err
	}
	logits, grad := make([]float32, sz.Batch*classes), make([]float32, len(x))
	pgd20 := func() error {
		for range 20 {
			if err := o.Eval(x, y, nil, logits, grad); err != nil {
				return err
			}
		}
		return o.Eval(x, y, nil, logits, nil)
	}
	if err := pgd20(); err != nil { // warm-up: the first runs allocate and tune
		return fmt.Errorf("pgd20: %w", err)
	}
	start := time.Now()
	for range reps {
		if err := pgd20(); err != nil {
			return fmt.Errorf("pgd20: %w", err)
		}
	}
	r.Metrics["pgd20_img_per_s"] = float64(reps*sz.Batch) / time.Since(start).Seconds()
	return nil
}

// fitImgPerSec fits one epoch of reps+1 steps of stage (TAET's settings, a
// CIFAR ResNet-18 of sz's width and batch, synthetic CIFAR-10) on dev and
// returns the images per second of the steps after the first.
func fitImgPerSec(ctx context.Context, stage string, sz Size, reps int, dev ort.Device, threads int) (float64, error) {
	dir, err := os.MkdirTemp("", "taet-devcheck-")
	if err != nil {
		return 0, err
	}
	defer os.RemoveAll(dir)
	cfg, err := syntheticFit(filepath.Join(dir, "cifar10"), (reps+1)*sz.Batch, 0, sz, dev, threads)
	if err != nil {
		return 0, err
	}
	cfg.Stages = []train.Stage{{Name: stage, Epochs: 1}}
	obs := &epochObserver{}
	if _, err := train.Fit(ctx, cfg, filepath.Join(dir, "run"), false, obs); err != nil {
		return 0, err
	}
	if len(obs.stepTimes) != reps+1 {
		return 0, fmt.Errorf("%d steps, want %d", len(obs.stepTimes), reps+1)
	}
	return float64(reps*sz.Batch) / obs.stepTimes[reps].Sub(obs.stepTimes[0]).Seconds(), nil
}

// syntheticFit writes n (rounded up to whole tens: the same count in each
// class, which the split keeps) training and test synthetic CIFAR-10 images
// into dir and returns the TAET preset fitting them with sz's width and
// batch on dev, no augmentation, evaluating on every test image.
func syntheticFit(dir string, n, test int, sz Size, dev ort.Device, threads int) (train.Config, error) {
	n = (n + 9) / 10 * 10
	if err := writeCIFAR10(dir, n, test); err != nil {
		return train.Config{}, err
	}
	cfg, err := train.Preset("taet")
	if err != nil {
		return cfg, err
	}
	cfg.Method = "custom"
	cfg.Dataset, cfg.DataPath, cfg.IR, cfg.Width, cfg.Batch = "cifar10", dir, 1, sz.Width, sz.Batch
	cfg.EvalSize, cfg.Augment, cfg.Threads, cfg.Device = test, false, threads, dev.String()
	return cfg, nil
}

// FitLossTolerance is the largest relative difference allowed between the
// first epoch's training loss on the device and on the CPU: one epoch of
// SGD lets the per-step rounding differences (see Tolerance) grow a little.
const FitLossTolerance = 5e-2

// fitResume fits a CIFAR ResNet-18 of sz's width and batch for one epoch
// (synthetic CIFAR-10, 8 batches) on the device and on the CPU, compares
// the epoch's training loss, and resumes the device's checkpoint on the CPU
// for a second epoch.
func fitResume(ctx context.Context, r *Report, sz Size, dev ort.Device, threads int) error {
	dir, err := os.MkdirTemp("", "taet-devcheck-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	cfg, err := syntheticFit(filepath.Join(dir, "cifar10"), 8*sz.Batch, sz.Batch, sz, dev, threads)
	if err != nil {
		return err
	}
	cfg.Stages = []train.Stage{{Name: "ce", Epochs: 2}}
	firstEpoch := func(on ort.Device, run string) (float64, error) {
		cfg := cfg
		cfg.Device = on.String()
		ctx, cancel := context.WithCancel(ctx)
		defer cancel()
		obs := &epochObserver{done: cancel}
		if _, err := train.Fit(ctx, cfg, run, false, obs); !errors.Is(err, context.Canceled) || len(obs.metrics) != 1 {
			return 0, fmt.Errorf("fit on %s: %v after %d epochs (want it interrupted after 1)", on, err, len(obs.metrics))
		}
		return obs.metrics[0].TrainLoss, nil
	}
	run := filepath.Join(dir, "run")
	devLoss, err := firstEpoch(dev, run)
	if err != nil {
		return err
	}
	cpuLoss, err := firstEpoch(ort.Device{}, filepath.Join(dir, "cpu"))
	if err != nil {
		return err
	}
	cfg.Device = "cpu"
	res, err := train.Fit(context.WithoutCancel(ctx), cfg, run, true, &epochObserver{})
	if err != nil {
		return fmt.Errorf("resume on cpu: %w", err)
	}
	if len(res.Metrics) != 2 {
		return fmt.Errorf("%d epochs after the resume, want 2", len(res.Metrics))
	}
	r.Tolerance = FitLossTolerance
	r.Metrics["device_epoch_loss"], r.Metrics["cpu_epoch_loss"] = devLoss, cpuLoss
	r.Metrics["resumed_cpu_epoch_loss"] = res.Metrics[1].TrainLoss
	r.Metrics["device_img_per_s"] = res.Metrics[0].ImgPerSec
	for _, l := range []float64{devLoss, cpuLoss, res.Metrics[1].TrainLoss} {
		if math.IsNaN(l) || math.IsInf(l, 0) {
			return fmt.Errorf("training loss %v", l)
		}
	}
	if d := math.Abs(devLoss-cpuLoss) / cpuLoss; d > FitLossTolerance {
		return fmt.Errorf("first epoch's loss %.5g on %s, %.5g on the CPU: %.3g apart (relative), over %g", devLoss, dev, cpuLoss, d, FitLossTolerance)
	}
	return nil
}

// epochObserver records finished epochs and steps, and calls done after each epoch.
type epochObserver struct {
	metrics   []train.EpochMetrics
	stepTimes []time.Time
	done      func()
}

func (*epochObserver) Started(train.Run) {}
func (*epochObserver) Evaluating(int)    {}
func (o *epochObserver) StepDone(train.StepEvent) {
	o.stepTimes = append(o.stepTimes, time.Now())
}
func (o *epochObserver) EpochDone(m train.EpochMetrics) {
	o.metrics = append(o.metrics, m)
	if o.done != nil {
		o.done()
	}
}

// writeCIFAR10 writes a CIFAR-10 binary directory of n and test images
// of 32×32 noise (classes cycling 0..9), train split over its five files.
func writeCIFAR10(dir string, n, test int) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	rng := rand.New(rand.NewPCG(4, 4))
	records := func(first, n int) []byte {
		b := make([]byte, 0, n*(1+3*32*32))
		for i := first; i < first+n; i++ {
			b = append(b, byte(i%10))
			for range 3 * 32 * 32 {
				b = append(b, byte(rng.Uint32()))
			}
		}
		return b
	}
	for f := range 5 {
		name := filepath.Join(dir, fmt.Sprintf("data_batch_%d.bin", f+1))
		if err := os.WriteFile(name, records(f*n/5, (f+1)*n/5-f*n/5), 0o644); err != nil {
			return err
		}
	}
	return os.WriteFile(filepath.Join(dir, "test_batch.bin"), records(0, test), 0o644)
}
