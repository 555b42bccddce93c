// Package devcheck verifies an execution provider (a CUDA GPU) against the
// CPU in a few short sections, each returning a Report instead of failing
// the rest: a training step's loss, gradients and BatchNorm statistics,
// PGD-20, throughput of the steps training and evaluation spend their time
// in, and a short fit whose checkpoint is resumed on the CPU.
// scripts/gpu-check.sh runs every section (through taetctl device-check)
// and collects the reports into one JSON file.
package devcheck

import (
	"context"
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"strings"
	"time"

	"github.com/taet-ml/taet/graphs"
	"github.com/taet-ml/taet/losses"
	"github.com/taet-ml/taet/models"
	"github.com/taet-ml/taet/onnx/ort"
)

// Size is the network and batch of a section: a CIFAR ResNet-18 of the
// given width on Image×Image RGB images.
type Size struct {
	Batch int     `json:"batch"`
	Width float64 `json:"width"`
	Image int     `json:"image"`
}

// Sizes are the sizes the sections run at.
type Sizes struct {
	Compare Size `json:"compare"` // train-step and pgd comparisons
	Speed   Size `json:"speed"`   // throughput and fit-resume (Image 32: they fit CIFAR-10)
	Reps    int  `json:"reps"`    // timed repetitions per throughput figure
}

// Full is what the GPU verification runs: comparisons on a 1/8-width
// ResNet-18, throughput of the full CIFAR ResNet-18 at batch 128.
var Full = Sizes{Compare: Size{Batch: 16, Width: 0.125, Image: 32}, Speed: Size{Batch: 128, Width: 1, Image: 32}, Reps: 5}

// Small runs every section in seconds on a CPU (scripts/gpu-check.sh --dry-run).
var Small = Sizes{Compare: Size{Batch: 4, Width: 1.0 / 16, Image: 16}, Speed: Size{Batch: 8, Width: 1.0 / 16, Image: 32}, Reps: 2}

// Tolerance is the largest difference allowed between the device's and the
// CPU's tensors, relative to max(1, largest |CPU value|) of each tensor. It
// leaves room for the CUDA provider's TF32 convolutions and matrix products
// (10-bit mantissa) and its different summation orders.
const Tolerance = 2e-2

// Report is one section's outcome.
type Report struct {
	Section   string             `json:"section"`
	Device    string             `json:"device"`
	Reference string             `json:"reference,omitempty"` // what it was compared with
	OK        bool               `json:"ok"`
	Error     string             `json:"error,omitempty"`
	Tolerance float64            `json:"tolerance,omitempty"`
	Metrics   map[string]float64 `json:"metrics,omitempty"`
	Seconds   float64            `json:"seconds"`
}

// Sections are the section names Run knows, in the order the script runs them.
var Sections = []string{"train-step", "pgd", "throughput", "fit-resume"}

// Run runs one section on dev, comparing with the CPU (threads intra-op
// threads) where the section compares. Errors and panics become a Report
// with OK false.
func Run(ctx context.Context, section string, dev ort.Device, sz Sizes, threads int) (r Report) {
	r = Report{Section: section, Device: dev.String(), Metrics: map[string]float64{}}
	start := time.Now()
	defer func() {
		if p := recover(); p != nil {
			r.OK, r.Error = false, fmt.Sprintf("panic: %v", p)
		}
		r.Seconds = time.Since(start).Seconds()
	}()
	cpu := ort.Options{Threads: threads}
	on := ort.Options{Threads: threads, Device: dev}
	var err error
	switch section {
	case "train-step":
		r.Reference, r.Tolerance = "cpu", Tolerance
		err = trainStep(&r, sz.Compare, cpu, on)
	case "pgd":
		r.Reference, r.Tolerance = "cpu", Tolerance
		err = pgd(&r, sz.Compare, cpu, on)
	case "throughput":
		err = throughput(ctx, &r, sz.Speed, sz.Reps, dev, threads)
	case "fit-resume":
		r.Reference = "cpu"
		err = fitResume(ctx, &r, sz.Speed, dev, threads)
	default:
		err = fmt.Errorf("unknown section %q (want one of %s)", section, strings.Join(Sections, ", "))
	}
	r.OK = err == nil
	if err != nil {
		r.Error = err.Error()
	}
	return r
}

// network returns the ResNet-18 of sz and its initial parameters.
func network(sz Size, classes int) (graphs.Net, error) {
	return models.ByName("resnet18", models.Options{Classes: classes, ImageSize: sz.Image, Width: sz.Width})
}

// spec is the graph spec of sz with loss head.
func spec(name string, sz Size, net graphs.Net, head graphs.LossHead) graphs.GraphSpec {
	return graphs.GraphSpec{Name: name, Batch: int64(sz.Batch), Image: []int64{3, int64(sz.Image), int64(sz.Image)}, Net: net, Loss: head}
}

// batch returns seeded images in [0,1] and labels of sz.
func batch(sz Size, classes int, seed uint64) ([]float32, []int64) {
	rng := rand.New(rand.NewPCG(seed, 1))
	x := make([]float32, sz.Batch*3*sz.Image*sz.Image)
	for i := range x {
		x[i] = rng.Float32()
	}
	y := make([]int64, sz.Batch)
	for i := range y {
		y[i] = int64(i % classes)
	}
	return x, y
}

// runner is a session with its inputs and float32 outputs allocated.
type runner struct {
	s       *ort.Session
	inputs  []ort.Value
	outputs []*ort.Tensor[float32]
	names   []string
}

// newRunner creates a session for m whose inputs are x, y and then the
// parameters in m's input order, taken from values.
func newRunner(m *graphs.Model, opts ort.Options, x []float32, y []int64, values map[string][]float32) (_ *runner, err error) {
	r := &runner{names: m.OutputNames()}
	defer func() {
		if err != nil {
			r.close()
		}
	}()
	for _, in := range m.Inputs {
		var v ort.Value
		switch in.Name {
		case "x":
			v, err = ort.NewTensor(in.Shape, x)
		case "y":
			v, err = ort.NewTensor(in.Shape, y)
		default:
			v, err = ort.NewTensor(in.Shape, values[in.Name])
		}
		if err != nil {
			return nil, fmt.Errorf("input %s: %w", in.Name, err)
		}
		r.inputs = append(r.inputs, v)
	}
	for _, o := range m.Outputs {
		t, err := ort.NewZeros[float32](o.Shape...)
		if err != nil {
			return nil, err
		}
		r.outputs = append(r.outputs, t)
	}
	b, err := m.Bytes()
	if err != nil {
		return nil, err
	}
	r.s, err = ort.NewSession(b, m.InputNames(), m.OutputNames(), opts)
	return r, err
}

func (r *runner) run() error {
	outs := make([]ort.Value, len(r.outputs))
	for i, o := range r.outputs {
		outs[i] = o
	}
	return r.s.Run(r.inputs, outs)
}

// output returns the output called name.
func (r *runner) output(name string) []float32 { return r.outputs[slices.Index(r.names, name)].Data() }

func (r *runner) close() {
	if r.s != nil {
		r.s.Close()
	}
	for _, v := range r.inputs {
		v.Close()
	}
	for _, o := range r.outputs {
		o.Close()
	}
}

// trainStep runs one CE training step on the CPU and on the device and
// compares loss, logits, every gradient and every new running statistic.
func trainStep(r *Report, sz Size, cpu, dev ort.Options) error {
	const classes = 10
	net, err := network(sz, classes)
	if err != nil {
		return err
	}
	g, err := graphs.TrainStepGraph(spec("train-step", sz, net, losses.CrossEntropy))
	if err != nil {
		return err
	}
	values := graphs.InitParams(g.Params, 1)
	x, y := batch(sz, classes, 1)
	var outs [2]map[string][]float32
	for i, opts := range []ort.Options{cpu, dev} {
		run, err := newRunner(g.Model, opts, x, y, values)
		if err != nil {
			return fmt.Errorf("%s: %w", opts.Device, err)
		}
		err = run.run()
		outs[i] = map[string][]float32{}
		for _, name := range run.names {
			outs[i][name] = slices.Clone(run.output(name))
		}
		run.close()
		if err != nil {
			return fmt.Errorf("%s: %w", opts.Device, err)
		}
	}
	return compare(r, outs[0], outs[1], map[string]string{"loss": "loss", "logits": "logits", "_grad": "grad", "_updated": "bn"})
}

// compare records, per group of outputs (a name or a suffix → group), the
// largest relative difference (see Tolerance), and fails naming the worst
// tensor when it is over Tolerance.
func compare(r *Report, ref, got map[string][]float32, groups map[string]string) error {
	worst, worstName := 0.0, ""
	for name, a := range ref {
		group := ""
		for k, g := range groups {
			if name == k || strings.HasSuffix(name, k) {
				group = g
			}
		}
		d := relDiff(a, got[name])
		key := "max_rel_diff_" + group
		r.Metrics[key] = max(r.Metrics[key], d)
		if d > worst || math.IsNaN(d) {
			worst, worstName = d, name
		}
	}
	if !(worst <= Tolerance) {
		return fmt.Errorf("%s differs from the CPU by %.3g (relative), over the tolerance %g", worstName, worst, Tolerance)
	}
	return nil
}

// relDiff returns max|a−b| / max(1, max|a|), NaN if the lengths differ or b
// holds a NaN where a does not.
func relDiff(a, b []float32) float64 {
	if len(a) != len(b) {
		return math.NaN()
	}
	var diff, scale float64 = 0, 1
	for i := range a {
		scale = max(scale, math.Abs(float64(a[i])))
		d := math.Abs(float64(a[i]) - float64(b[i]))
		if math.IsNaN(d) && !math.IsNaN(float64(a[i])) {
			return math.NaN()
		}
		diff = max(diff, d)
	}
	return diff / scale
}
