package train_test

import (
	"context"
	"fmt"
	"os"

	"github.com/taet-ml/taet/attacks"
	"github.com/taet-ml/taet/data"
	"github.com/taet-ml/taet/graphs"
	"github.com/taet-ml/taet/internal/synthdata"
	"github.com/taet-ml/taet/onnx/ort"
	"github.com/taet-ml/taet/train"
)

// Example trains a network of your own on a data set of your own with the
// TAET stages (clean cross-entropy, then HEL on PGD examples), scoring 100
// held-out images after every epoch.
func Example() {
	if err := ort.Init(""); err != nil { // the library installed by make ort
		fmt.Println(err)
		return
	}
	trainSet, evalSet := synthdata.Stripes(600, 12, 1), synthdata.Stripes(100, 12, 2) // or data.Load(…)
	// A linear classifier: [N, 1, 12, 12] images → [N, 10] logits.
	linear := func(v *graphs.Vars, x *graphs.Value) *graphs.Value {
		x = graphs.Flatten(x, 1)
		w := v.Param("fc.weight", []int64{10, x.Dim(1)}, graphs.Const(0))
		b := v.Param("fc.bias", []int64{10}, graphs.Const(0))
		return graphs.Gemm(x, w, b, graphs.GemmOpts{TransB: true})
	}
	cfg, _ := train.Preset("taet")
	cfg.Model, cfg.Dataset = "linear", "stripes" // recorded in the checkpoint
	cfg.Stages = []train.Stage{{Name: "ce", Epochs: 2}, {Name: "hel", Epochs: 1}}
	cfg.Batch, cfg.Augment = 50, false
	heads, err := train.StageLosses(cfg, data.ClassCounts(trainSet.Labels, trainSet.Classes))
	if err != nil {
		fmt.Println(err)
		return
	}
	spec := &train.Spec{Config: cfg, Net: linear, Train: trainSet, Eval: evalSet, Losses: heads,
		PGD:     attacks.PGD{Eps: 8.0 / 255, Alpha: 2.0 / 255, Steps: 5, Start: attacks.StartUniform},
		Runtime: ort.Options{Threads: 1}}
	dir, _ := os.MkdirTemp("", "taet-example")
	defer os.RemoveAll(dir)
	res, err := train.FitSpec(context.Background(), spec, dir, false, nil) // nil: no progress reports
	if err != nil {
		fmt.Println(err)
		return
	}
	for _, m := range res.Metrics {
		fmt.Printf("epoch %d %s: clean balanced accuracy ≥ 0.9: %v, robust ≤ clean: %v\n",
			m.Epoch+1, m.Stage, m.CleanBAcc >= 0.9, m.RobustBAcc <= m.CleanBAcc)
	}
	// Output:
	// epoch 1 ce: clean balanced accuracy ≥ 0.9: true, robust ≤ clean: true
	// epoch 2 ce: clean balanced accuracy ≥ 0.9: true, robust ≤ clean: true
	// epoch 3 hel: clean balanced accuracy ≥ 0.9: true, robust ≤ clean: true
}
