package graphs

import (
	"fmt"
	"slices"
)

func errorf(format string, args ...any) error { return fmt.Errorf(format, args...) }

// ops maps every op_type a constructor of this package can emit to the
// version of the op it emits (the op's since_version in the model's opset).
var ops = map[string]int{}

// registerOps records the op types that constructors emit, with their
// versions (called from each ops_*.go init).
func registerOps(versions map[string]int) {
	for n, v := range versions {
		ops[n] = v
	}
}

// OpVersion returns the version of op that the builder emits (e.g. 14 for
// Add-14), or 0 for an op it does not emit.
func OpVersion(op string) int { return ops[op] }

// Ops returns, sorted, every ONNX op_type a constructor of this package can emit.
func Ops() []string {
	out := make([]string, 0, len(ops))
	for n := range ops {
		out = append(out, n)
	}
	slices.Sort(out)
	return out
}
