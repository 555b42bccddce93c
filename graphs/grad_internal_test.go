package graphs

import (
	"errors"
	"testing"

	"github.com/taet-ml/taet/onnx"
)

// TestNotDifferentiableNamesTheNode asks for a gradient through a OneHot
// whose values input depends on the differentiated value (the public
// constructor never builds one: its values are constants).
func TestNotDifferentiableNamesTheNode(t *testing.T) {
	_, err := Build("g", func(b *Builder) {
		v := b.Input("v", onnx.Float, 2)
		idx := b.ConstantInt64([]int64{3}, []int64{0, 1, 1})
		depth := b.ConstantInt64(nil, []int64{2})
		var y *Value
		b.WithScope("enc", func() {
			y = b.add1("OneHot", []*Value{idx, depth, v}, []attr{attrInt("axis", -1)}, outSpec{onnx.Float, []int64{3, 2}})
		})
		Grad(ReduceSum(y, nil, false), []*Value{v})
	})
	var be *BuildError
	if !errors.As(err, &be) || be.Node != "enc/OneHot_0" || OpGradKind("OneHot") != GradNotDifferentiable {
		t.Fatalf("got %v, want a BuildError naming enc/OneHot_0", err)
	}
}
