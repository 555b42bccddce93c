package models_test

import (
	"testing"

	"github.com/taet-ml/taet/graphs"
	"github.com/taet-ml/taet/models"
)

// BenchmarkBuildGrad times building and differentiating the full-size
// train-step graphs (batch 32, 224×224, 1000 classes) and reports the size
// of the serialized graph (parameters are inputs, so it holds no weights).
func BenchmarkBuildGrad(b *testing.B) {
	for _, bc := range []struct {
		name string
		net  graphs.Net
	}{
		{"resnet50", models.ResNet(models.ResNetOpts{Depth: 50, Classes: 1000, Stem: models.ImageNetStem})},
		{"vitb16", models.ViT(models.ViTB16(1000))},
	} {
		b.Run(bc.name, func(b *testing.B) {
			spec := graphs.GraphSpec{Name: bc.name, Batch: 32, Image: []int64{3, 224, 224}, Net: bc.net, Loss: meanCE}
			var ts *graphs.Assembled
			for b.Loop() {
				var err error
				if ts, err = graphs.TrainStepGraph(spec); err != nil {
					b.Fatal(err)
				}
			}
			bytes, err := ts.Bytes()
			if err != nil {
				b.Fatal(err)
			}
			b.ReportMetric(float64(len(bytes)), "onnx-bytes")
			b.ReportMetric(float64(len(ts.Proto.GetGraph().GetNode())), "nodes")
		})
	}
}
