package lower_test

import (
	"cmp"
	"encoding/json"
	"maps"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"syscall"
	"testing"
	"time"

	"github.com/taet-ml/taet/graphs"
	"github.com/taet-ml/taet/graphs/lower"
	"github.com/taet-ml/taet/internal/ortest"
	"github.com/taet-ml/taet/losses"
	"github.com/taet-ml/taet/models"
	"github.com/taet-ml/taet/onnx"
	"github.com/taet-ml/taet/onnx/ort"
)

// BenchmarkCIFARResNet18 times whole graphs of CIFAR ResNet-18 at batch 128
// on 2 threads, as written ("standard") and lowered ("blocked", "onednn"):
// the train step and the input-gradient graph of one PGD iteration (weights
// as inputs).
func BenchmarkCIFARResNet18(b *testing.B) {
	ortest.Init(b)
	step, spec := cifarStep(b, "resnet18", 128)
	for _, k := range []ort.CPUKernels{ort.Standard, ort.Blocked, ort.OneDNN} {
		b.Run("train-step/"+k.String(), func(b *testing.B) { runGraph(b, step, k) })
	}
	attack, err := graphs.InputGradGraph(spec, nil)
	if err != nil {
		b.Fatal(err)
	}
	for _, k := range []ort.CPUKernels{ort.Standard, ort.Blocked} {
		b.Run("input-grad/"+k.String(), func(b *testing.B) { runGraph(b, attack, k) })
	}
	// The weights stored in the graph: the runtime blocks the convolutions and
	// folds BatchNorm into them itself.
	stored, err := graphs.InputGradGraph(spec, graphs.InitParams(attack.Params, 1))
	if err != nil {
		b.Fatal(err)
	}
	for _, k := range []ort.CPUKernels{ort.Standard, ort.OneDNN} {
		b.Run("input-grad/initializers/"+k.String(), func(b *testing.B) { runGraph(b, stored, k) })
	}
}

// runBuilt runs the graph whose only output out returns, with kernels k.
func runBuilt(b *testing.B, k ort.CPUKernels, out func(bd *graphs.Builder) *graphs.Value) {
	model, err := graphs.Build("candidate", func(bd *graphs.Builder) { bd.Output("out", out(bd)) })
	if err != nil {
		b.Fatal(err)
	}
	runGraph(b, &graphs.Assembled{Model: model}, k)
}

func runGraph(b *testing.B, g *graphs.Assembled, k ort.CPUKernels) {
	runGraphOpts(b, g, ort.Options{Threads: 2, Kernels: k})
}

func runGraphOpts(b *testing.B, g *graphs.Assembled, opts ort.Options) {
	ortest.Init(b)
	bytes, err := lower.ForSession(g.Model, opts)
	if err != nil {
		b.Fatal(err)
	}
	s, err := ort.NewSession(bytes, g.InputNames(), g.OutputNames(), opts)
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	rng := rand.New(rand.NewPCG(1, 1))
	values := graphs.InitParams(g.Params, 1)
	var ins, outs []ort.Value
	for _, in := range g.Inputs {
		var v ort.Value
		if in.Name == "y" {
			y, _ := ort.NewZeros[int64](in.Shape...)
			for i := range y.Data() {
				y.Data()[i] = int64(i % 10)
			}
			v = y
		} else if p, ok := values[in.Name]; ok {
			v, err = ort.NewTensor(in.Shape, p)
		} else {
			t, _ := ort.NewZeros[float32](in.Shape...)
			for i := range t.Data() {
				t.Data()[i] = rng.Float32()
			}
			v = t
		}
		if err != nil {
			b.Fatal(err)
		}
		ins = append(ins, v)
	}
	for _, o := range g.Outputs {
		t, err := ort.NewZeros[float32](o.Shape...)
		if err != nil {
			b.Fatal(err)
		}
		outs = append(outs, t)
	}
	if err := s.Run(ins, outs); err != nil { // warm-up: the runtime's arena grows on the first run
		b.Fatal(err)
	}
	cpu0, sys0 := cpuTime()
	for b.Loop() {
		if err := s.Run(ins, outs); err != nil {
			b.Fatal(err)
		}
	}
	for _, in := range g.Inputs {
		if in.Name == "x" { // the images of an assembled graph: [batch, C, H, W]
			b.ReportMetric(float64(int64(b.N)*in.Shape[0])/b.Elapsed().Seconds(), "img/s")
		}
	}
	cpu, sys := cpuTime()
	b.ReportMetric((cpu-cpu0).Seconds()/float64(b.N), "cpu-s/op")
	b.ReportMetric((sys-sys0).Seconds()/float64(b.N), "sys-s/op")
}

// BenchmarkWeightGrad times candidate weight gradients of a ResNet layer
// (N=128, 64→64 channels, 32×32, 3×3, stride 1, pad 1), lowered: "rule" is
// the Conv rule's subgraph, "rule/onednn" the same lowered to oneDNN's
// backward-weights convolution.
func BenchmarkWeightGrad(b *testing.B) {
	const n, c, m, hw = 128, 64, 64, 32
	pad := graphs.ConvOpts{Pads: []int64{1, 1, 1, 1}}
	rule := func(x, w, g *graphs.Value) *graphs.Value {
		y := graphs.Conv(x, w, nil, pad)
		return graphs.Grad(graphs.ReduceSum(graphs.Mul(y, g), nil, false), []*graphs.Value{w})[0]
	}
	b.Run("rule/onednn", func(b *testing.B) {
		runBuilt(b, ort.OneDNN, func(bd *graphs.Builder) *graphs.Value {
			return rule(bd.Input("x", onnx.Float, n, c, hw, hw), bd.Input("w", onnx.Float, m, c, 3, 3), bd.Input("g", onnx.Float, n, m, hw, hw))
		})
	})
	for _, tc := range []struct {
		name string
		out  func(x, w, g *graphs.Value) *graphs.Value
	}{
		{"forward", func(x, w, _ *graphs.Value) *graphs.Value { return graphs.Conv(x, w, nil, pad) }},
		{"rule", rule},
		{"flat-offsets", func(x, _, g *graphs.Value) *graphs.Value {
			const wp, hp = hw + 2, hw + 3 // one extra zero row keeps the last offset inside each image
			xt := graphs.Reshape(graphs.Transpose(graphs.Pad(x, []int64{0, 0, 1, 1, 0, 0, 2, 1}, "constant", 0), 1, 0, 2, 3), c, n, hp*wp)
			gt := graphs.Reshape(graphs.Transpose(graphs.Pad(g, []int64{0, 0, 0, 0, 0, 0, 0, 2}, "constant", 0), 1, 0, 2, 3), m, n*hw*wp)
			var parts []*graphs.Value
			for i := range int64(3) {
				for j := range int64(3) {
					off := i*wp + j
					xs := graphs.Reshape(graphs.Slice(xt, []int64{off}, []int64{off + hw*wp}, []int64{2}, nil), c, n*hw*wp)
					parts = append(parts, graphs.Gemm(gt, xs, nil, graphs.GemmOpts{TransB: true}))
				}
			}
			return graphs.Concat(0, parts...)
		}},
		{"one-gemm", func(x, _, g *graphs.Value) *graphs.Value {
			xt := graphs.Transpose(graphs.Pad(x, []int64{0, 0, 1, 1, 0, 0, 1, 1}, "constant", 0), 1, 0, 2, 3) // [C, N, Hp, Wp]
			gt := graphs.Reshape(graphs.Transpose(g, 1, 0, 2, 3), m, n*hw*hw)
			var cols []*graphs.Value
			for i := range int64(3) {
				for j := range int64(3) {
					cols = append(cols, graphs.Reshape(graphs.Slice(xt, []int64{i, j}, []int64{i + hw, j + hw}, []int64{2, 3}, nil), c, n*hw*hw))
				}
			}
			dw := graphs.Gemm(gt, graphs.Concat(0, cols...), nil, graphs.GemmOpts{TransB: true}) // [M, 9C]
			return graphs.Transpose(graphs.Reshape(dw, m, 9, c), 0, 2, 1)
		}},
		{"nhwc-slices-as-A", func(x, _, g *graphs.Value) *graphs.Value {
			xt := graphs.Transpose(graphs.Pad(x, []int64{0, 0, 1, 1, 0, 0, 1, 1}, "constant", 0), 1, 0, 2, 3) // [C, N, Hp, Wp]
			gn := graphs.Reshape(graphs.Transpose(g, 0, 2, 3, 1), n*hw*hw, m)                                 // [NP, M]
			var parts []*graphs.Value
			for i := range int64(3) {
				for j := range int64(3) {
					xs := graphs.Reshape(graphs.Slice(xt, []int64{i, j}, []int64{i + hw, j + hw}, []int64{2, 3}, nil), c, n*hw*hw)
					parts = append(parts, graphs.Gemm(xs, gn, nil, graphs.GemmOpts{})) // [C, M]
				}
			}
			return graphs.Concat(0, parts...)
		}},
		{"conv-over-batch", func(x, _, g *graphs.Value) *graphs.Value {
			xt := graphs.Transpose(graphs.Pad(x, []int64{0, 0, 1, 1, 0, 0, 1, 1}, "constant", 0), 1, 0, 2, 3) // [C, N, Hp, Wp]
			gt := graphs.Transpose(g, 1, 0, 2, 3)                                                             // [M, N, H, W]
			return graphs.Transpose(graphs.Conv(xt, gt, nil, graphs.ConvOpts{}), 1, 0, 2, 3)                  // [M, C, 3, 3]
		}},
	} {
		b.Run(tc.name, func(b *testing.B) {
			runBuilt(b, ort.Blocked, func(bd *graphs.Builder) *graphs.Value {
				return tc.out(bd.Input("x", onnx.Float, n, c, hw, hw), bd.Input("w", onnx.Float, m, c, 3, 3), bd.Input("g", onnx.Float, n, m, hw, hw))
			})
		})
	}
}

// cpuTime returns the process's CPU time so far, user and system together
// and system alone: under load from other processes the first tracks the
// work done better than the wall clock.
func cpuTime() (all, sys time.Duration) {
	var ru syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano()), time.Duration(ru.Stime.Nano())
}

// BenchmarkProfile runs the CIFAR ResNet-18 train step, the input-gradient
// graph of one PGD iteration with the weights stored in the graph, as the
// attacks build it, and the CIFAR ViT's train step (batch 128), and
// ResNet-50's (batch 32, as bench/compare.sh), on 2 threads, standard and lowered (blocked,
// onednn), with ONNX Runtime's profiler on, and logs where the time goes by
// op type. Run it with -bench Profile -benchtime 2x -v.
func BenchmarkProfile(b *testing.B) {
	step, spec := cifarStep(b, "resnet18", 128)
	stored, err := graphs.InputGradGraph(spec, graphs.InitParams(step.Params, 1))
	if err != nil {
		b.Fatal(err)
	}
	vitStep, _ := cifarStep(b, "vit", 128)
	r50Step, _ := cifarStep(b, "resnet50", 32)
	for _, g := range []struct {
		name string
		*graphs.Assembled
	}{{"train-step", step}, {"input-grad", stored}, {"vit-train-step", vitStep}, {"resnet50-train-step", r50Step}} {
		for _, k := range []ort.CPUKernels{ort.Standard, ort.Blocked, ort.OneDNN} {
			b.Run(g.name+"/"+k.String(), func(b *testing.B) {
				prefix := filepath.Join(b.TempDir(), "step")
				runGraphOpts(b, g.Assembled, ort.Options{Threads: 2, Kernels: k, ProfilePrefix: prefix})
				files, _ := filepath.Glob(prefix + "*.json")
				if len(files) == 0 {
					b.Fatal("no profile written")
				}
				logProfile(b, files[0], b.N+1)
			})
		}
	}
}

// cifarStep returns the CE train-step graph of model (width 1) on CIFAR-10
// images, [batch, 3, 32, 32] with 10 classes, and its spec.
func cifarStep(b *testing.B, model string, batch int64) (*graphs.Assembled, graphs.GraphSpec) {
	b.Helper()
	net, err := models.ByName(model, models.Options{Classes: 10, ImageSize: 32, Width: 1})
	if err != nil {
		b.Fatal(err)
	}
	spec := graphs.GraphSpec{Name: model, Batch: batch, Image: []int64{3, 32, 32}, Net: net, Loss: losses.CrossEntropy}
	g, err := graphs.TrainStepGraph(spec)
	if err != nil {
		b.Fatal(err)
	}
	return g, spec
}

// logProfile logs the op types that take the most time in an ONNX Runtime
// profile of runs runs: milliseconds per run and share of all node time.
func logProfile(b *testing.B, file string, runs int) {
	raw, err := os.ReadFile(file)
	if err != nil {
		b.Fatal(err)
	}
	var events []struct {
		Cat  string `json:"cat"`
		Dur  int64  `json:"dur"`
		Args struct {
			OpName string `json:"op_name"`
		} `json:"args"`
	}
	if err := json.Unmarshal(raw, &events); err != nil {
		b.Fatal(err)
	}
	byOp := map[string]int64{}
	var total int64
	for _, e := range events {
		if e.Cat == "Node" && e.Args.OpName != "" {
			byOp[e.Args.OpName] += e.Dur
			total += e.Dur
		}
	}
	ops := slices.SortedFunc(maps.Keys(byOp), func(x, y string) int { return cmp.Compare(byOp[y], byOp[x]) })
	b.Logf("all nodes %.0f ms per run", float64(total)/1000/float64(runs))
	for _, op := range ops[:min(16, len(ops))] {
		b.Logf("%-22s %7.1f ms %5.1f%%", op, float64(byOp[op])/1000/float64(runs), 100*float64(byOp[op])/float64(total))
	}
}

// BenchmarkBatchNormTraining times BatchNormalization in training mode on a
// ResNet layer's activations ([128, 64, 32, 32]): the ONNX op against the same
// statistics and normalisation written with reductions and elementwise ops.
func BenchmarkBatchNormTraining(b *testing.B) {
	const n, c, hw = 128, 64, 32
	for _, tc := range []struct {
		name string
		out  func(x, scale, bias *graphs.Value) *graphs.Value
	}{
		{"op", func(x, scale, bias *graphs.Value) *graphs.Value {
			// running statistics of their own: the runtime may update them in place
			bd := x.Builder()
			y, _, _ := graphs.BatchNormalizationTraining(x, scale, bias,
				bd.Constant([]int64{c}, make([]float32, c)), bd.Constant([]int64{c}, slices.Repeat([]float32{1}, c)), graphs.BatchNormOpts{})
			return y
		}},
		{"primitives", func(x, scale, bias *graphs.Value) *graphs.Value {
			axes := []int64{0, 2, 3}
			mean := graphs.ReduceMean(x, axes, true)
			d := graphs.Sub(x, mean)
			invStd := graphs.Reciprocal(graphs.Sqrt(graphs.Add(graphs.ReduceMean(graphs.Mul(d, d), axes, true), x.Builder().Scalar(1e-5))))
			a := graphs.Mul(graphs.Reshape(scale, 1, c, 1, 1), invStd)
			return graphs.Add(graphs.Mul(d, a), graphs.Reshape(bias, 1, c, 1, 1))
		}},
	} {
		b.Run(tc.name, func(b *testing.B) {
			runBuilt(b, ort.Standard, func(bd *graphs.Builder) *graphs.Value {
				return tc.out(bd.Input("x", onnx.Float, n, c, hw, hw), bd.Input("scale", onnx.Float, c), bd.Input("bias", onnx.Float, c))
			})
		})
	}
}

// BenchmarkInputGrad times the input gradient of ResNet layers (N=128) as
// the Conv rule builds it, lowered to the blocked kernels ("blocked": a
// Conv with flipped weights for stride 1, a ConvTranspose for stride 2) and
// on oneDNN's backward-data convolution ("onednn").
func BenchmarkInputGrad(b *testing.B) {
	for _, tc := range []struct {
		name              string
		c, m, hw, k, s, p int64
	}{
		{"3x3/64-64/32x32", 64, 64, 32, 3, 1, 1},
		{"3x3/stride2/64-128/32x32", 64, 128, 32, 3, 2, 1},
		{"1x1/stride2/64-128/32x32", 64, 128, 32, 1, 2, 0},
		{"3x3/128-128/16x16", 128, 128, 16, 3, 1, 1},
		{"3x3/256-256/8x8", 256, 256, 8, 3, 1, 1},
		{"3x3/512-512/4x4", 512, 512, 4, 3, 1, 1},
	} {
		model, err := graphs.Build("input-grad", func(bd *graphs.Builder) {
			x := bd.Input("x", onnx.Float, 128, tc.c, tc.hw, tc.hw)
			w := bd.Input("w", onnx.Float, tc.m, tc.c, tc.k, tc.k)
			y := graphs.Conv(x, w, nil, graphs.ConvOpts{Strides: []int64{tc.s, tc.s}, Pads: []int64{tc.p, tc.p, tc.p, tc.p}})
			g := bd.Input("g", onnx.Float, y.Shape()...)
			bd.Output("out", graphs.Grad(graphs.ReduceSum(graphs.Mul(y, g), nil, false), []*graphs.Value{x})[0])
		})
		if err != nil {
			b.Fatal(err)
		}
		b.Run(tc.name+"/blocked", func(b *testing.B) { runGraph(b, &graphs.Assembled{Model: model}, ort.Blocked) })
		onednn, n, err := lower.ConvGrads(model, func(graphs.ConvGrad) bool { return true })
		if err != nil || n != 1 {
			b.Fatalf("replaced %d gradients (%v), want 1", n, err)
		}
		b.Run(tc.name+"/onednn", func(b *testing.B) { runGraph(b, &graphs.Assembled{Model: onednn}, ort.OneDNN) })
	}
}

// BenchmarkReluGrad times a ReLU and its gradient on a ResNet layer's
// activations ([128, 64, 32, 32]): the rule's Where(Greater(y, 0), dy, 0)
// ("standard") and oneDNN's backward ReLU in one pass ("onednn").
func BenchmarkReluGrad(b *testing.B) {
	model, err := graphs.Build("relu-grad", func(bd *graphs.Builder) {
		x := bd.Input("x", onnx.Float, 128, 64, 32, 32)
		g := bd.Input("g", onnx.Float, 128, 64, 32, 32)
		y := graphs.Relu(x)
		bd.Output("out", graphs.Grad(graphs.ReduceSum(graphs.Mul(y, g), nil, false), []*graphs.Value{x})[0])
	})
	if err != nil {
		b.Fatal(err)
	}
	b.Run("standard", func(b *testing.B) { runGraph(b, &graphs.Assembled{Model: model}, ort.Blocked) })
	onednn, n, err := lower.ReluGrads(model)
	if err != nil || n != 1 {
		b.Fatalf("replaced %d gradients (%v), want 1", n, err)
	}
	b.Run("onednn", func(b *testing.B) { runGraph(b, &graphs.Assembled{Model: onednn}, ort.OneDNN) })
}
