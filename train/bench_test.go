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

// benchRig is CIFAR ResNet-18 at batch 128 on -bench-threads threads, with a train-step
// session for a loss and the attack session, as Fit wires them.
type benchRig struct {
	f    *fitter
	step *ortsession.Session
}

func newBenchRig(b *testing.B, loss string) *benchRig {
	b.Helper()
	ortest.Init(b)
	const batch = 128
	image := []int64{3, 32, 32}
	net, err := models.ByName("resnet18", models.Options{Classes: 10, ImageSize: 32, Width: 1})
	if err != nil {
		b.Fatal(err)
	}
	head, err := losses.ByName(loss, losses.Options{HEL: losses.HELOpts{}})
	if err != nil {
		b.Fatal(err)
	}
	opts := ort.Options{Threads: *benchThreads}
	f := &fitter{cfg: Config{Batch: batch}, pgd: attacks.PGD{Eps: 0.031, Alpha: 0.003, Steps: 10, Start: attacks.StartNormal},
		classes: 10, image: image, net: net, opts: opts, steps: map[string]*ortsession.Session{}}
	must := func(err error) {
		if err != nil {
			b.Fatal(err)
		}
	}
	f.x, err = ort.NewZeros[float32](batch, 3, 32, 32)
	must(err)
	f.y, err = ort.NewZeros[int64](batch)
	must(err)
	g, err := graphs.TrainStepGraph(graphs.GraphSpec{Name: "bench", Batch: batch, Image: image, Net: net, Loss: head})
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
	return &benchRig{f: f, step: step}
}

func (r *benchRig) close() { r.step.Close(); r.f.close() }

// BenchmarkStep measures training steps of CIFAR ResNet-18, batch 128,
// 2 threads: "clean" is one CE step on clean images (TAET stage 1), "taet"
// one stage-2 step (PGD-10 through the input-gradient graph, then a HEL
// step). One untimed step first, as bench/torch/bench.py does: the
// runtime's first run grows its memory arena and is several times slower.
// Compare with bench/compare.sh.
func BenchmarkStep(b *testing.B) {
	for _, tc := range []struct {
		name, loss string
		pgd        bool
	}{{"clean", "ce", false}, {"taet", "hel", true}} {
		b.Run(tc.name, func(b *testing.B) {
			r := newBenchRig(b, tc.loss)
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
			b.ReportMetric(float64((n-1)*128)/b.Elapsed().Seconds(), "img/s")
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
	net, err := models.ByName("resnet18", models.Options{Classes: 10, ImageSize: 32, Width: 1})
	if err != nil {
		b.Fatal(err)
	}
	info, err := graphs.TrainStepGraph(graphs.GraphSpec{Name: "p", Batch: 1, Image: []int64{3, 32, 32}, Net: net, Loss: losses.CrossEntropy})
	if err != nil {
		b.Fatal(err)
	}
	set := ortoracle.NewSet(net, graphs.InitParams(info.Params, 1), []int64{3, 32, 32}, 128, 10, 0, ort.Options{Threads: *benchThreads})
	defer set.Close()
	o, err := set.Get("ce")
	if err != nil {
		b.Fatal(err)
	}
	rng := rand.New(rand.NewPCG(3, 3))
	x := make([]float32, 128*3*32*32)
	for i := range x {
		x[i] = rng.Float32()
	}
	y := make([]int64, 128)
	logits, adv := make([]float32, 128*10), make([]float32, len(x))
	for _, tc := range []struct {
		name string
		run  func(i int) error
	}{
		{"forward", func(int) error { return o.Eval(x, y, nil, logits, nil) }},
		{"pgd-20", func(i int) error {
			a := attacks.PGD{Eps: 8.0 / 255, Alpha: 1.0 / 255, Steps: 20, Start: attacks.StartUniform}
			return a.Perturb(o, x, y, attacks.Seeds(uint64(i), 0, 128), adv)
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
			b.ReportMetric(float64((n-1)*128)/b.Elapsed().Seconds(), "img/s")
		})
	}
}
