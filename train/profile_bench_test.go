package train

import (
	"encoding/json"
	"os"
	"path/filepath"
	"sort"
	"testing"

	"github.com/taet-ml/taet/graphs"
	"github.com/taet-ml/taet/internal/ortest"
	"github.com/taet-ml/taet/internal/ortsession"
	"github.com/taet-ml/taet/losses"
	"github.com/taet-ml/taet/models"
	"github.com/taet-ml/taet/onnx/ort"
)

// BenchmarkProfileTrainStep runs a CIFAR ResNet-18 train step (batch 32,
// 2 threads) with ONNX Runtime's profiler on and logs where the time goes:
// the 15 costliest op types and nodes. It is how the conv weight-gradient
// rule was chosen; run it with -bench ProfileTrainStep -benchtime 1x -v.
func BenchmarkProfileTrainStep(t *testing.B) {
	ortest.Init(t)
	net, _ := models.ByName("resnet18", models.Options{Classes: 10, ImageSize: 32, Width: 1})
	g, err := graphs.TrainStepGraph(graphs.GraphSpec{Name: "p", Batch: 32, Image: []int64{3, 32, 32}, Net: net, Loss: losses.CrossEntropy})
	if err != nil {
		t.Fatal(err)
	}
	x, _ := ort.NewZeros[float32](32, 3, 32, 32)
	y, _ := ort.NewZeros[int64](32)
	p, _ := newParams(g.Params, graphs.InitParams(g.Params, 1))
	prefix := filepath.Join(t.TempDir(), "step")
	s, err := ortsession.New(g.Model, ort.Options{Threads: 2, ProfilePrefix: prefix}, append([]ort.Value{x, y}, p.values()...))
	if err != nil {
		t.Fatal(err)
	}
	for t.Loop() {
		if err := s.Run(); err != nil {
			t.Fatal(err)
		}
	}
	runs := float64(t.N)
	s.Close()
	files, _ := filepath.Glob(prefix + "*.json")
	b, _ := os.ReadFile(files[len(files)-1])
	var events []struct {
		Cat  string `json:"cat"`
		Name string `json:"name"`
		Dur  int64  `json:"dur"`
		Args struct {
			OpName string `json:"op_name"`
		} `json:"args"`
	}
	json.Unmarshal(b, &events)
	byOp := map[string]int64{}
	byNode := map[string]int64{}
	var total int64
	for _, e := range events {
		if e.Cat == "Node" && e.Args.OpName != "" {
			byOp[e.Args.OpName] += e.Dur
			byNode[e.Name] += e.Dur
			total += e.Dur
		}
	}
	type kv struct {
		k string
		v int64
	}
	var ops []kv
	for k, v := range byOp {
		ops = append(ops, kv{k, v})
	}
	sort.Slice(ops, func(i, j int) bool { return ops[i].v > ops[j].v })
	for _, o := range ops[:min(15, len(ops))] {
		t.Logf("%-20s %6.1f ms %5.1f%%", o.k, float64(o.v)/1000/runs, 100*float64(o.v)/float64(total))
	}
	var nodes []kv
	for k, v := range byNode {
		nodes = append(nodes, kv{k, v})
	}
	sort.Slice(nodes, func(i, j int) bool { return nodes[i].v > nodes[j].v })
	for _, o := range nodes[:15] {
		t.Logf("%-80s %6.1f ms", o.k, float64(o.v)/1000/runs)
	}
}
