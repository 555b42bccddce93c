package train

import (
	"flag"
	"math/rand/v2"
	"testing"

	"github.com/taet-ml/taet/attacks"
	"github.com/taet-ml/taet/graphs"
	"github.com/taet-ml/taet/internal/ortest"
	"github.com/taet-ml/taet/internal/ortsession"
	"github.com/taet-ml/taet/losses"
	"github.com/taet-ml/taet/models"
	"github.com/taet-ml/taet/onnx/ort"
	"github.com/taet-ml/taet/ortoracle"
)

// benchThreads is the intra-op thread count of the benchmarks
// (bench/compare.sh sets it to match PyTorch's).
var benchThreads = flag.Int("bench-threads", 2, "intra-op threads of the train benchmarks")

// benchImage is the benchmarks' input: CIFAR's [3, 32, 32].
var benchImage = []int64{3, 32, 32}

// benchNet returns models.ByName's CIFAR net called model: 10 classes,
// 32×32 images, width 1.
func benchNet(b *testing.B, model string) graphs.Net {
	b.Helper()
	net, err := models.ByName(model, models.Options{Classes: 10, ImageSize: 32, Width: 1})
	if err != nil {
		b.Fatal(err)
	}
	return net
}

// reportRow reports what bench/compare.sh reads besides the time: images/s
// over n images, the batch and the net's trainable parameters (which
// compare.sh checks against PyTorch's).
func reportRow(b *testing.B, images, batch int, params []graphs.ParamInfo) {
	b.ReportMetric(float64(images)/b.Elapsed().Seconds(), "img/s")
	b.ReportMetric(float64(batch), "batch")
	b.ReportMetric(float64(models.ParamCount(params)), "params")
}

// benchRig is a CIFAR model (benchNet) at a batch on -bench-threads
// threads, with a train-step session for a loss and the attack session, as
// Fit wires them.
type benchRig struct {
	f      *fitter
	step   *ortsession.Session
	params []graphs.ParamInfo
}

func newBenchRig(b *testing.B, model string, batch int, loss string) *benchRig {
	b.Helper()
	ortest.Init(b)
	net := benchNet(b, model)
	head, err := losses.ByName(loss, losses.Options{HEL: losses.HELOpts{}})
	if err != nil {
		b.Fatal(err)
	}
	opts := ort.Options{Threads: *benchThreads}
	f := &fitter{cfg: Config{Batch: batch}, pgd: attacks.PGD{Eps: 0.031, Alpha: 0.003, Steps: 10, Start: attacks.StartNormal},
		classes: 10, image: benchImage, net: net, opts: opts, steps: map[string]*ortsession.Session{}}
	must := func(err error) {
		if err != nil {
			b.Fatal(err)
		}
	}
	f.x, err = ort.NewZeros[float32](append([]int64{int64(batch)}, benchImage...)...)
	must(err)
	f.y, err = ort.NewZeros[int64](int64(batch))
	must(err)
	g, err := graphs.TrainStepGraph(graphs.GraphSpec{Name: "bench", Batch: int64(batch), Image: benchImage, Net: net, Loss: head})
	must(err)
	f.p, err = newParams(g.Params, graphs.InitParams(g.Params, 1))
	must(err)
	step, err := ortsession.New(g.Model, opts, append([]ort.Value{f.x, f.y}, f.p.values()...))
	must(err)
	rng := rand.New(rand.NewPCG(2, 2))
	for i := range f.x.Data() {
		f.x.Data()[i] = rng.Float32()
	}
	for i := range f.y.Data() {
		f.y.Data()[i] = int64(i % 10)
	}
	return &benchRig{f: f, step: step, params: g.Params}
}

func (r *benchRig) close() { r.step.Close(); r.f.close() }

// benchSteps are BenchmarkStep's sub-benchmarks, rows of bench/compare.sh
// of the same names; bench/torch/bench.py's ROWS has the same models and
// batches, and compare.sh checks that both sides report the same batch and
// parameter count. ResNet-50 runs at batch 32 to keep a round of
// compare.sh within minutes: its stage-2 step is eleven passes forward and
// backward of a net with 2.3 times ResNet-18's multiply-adds per image
// (1.30 G against 0.56 G at 32×32).
var benchSteps = []struct {
	name, model string
	batch       int
	loss        string
	pgd         bool // a TAET stage-2 step: PGD-10 first
}{
	{"clean", "resnet18", 128, "ce", false},
	{"taet", "resnet18", 128, "hel", true},
	{"resnet50-clean", "resnet50", 32, "ce", false},
	{"resnet50-taet", "resnet50", 32, "hel", true},
	{"vit-clean", "vit", 128, "ce", false},
}

// BenchmarkStep measures training steps of the CIFAR models (benchSteps)
// on 2 threads: "clean" rows are one CE step on clean images (TAET stage
// 1), "taet" rows one stage-2 step (PGD-10 through the input-gradient
// graph, then a HEL step). One untimed step first, as bench/torch/bench.py
// does: the runtime's first run grows its memory arena and is several times
// slower. Compare with bench/compare.sh.
func BenchmarkStep(b *testing.B) {
	for _, tc := range benchSteps {
		b.Run(tc.name, func(b *testing.B) {
			r := newBenchRig(b, tc.model, tc.batch, tc.loss)
			defer r.close()
			step := func(n int) {
				if tc.pgd {
					if err := r.f.adversarial(Stage{Name: tc.loss}, 0, n); err != nil {
						b.Fatal(err)
					}
				}
				if err := r.step.Run(); err != nil {
					b.Fatal(err)
				}
				r.f.update(r.step, 0.01)
			}
			step(0) // warm-up, untimed: b.Loop starts the clock
			r.step.ResetTime()
			r.f.attackRun = 0
			n := 1
			for b.Loop() {
				step(n)
				n++
			}
			reportRow(b, (n-1)*tc.batch, tc.batch, r.params)
			b.ReportMetric(1-(r.step.RuntimeTime()+r.f.attackRun).Seconds()/b.Elapsed().Seconds(), "go-overhead")
		})
	}
}

// BenchmarkPGD20 measures `taetctl eval`'s PGD-20 (step 1/255, random
// start) on CIFAR ResNet-18, batch 128, 2 threads, with the parameters
// stored in the graph, and the forward pass alone, each after one untimed
// run. Compare with bench/compare.sh.
func BenchmarkPGD20(b *testing.B) {
	ortest.Init(b)
	const batch = 128
	net := benchNet(b, "resnet18")
	info, err := graphs.TrainStepGraph(graphs.GraphSpec{Name: "p", Batch: 1, Image: benchImage, Net: net, Loss: losses.CrossEntropy})
	if err != nil {
		b.Fatal(err)
	}
	set := ortoracle.NewSet(net, graphs.InitParams(info.Params, 1), benchImage, batch, 10, 0, ort.Options{Threads: *benchThreads})
	defer set.Close()
	o, err := set.Get("ce")
	if err != nil {
		b.Fatal(err)
	}
	rng := rand.New(rand.NewPCG(3, 3))
	x := make([]float32, batch*3*32*32)
	for i := range x {
		x[i] = rng.Float32()
	}
	y := make([]int64, batch)
	logits, adv := make([]float32, batch*10), make([]float32, len(x))
	for _, tc := range []struct {
		name string
		run  func(i int) error
	}{
		{"forward", func(int) error { return o.Eval(x, y, nil, logits, nil) }},
		{"pgd-20", func(i int) error {
			a := attacks.PGD{Eps: 8.0 / 255, Alpha: 1.0 / 255, Steps: 20, Start: attacks.StartUniform}
			return a.Perturb(o, x, y, attacks.Seeds(uint64(i), 0, batch), adv)
		}},
	} {
		b.Run(tc.name, func(b *testing.B) {
			if err := tc.run(0); err != nil { // warm-up, untimed
				b.Fatal(err)
			}
			n := 1
			for b.Loop() {
				if err := tc.run(n); err != nil {
					b.Fatal(err)
				}
				n++
			}
			reportRow(b, (n-1)*batch, batch, info.Params)
		})
	}
}
