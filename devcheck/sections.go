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
	"github.com/taet-ml/taet/losses"
	"github.com/taet-ml/taet/onnx/ort"
	"github.com/taet-ml/taet/train"
)

// PGDAgreement is the least fraction of images whose PGD-20 prediction on
// the device must equal the CPU's: PGD's sign steps turn tiny gradient
// differences into different pixels, so the iterates may part ways.
const PGDAgreement = 0.9

// pgd runs PGD-20 (ε 8/255, α 2/255, from the clean image) on the CPU and on
// the device against labels the network gets right (the CPU's clean
// predictions), and compares the predictions at the adversarial images.
func pgd(r *Report, sz Size, cpu, dev ort.Options) error {
	const classes = 10
	net, err := network(sz, classes)
	if err != nil {
		return err
	}
	values := graphs.InitParams(mustParams(net, sz), 2)
	x, _ := batch(sz, classes, 2)
	image := []int64{3, int64(sz.Image), int64(sz.Image)}
	attack := attacks.PGD{Eps: 8.0 / 255, Alpha: 2.0 / 255, Steps: 20, Start: attacks.StartNone}
	seeds := attacks.Seeds(1, 0, sz.Batch)
	var y []int64
	var res [2]*attacks.Result
	for i, opts := range []ort.Options{cpu, dev} {
		set := train.NewOracleSet(net, values, image, sz.Batch, classes, 0, opts)
		if y == nil { // the CPU's clean predictions: every image starts correct
			o, err := set.Get("ce")
			if err != nil {
				set.Close()
				return fmt.Errorf("%s: %w", opts.Device, err)
			}
			logits := make([]float32, sz.Batch*classes)
			if err := o.Eval(x, make([]int64, sz.Batch), nil, logits, nil); err != nil {
				set.Close()
				return fmt.Errorf("%s: %w", opts.Device, err)
			}
			y = argmax(logits, classes)
		}
		res[i], err = attack.Run(set.Get, x, y, seeds)
		set.Close()
		if err != nil {
			return fmt.Errorf("%s: %w", opts.Device, err)
		}
	}
	agree, pixels := 0, 0
	for i := range y {
		if res[0].Pred[i] == res[1].Pred[i] {
			agree++
		}
	}
	for i, a := range res[0].Adv {
		if math.Abs(float64(a-res[1].Adv[i])) > 1e-4 {
			pixels++
		}
	}
	robust := func(pred []int64) float64 {
		n := 0
		for i := range y {
			if pred[i] == y[i] {
				n++
			}
		}
		return float64(n) / float64(len(y))
	}
	r.Tolerance = 1 - PGDAgreement
	r.Metrics["prediction_agreement"] = float64(agree) / float64(len(y))
	r.Metrics["pixels_differing"] = float64(pixels) / float64(len(res[0].Adv))
	r.Metrics["robust_accuracy_cpu"], r.Metrics["robust_accuracy_device"] = robust(res[0].Pred), robust(res[1].Pred)
	if r.Metrics["prediction_agreement"] < PGDAgreement {
		return fmt.Errorf("PGD-20 predictions agree on %d of %d images, want at least %.0f%%", agree, len(y), 100*PGDAgreement)
	}
	return nil
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

// throughput measures images per second on the device of the clean CE
// training step, the TAET stage-2 step (PGD-10 on an oracle session built
// for the step with the current parameters, as fit does, then the HEL
// step) and PGD-20 (20 gradient evaluations and a clean one).
func throughput(r *Report, sz Size, reps int, dev ort.Options) error {
	const classes = 10
	net, err := network(sz, classes)
	if err != nil {
		return err
	}
	taet, err := train.Preset("taet")
	if err != nil {
		return err
	}
	variant, err := losses.ParseHELVariant(taet.HEL.Variant)
	if err != nil {
		return err
	}
	hel, err := losses.ByName("hel", losses.Options{HEL: losses.HELOpts{Alpha: float32(taet.HEL.Alpha), Beta: float32(taet.HEL.Beta), Gamma: float32(taet.HEL.Gamma), Variant: variant}})
	if err != nil {
		return err
	}
	x, y := batch(sz, classes, 3)
	image := []int64{3, int64(sz.Image), int64(sz.Image)}
	imgPerSec := func(name string, step func() error) error {
		if err := step(); err != nil { // warm-up: the first run allocates and tunes
			return fmt.Errorf("%s: %w", name, err)
		}
		start := time.Now()
		for range reps {
			if err := step(); err != nil {
				return fmt.Errorf("%s: %w", name, err)
			}
		}
		r.Metrics[name+"_img_per_s"] = float64(reps*sz.Batch) / time.Since(start).Seconds()
		return nil
	}

	ce, err := graphs.TrainStepGraph(spec("clean", sz, net, losses.CrossEntropy))
	if err != nil {
		return err
	}
	values := graphs.InitParams(ce.Params, 3)
	run, err := newRunner(ce.Model, dev, x, y, values)
	if err != nil {
		return err
	}
	err = imgPerSec("clean_step", run.run)
	run.close()
	if err != nil {
		return err
	}

	g, err := graphs.TrainStepGraph(spec("taet-stage2", sz, net, hel))
	if err != nil {
		return err
	}
	adv := slices.Clone(x)
	run, err = newRunner(g.Model, dev, adv, y, values)
	if err != nil {
		return err
	}
	defer run.close()
	attack := attacks.PGD{Eps: taet.PGD.Eps, Alpha: taet.PGD.Step, Steps: taet.PGD.Steps, Start: attacks.StartNormal}
	err = imgPerSec("taet_stage2_step", func() error {
		set := train.NewOracleSet(net, values, image, sz.Batch, classes, 0, dev)
		defer set.Close()
		res, err := attack.Run(set.Get, x, y, attacks.Seeds(3, 0, sz.Batch))
		if err != nil {
			return err
		}
		copy(adv, res.Adv)
		return run.run()
	})
	if err != nil {
		return err
	}

	set := train.NewOracleSet(net, values, image, sz.Batch, classes, 0, dev)
	defer set.Close()
	o, err := set.Get("ce")
	if err != nil {
		return err
	}
	logits, grad := make([]float32, sz.Batch*classes), make([]float32, len(x))
	return imgPerSec("pgd20", func() error {
		for range 20 {
			if err := o.Eval(x, y, nil, logits, grad); err != nil {
				return err
			}
		}
		return o.Eval(x, y, nil, logits, nil)
	})
}

// fitResume fits a CIFAR ResNet-18 of sz's width and batch for one epoch on
// the device (synthetic CIFAR-10 data, 8 batches), interrupts it there, and
// resumes the checkpoint on the CPU for a second epoch.
func fitResume(ctx context.Context, r *Report, sz Size, dev ort.Device, threads int) error {
	dir, err := os.MkdirTemp("", "taet-devcheck-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	dataDir := filepath.Join(dir, "cifar10")
	if err := writeCIFAR10(dataDir, 8*sz.Batch, 2*sz.Batch); err != nil {
		return err
	}
	cfg, err := train.Preset("at")
	if err != nil {
		return err
	}
	cfg.Method, cfg.Stages = "custom", []train.Stage{{Name: "ce", Epochs: 2}}
	cfg.Dataset, cfg.DataPath, cfg.IR, cfg.Width, cfg.Batch = "cifar10", dataDir, 1, sz.Width, sz.Batch
	cfg.EvalSize, cfg.Augment, cfg.Threads, cfg.Device = sz.Batch, false, threads, dev.String()
	run := filepath.Join(dir, "run")

	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	first := &epochObserver{done: cancel}
	if _, err := train.Fit(ctx, cfg, run, false, first); !errors.Is(err, context.Canceled) {
		return fmt.Errorf("fit on %s: %v (want it interrupted after epoch 1)", dev, err)
	}
	cfg.Device = "cpu"
	res, err := train.Fit(context.WithoutCancel(ctx), cfg, run, true, &epochObserver{})
	if err != nil {
		return fmt.Errorf("resume on cpu: %w", err)
	}
	if len(res.Metrics) != 2 || len(first.metrics) != 1 {
		return fmt.Errorf("epochs: %d on %s then %d in all after the resume, want 1 and 2", len(first.metrics), dev, len(res.Metrics))
	}
	r.Metrics["device_epoch_loss"], r.Metrics["cpu_epoch_loss"] = res.Metrics[0].TrainLoss, res.Metrics[1].TrainLoss
	r.Metrics["device_img_per_s"] = res.Metrics[0].ImgPerSec
	for _, l := range []float64{res.Metrics[0].TrainLoss, res.Metrics[1].TrainLoss} {
		if math.IsNaN(l) || math.IsInf(l, 0) {
			return fmt.Errorf("training loss %v", l)
		}
	}
	return nil
}

// epochObserver records finished epochs and calls done after each.
type epochObserver struct {
	metrics []train.EpochMetrics
	done    func()
}

func (*epochObserver) Started(train.Run)        {}
func (*epochObserver) StepDone(train.StepEvent) {}
func (*epochObserver) Evaluating(int)           {}
func (o *epochObserver) EpochDone(m train.EpochMetrics) {
	o.metrics = append(o.metrics, m)
	if o.done != nil {
		o.done()
	}
}

// writeCIFAR10 writes a CIFAR-10 binary directory of train and test images
// of 32×32 noise (classes cycling 0..9), train split over its five files.
func writeCIFAR10(dir string, train, test int) error {
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
		if err := os.WriteFile(name, records(f*train/5, (f+1)*train/5-f*train/5), 0o644); err != nil {
			return err
		}
	}
	return os.WriteFile(filepath.Join(dir, "test_batch.bin"), records(0, test), 0o644)
}
