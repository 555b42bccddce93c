package evaluate_test

import (
	"context"
	"fmt"

	"github.com/taet-ml/taet/attacks"
	"github.com/taet-ml/taet/evaluate"
	"github.com/taet-ml/taet/graphs"
	"github.com/taet-ml/taet/internal/synthdata"
	"github.com/taet-ml/taet/onnx/ort"
)

// linear is a linear classifier of [N, 1, 12, 12] images into 10 classes.
func linear(v *graphs.Vars, x *graphs.Value) *graphs.Value {
	x = graphs.Flatten(x, 1)
	w := v.Param("fc.weight", []int64{10, x.Dim(1)}, graphs.Const(0))
	b := v.Param("fc.bias", []int64{10}, graphs.Const(0))
	return graphs.Gemm(x, w, b, graphs.GemmOpts{TransB: true})
}

// rowDetector returns parameters of linear that score class c by the
// brightness of image row c: the right classifier for synthdata.Stripes.
func rowDetector() map[string][]float32 {
	w := make([]float32, 10*144)
	for c := range 10 {
		for col := range 12 {
			w[c*144+c*12+col] = 1
		}
	}
	return map[string][]float32{"fc.weight": w, "fc.bias": make([]float32, 10)}
}

// Example attacks a classifier with FGSM and PGD-20 at ε = 0.5 and reads
// balanced accuracy and balanced robustness: at so large a radius one FGSM
// step breaks every image, and so do PGD-20's twenty steps of ε/8.
// evaluate.Open would read a checkpoint or an exported ONNX file instead,
// and LoadTestSet a data set's test split.
func Example() {
	if err := ort.Init(""); err != nil { // the library installed by make ort
		fmt.Println(err)
		return
	}
	test := synthdata.Stripes(200, 12, 3)
	tgt := evaluate.NewTarget(linear, rowDetector(), test.Shape(), 10, 50, ort.Options{Threads: 1})
	defer tgt.Close()
	var specs []attacks.Spec
	for _, name := range []string{"fgsm", "pgd-20"} {
		s, err := attacks.ByName(name, 0.5)
		if err != nil {
			fmt.Println(err)
			return
		}
		specs = append(specs, s)
	}
	r := evaluate.Runner{Target: tgt, Test: test, Attacks: specs, Batch: 50} // State: "file.json" to resume
	res, err := r.Run(context.Background())
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Printf("clean: balanced accuracy %.2f\n", res.Clean.Balanced)
	for _, a := range res.Attacks {
		fmt.Printf("%s: balanced robustness %.2f, max L∞ ≤ ε: %v\n", a.Attack, a.Balanced, a.MaxLinf <= 0.5+1e-6)
	}
	// Output:
	// clean: balanced accuracy 1.00
	// fgsm: balanced robustness 0.00, max L∞ ≤ ε: true
	// pgd-20: balanced robustness 0.00, max L∞ ≤ ε: true
}
