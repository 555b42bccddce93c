package graphs

import (
	"fmt"
	"slices"
)

func errorf(format string, args ...any) error { return fmt.Errorf(format, args...) }

// ops is every op_type a constructor of this package can emit.
var ops = map[string]bool{}

// registerOps records op types that constructors emit (called from each ops_*.go init).
func registerOps(names ...string) {
	for _, n := range names {
		ops[n] = true
	}
}

// Ops returns, sorted, every ONNX op_type a constructor of this package can emit.
func Ops() []string {
	out := make([]string, 0, len(ops))
	for n := range ops {
		out = append(out, n)
	}
	slices.Sort(out)
	return out
}
