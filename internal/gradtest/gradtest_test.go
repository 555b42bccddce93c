package gradtest_test

import (
	"fmt"
	"strings"
	"testing"

	"github.com/taet-ml/taet/graphs"
	"github.com/taet-ml/taet/internal/gradtest"
	"github.com/taet-ml/taet/internal/ortest"
)

// recorder is a testing.TB that records failures instead of reporting them;
// Fatalf stops the check by panicking with stopped{}, which run recovers.
type recorder struct {
	testing.TB
	failed []string
}

type stopped struct{}

func (r *recorder) Helper() {}
func (r *recorder) Errorf(format string, args ...any) {
	r.failed = append(r.failed, fmt.Sprintf(format, args...))
}
func (r *recorder) Fatalf(format string, args ...any) {
	r.Errorf(format, args...)
	panic(stopped{})
}
func (r *recorder) Fatal(args ...any) { r.Fatalf("%s", fmt.Sprint(args...)) }

// run calls check with a recorder and returns what it recorded.
func run(t *testing.T, check func(tb testing.TB)) []string {
	r := &recorder{TB: t}
	func() {
		defer func() {
			if p := recover(); p != nil {
				if _, ok := p.(stopped); !ok {
					panic(p)
				}
			}
		}()
		check(r)
	}()
	return r.failed
}

func TestCheckCatchesAWrongRule(t *testing.T) {
	ortest.Init(t)
	inputs := []gradtest.Input{{Name: "x", Shape: []int64{6}}}
	failed := run(t, func(tb testing.TB) {
		gradtest.Check(tb, gradtest.Spec{Inputs: inputs, Build: func(v []*graphs.Value) *graphs.Value { return wrongTanhOf(v[0]) }})
	})
	if len(failed) == 0 {
		t.Fatal("Check accepted a wrong gradient rule")
	}
	if !strings.Contains(failed[0], "seed") {
		t.Errorf("failure message does not log the seed: %q", failed[0])
	}
	if got := run(t, func(tb testing.TB) {
		gradtest.Check(tb, gradtest.Spec{Inputs: inputs, Build: func(v []*graphs.Value) *graphs.Value { return graphs.Tanh(v[0]) }})
	}); len(got) != 0 {
		t.Errorf("Check rejected the right rule: %v", got)
	}
}

// wrongTanhOf applies tanh to x with the wrong derivative 1 − tanh(x).
func wrongTanhOf(x *graphs.Value) *graphs.Value {
	b := x.Builder()
	y := graphs.Tanh(graphs.StopGradient(x))
	return graphs.Add(graphs.StopGradient(y), graphs.Sub(
		graphs.WithGrad(x, func(_, gy *graphs.Value) *graphs.Value { return graphs.Mul(gy, graphs.Sub(b.Scalar(1), y)) }),
		graphs.StopGradient(x)))
}

func TestDirectionalCatchesAWrongRule(t *testing.T) {
	ortest.Init(t)
	failed := run(t, func(tb testing.TB) {
		gradtest.Directional(tb, gradtest.DirSpec{
			Inputs: []gradtest.Input{{Name: "x", Shape: []int64{3, 4}}},
			Build:  func(v []*graphs.Value) *graphs.Value { return wrongTanhOf(v[0]) },
		})
	})
	if len(failed) == 0 {
		t.Fatal("Directional accepted a wrong gradient rule")
	}
}

func TestCheckFailsOnNaN(t *testing.T) {
	ortest.Init(t)
	failed := run(t, func(tb testing.TB) {
		gradtest.Check(tb, gradtest.Spec{
			Inputs: []gradtest.Input{{Name: "x", Shape: []int64{3}, Values: []float32{-1, -2, -3}}},
			Build:  func(v []*graphs.Value) *graphs.Value { return graphs.Sqrt(v[0]) },
		})
	})
	if len(failed) == 0 || !strings.Contains(failed[0], "not finite") {
		t.Fatalf("Check of sqrt at negative inputs: got %v, want a not-finite failure", failed)
	}
}
