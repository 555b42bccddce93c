package losses_test

import (
	"errors"
	"math"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"

	"github.com/taet-ml/taet/graphs"
	"github.com/taet-ml/taet/internal/gradtest"
	"github.com/taet-ml/taet/internal/ortest"
	"github.com/taet-ml/taet/losses"
	"github.com/taet-ml/taet/onnx"
)

// headCase is one loss evaluated by the agreement test: the graph and its
// Go reference on the same float32 inputs (widened to float64).
type headCase struct {
	name  string
	build func(z, y, target *graphs.Value) *graphs.Value
	want  func(z [][]float64, y, target []int64) []float64
}

func one(v float64) []float64 { return []float64{v} }

// headCases returns every loss with the parameters of one batch.
func headCases(counts []int, tau float32, kappa float32, weights losses.HELOpts) []headCase {
	defaults := losses.HELOpts{Alpha: 0.1, Beta: 0.1, Gamma: 0.1}
	present := func(o losses.HELOpts) losses.HELOpts { o.Variant = losses.PresentClasses; return o }
	hel := func(name string, o, ref losses.HELOpts) headCase {
		return headCase{name,
			func(z, y, _ *graphs.Value) *graphs.Value { return losses.HEL(z, y, o) },
			func(z [][]float64, y, _ []int64) []float64 { return one(refHEL(z, y, ref)) }}
	}
	return []headCase{
		{"ce", func(z, y, _ *graphs.Value) *graphs.Value { return losses.CrossEntropy(z, y) },
			func(z [][]float64, y, _ []int64) []float64 { return one(refMean(refCEPerSample(z, y))) }},
		{"ce-per-sample", func(z, y, _ *graphs.Value) *graphs.Value { return losses.CrossEntropyPerSample(z, y) },
			func(z [][]float64, y, _ []int64) []float64 { return refCEPerSample(z, y) }},
		{"balanced-softmax", func(z, y, _ *graphs.Value) *graphs.Value { return losses.BalancedSoftmax(z, y, counts, tau) },
			func(z [][]float64, y, _ []int64) []float64 {
				return one(refBalancedSoftmax(z, y, counts, float64(tau)))
			}},
		hel("hel/all-classes/defaults", losses.HELOpts{}, defaults),
		hel("hel/present-classes/defaults", losses.HELOpts{Variant: losses.PresentClasses}, present(defaults)),
		hel("hel/all-classes/weights", weights, weights),
		hel("hel/present-classes/weights", present(weights), present(weights)),
		{"cw", func(z, y, _ *graphs.Value) *graphs.Value { return losses.CW(z, y, kappa) },
			func(z [][]float64, y, _ []int64) []float64 { return one(refSum(refCWPerSample(z, y, float64(kappa)))) }},
		{"cw-per-sample", func(z, y, _ *graphs.Value) *graphs.Value { return losses.CWPerSample(z, y, kappa) },
			func(z [][]float64, y, _ []int64) []float64 { return refCWPerSample(z, y, float64(kappa)) }},
		{"dlr", func(z, y, _ *graphs.Value) *graphs.Value { return losses.DLR(z, y) },
			func(z [][]float64, y, _ []int64) []float64 { return one(refSum(refDLRPerSample(z, y))) }},
		{"dlr-per-sample", func(z, y, _ *graphs.Value) *graphs.Value { return losses.DLRPerSample(z, y) },
			func(z [][]float64, y, _ []int64) []float64 { return refDLRPerSample(z, y) }},
		{"dlr-targeted", losses.DLRTargeted,
			func(z [][]float64, y, t []int64) []float64 { return one(refSum(refDLRTargetedPerSample(z, y, t))) }},
		{"dlr-targeted-per-sample", losses.DLRTargetedPerSample,
			func(z [][]float64, y, t []int64) []float64 { return refDLRTargetedPerSample(z, y, t) }},
		{"margin-targeted", losses.MarginTargeted,
			func(z [][]float64, y, t []int64) []float64 { return one(refSum(refMarginTargetedPerSample(z, y, t))) }},
	}
}

// TestAgreesWithReference runs every loss on ONNX Runtime and compares it
// with its Go reference, on batches with every class present, with absent
// classes, with single-sample classes, with one class only and with one
// sample.
func TestAgreesWithReference(t *testing.T) {
	ortest.Init(t)
	seed := gradtest.Seed(t, 20250611)
	rng := rand.New(rand.NewPCG(seed, 1))
	randomLabels := make([]int64, 32)
	for i := range randomLabels {
		randomLabels[i] = rng.Int64N(10)
	}
	for k, tc := range []struct {
		name string
		c    int
		y    []int64
	}{
		{"every-class-present", 5, []int64{0, 1, 2, 3, 4, 0, 1, 2, 3, 4, 4, 2}},
		{"absent-classes", 10, []int64{0, 0, 1, 1, 1, 5, 5, 9, 9, 9, 9, 0}},
		{"single-sample-classes", 6, []int64{0, 0, 0, 1, 2, 2, 2, 4, 4, 5}}, // 1 and 5 single, 3 absent
		{"one-class", 4, []int64{2, 2, 2}},
		{"one-sample", 4, []int64{3}},
		{"random", 10, randomLabels},
	} {
		t.Run(tc.name, func(t *testing.T) {
			n, c := int64(len(tc.y)), int64(tc.c)
			zf := make([]float32, n*c)
			for i := range zf {
				zf[i] = float32(2 * rng.NormFloat64())
			}
			z := rows(zf, tc.c)
			target := make([]int64, n)
			for i, y := range tc.y {
				target[i] = (y + 1 + rng.Int64N(c-1)) % c // ≠ y
			}
			counts := make([]int, c)
			for j := range counts {
				counts[j] = 1 + rng.IntN(5000)
			}
			tau := []float32{1, 0.5, 2}[k%3]
			weights := losses.HELOpts{Alpha: 0.3, Beta: 0.7, Gamma: 1.9}
			cases := headCases(counts, tau, 1, weights)
			m, err := graphs.Build("losses-"+tc.name, func(b *graphs.Builder) {
				zv := b.Input("logits", onnx.Float, n, c)
				yv := b.Input("y", onnx.Int64, n)
				tv := b.Input("target", onnx.Int64, n)
				for _, h := range cases {
					v := h.build(zv, yv, tv)
					if v.Rank() == 0 {
						v = graphs.Reshape(v, 1)
					}
					b.Output(h.name, v)
				}
			})
			if err != nil {
				t.Fatal(err)
			}
			if k == 0 {
				ortest.Check(t, m)
			}
			got := ortest.Run(t, m, ortest.F32(zf, n, c), ortest.I64(tc.y, n), ortest.I64(target, n))
			for o, h := range cases {
				want := h.want(z, tc.y, target)
				if len(got[o].F) != len(want) {
					t.Fatalf("%s: %d values, want %d", h.name, len(got[o].F), len(want))
				}
				for i, w := range want {
					if g := float64(got[o].F[i]); math.Abs(g-w) > 1e-5*math.Abs(w)+1e-6 {
						t.Errorf("seed %d: %s[%d] = %.8g, reference %.8g", seed, h.name, i, g, w)
					}
				}
			}
		})
	}
}

// rows widens flat float32 logits to float64 rows of c.
func rows(z []float32, c int) [][]float64 {
	var out [][]float64
	for i := 0; i < len(z); i += c {
		row := make([]float64, c)
		for j := range row {
			row[j] = float64(z[i+j])
		}
		out = append(out, row)
	}
	return out
}

// separated returns logits [n, c] whose entries in each row are a shuffle
// of −1, −0.5, 0, 0.5, …: no ties and no near-ties, and every margin a
// multiple of 0.5, so finite differences never cross a max or a κ kink.
func separated(rng *rand.Rand, n, c int) []float32 {
	z := make([]float32, 0, n*c)
	for range n {
		for _, p := range rng.Perm(c) {
			z = append(z, 0.5*float32(p)-1)
		}
	}
	return z
}

func TestGradients(t *testing.T) {
	const n, c = 6, 5
	rng := rand.New(rand.NewPCG(gradtest.Seed(t, 20250611), 2))
	sep := separated(rng, n, c)
	absent := []int64{0, 0, 0, 2, 2, 4} // 1 and 3 absent, 4 single
	// Whatever the seed, CW with κ = 0.75 gets an unclamped sample (row 0:
	// the label holds the largest logit, margin −0.5) and a clamped one
	// (row 1: the label holds the smallest, margin 2).
	swapInto(sep[0:c], absent[0], 1)
	swapInto(sep[c:2*c], absent[1], -1)
	present := []int64{0, 1, 2, 3, 4, 1} // every class present, all but 1 single
	target := []int64{3, 4, 0, 0, 1, 2}  // ≠ absent[i]
	counts := []float64{1000, 300, 100, 30, 10}
	w := losses.HELOpts{Alpha: 1, Beta: 2, Gamma: 3}
	wPresent := w
	wPresent.Variant = losses.PresentClasses
	for _, tc := range []struct {
		name   string
		y      []int64
		logits []float32 // nil: N(0, 1)
		build  func(z, y *graphs.Value) *graphs.Value
	}{
		{"ce", absent, nil, losses.CrossEntropy},
		{"ce-per-sample", absent, nil, losses.CrossEntropyPerSample},
		{"balanced-softmax", absent, nil, losses.BalancedSoftmaxHead(counts, 1)},
		{"hel/all-classes/absent-and-single", absent, nil, losses.HELHead(w)},
		{"hel/present-classes/absent-and-single", absent, nil, losses.HELHead(wPresent)},
		{"hel/all-classes/every-class", present, nil, losses.HELHead(w)},
		{"hel/present-classes/every-class", present, nil, losses.HELHead(wPresent)},
		{"hel/defaults", absent, nil, losses.HELHead(losses.HELOpts{})},
		{"cw-per-sample", absent, sep, func(z, y *graphs.Value) *graphs.Value { return losses.CWPerSample(z, y, 0.75) }},
		{"dlr-per-sample", absent, sep, losses.DLRPerSample},
		{"dlr-targeted-per-sample", absent, sep, func(z, y *graphs.Value) *graphs.Value {
			return losses.DLRTargetedPerSample(z, y, z.Builder().ConstantInt64([]int64{n}, target))
		}},
		{"margin-targeted-per-sample", absent, sep, func(z, y *graphs.Value) *graphs.Value {
			return losses.MarginTargetedPerSample(z, y, z.Builder().ConstantInt64([]int64{n}, target))
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			gradtest.Check(t, gradtest.Spec{
				Inputs: []gradtest.Input{{Name: "logits", Shape: []int64{n, c}, Values: tc.logits}},
				Build: func(in []*graphs.Value) *graphs.Value {
					return tc.build(in[0], in[0].Builder().ConstantInt64([]int64{n}, tc.y))
				},
			})
		})
	}
}

// swapInto swaps the entry of row equal to v into position j.
func swapInto(row []float32, j int64, v float32) {
	k := slices.Index(row, v)
	row[j], row[k] = row[k], row[j]
}

// tinyNet is a linear classifier on flattened images [N, 1, 2, 3] → [N, 5],
// the flattened images its declared features (REAT reads them).
func tinyNet(v *graphs.Vars, x *graphs.Value) *graphs.Value {
	w := v.Param("fc.weight", []int64{5, 6}, graphs.Const(0.1))
	h := graphs.Flatten(x, 1)
	return graphs.WithFeatures(graphs.Gemm(h, w, nil, graphs.GemmOpts{TransB: true}), h)
}

// TestByNameAssembles builds the attack graph of every named head, checks
// its inputs, and validates it with the ONNX checker.
func TestByNameAssembles(t *testing.T) {
	o := losses.Options{ClassCounts: []int{50, 20, 10, 5, 1}, Kappa: 50}
	for _, name := range append(losses.Names(), "bsl") {
		t.Run(name, func(t *testing.T) {
			head, err := losses.ByName(name, o)
			if err != nil {
				t.Fatal(err)
			}
			g, err := graphs.InputGradGraph(graphs.GraphSpec{Name: name, Batch: 3, Image: []int64{1, 2, 3}, Net: tinyNet, Loss: head}, nil)
			if err != nil {
				t.Fatal(err)
			}
			want := []string{"x", "y", "fc.weight"}
			if strings.HasSuffix(name, "-targeted") {
				want = append(want, losses.TargetInput)
			}
			if name == "kl" {
				want = append(want, losses.CleanLogitsInput)
			}
			if got := g.InputNames(); !slices.Equal(got, want) {
				t.Errorf("inputs %v, want %v", got, want)
			}
			ortest.Check(t, g.Model)
		})
	}
}

func TestByNameErrors(t *testing.T) {
	for _, tc := range []struct {
		name    string
		o       losses.Options
		unknown bool
		want    string
	}{
		{"mse", losses.Options{}, true, "valid: ce, balanced-softmax, hel, cw, dlr, dlr-targeted, margin-targeted"},
		{"CE", losses.Options{}, true, `unknown loss "CE"`},
		{"balanced-softmax", losses.Options{}, false, "needs the class counts"},
		{"bsl", losses.Options{ClassCounts: []int{3, 0}}, false, "class 1 has count 0"},
		{"hel", losses.Options{HEL: losses.HELOpts{Variant: 2}}, false, "unknown variant HELVariant(2)"},
		{"cw", losses.Options{Kappa: -1}, false, "want ≥ 0"},
		{"reat", losses.Options{}, false, "reat needs the class counts"},
		{"robal", losses.Options{ClassCounts: []int{3, 1}}, true, `unknown loss "robal"`}, // a paired head (PairByName)
	} {
		t.Run(tc.name, func(t *testing.T) {
			head, err := losses.ByName(tc.name, tc.o)
			if err == nil || head != nil {
				t.Fatalf("ByName(%q) = %v, %v; want an error", tc.name, head, err)
			}
			if errors.Is(err, losses.ErrUnknownLoss) != tc.unknown || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("error %q: want one containing %q, wrapping ErrUnknownLoss: %v", err, tc.want, tc.unknown)
			}
		})
	}
}

// TestPairByNameRoBalErrors: robal needs positive class counts and a
// positive scale s, and takes its β from o.RoBal.
func TestPairByNameRoBalErrors(t *testing.T) {
	for _, tc := range []struct {
		name string
		o    losses.Options
		want string
	}{
		{"no counts", losses.Options{RoBal: losses.RoBalN}, "robal needs the class counts"},
		{"zero count", losses.Options{ClassCounts: []int{3, 0}, RoBal: losses.RoBalN}, "class 1 has count 0"},
		{"zero scale", losses.Options{ClassCounts: []int{3, 1}}, "scale s = 0"},
		{"negative beta", losses.Options{ClassCounts: []int{3, 1}, RoBal: losses.RoBalOpts{S: 10, Beta: -1}}, "β = -1"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := losses.PairByName("robal", tc.o); err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("PairByName(robal, %+v): %v, want an error containing %q", tc.o, err, tc.want)
			}
		})
	}
	if _, err := losses.PairByName("robal", losses.Options{ClassCounts: []int{3, 1}, RoBal: losses.RoBalN}); err != nil {
		t.Error(err)
	}
}

// TestBuildErrors checks the panic contracts: each bad call panics with a
// *graphs.BuildError, which graphs.Build returns.
func TestBuildErrors(t *testing.T) {
	for _, tc := range []struct {
		name  string
		c     int64
		float bool // labels float32 instead of int64
		build func(z, y *graphs.Value) *graphs.Value
		want  string
	}{
		{"float labels", 5, true, losses.CrossEntropy, "want int64 [4]"},
		{"labels of another batch", 5, false, func(z, _ *graphs.Value) *graphs.Value {
			return losses.HEL(z, z.Builder().Input("y3", onnx.Int64, 3), losses.HELOpts{})
		}, "want int64 [4]"},
		{"logits of rank 3", 5, false, func(z, y *graphs.Value) *graphs.Value { return losses.DLR(graphs.Unsqueeze(z, 0), y) }, "want float32 [N, C]"},
		{"too few class counts", 5, false, losses.BalancedSoftmaxHead([]int{1, 2, 3}, 1), "3 class counts"},
		{"zero class count", 3, false, losses.BalancedSoftmaxHead([]float64{1, 0, 3}, 1), "class count 0 of class 1"},
		{"unknown HEL variant", 3, false, losses.HELHead(losses.HELOpts{Variant: -1}), "unknown variant"},
		{"CW with one class", 1, false, losses.CWHead(0), "at least 2 classes"},
		{"DLR with two classes", 2, false, losses.DLR, "at least 3 classes"},
		{"targeted DLR with three classes", 3, false, losses.DLRTargetedHead(), "at least 4 classes"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := graphs.Build("bad", func(b *graphs.Builder) {
				dt := onnx.Int64
				if tc.float {
					dt = onnx.Float
				}
				b.Output("loss", tc.build(b.Input("z", onnx.Float, 4, tc.c), b.Input("y", dt, 4)))
			})
			var be *graphs.BuildError
			if !errors.As(err, &be) || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("error %v: want a *graphs.BuildError containing %q", err, tc.want)
			}
		})
	}
}

func TestHELVariantNames(t *testing.T) {
	for _, v := range []losses.HELVariant{losses.AllClasses, losses.PresentClasses} {
		got, err := losses.ParseHELVariant(v.String())
		if err != nil || got != v {
			t.Errorf("ParseHELVariant(%q) = %v, %v; want %v", v.String(), got, err, v)
		}
	}
	if _, err := losses.ParseHELVariant("paper"); err == nil || !strings.Contains(err.Error(), "all-classes, present-classes") {
		t.Errorf("ParseHELVariant(\"paper\"): error %v, want one listing the variants", err)
	}
}
