package train_test

import (
	"context"
	"math"
	"slices"
	"testing"

	"github.com/taet-ml/taet/checkpoint"
	"github.com/taet-ml/taet/internal/ortest"
	"github.com/taet-ml/taet/models"
	"github.com/taet-ml/taet/train"
)

// TestRoBalAndREATFit trains the robal stage on a cosine head and the reat
// stage for three epochs each on separable data: the training loss falls,
// and the RoBal checkpoint holds the cosine head (fc.weight, no bias) and
// loads as a network with its inference adjustment.
func TestRoBalAndREATFit(t *testing.T) {
	ortest.Init(t)
	for _, stage := range []string{"robal", "reat"} {
		t.Run(stage, func(t *testing.T) {
			cfg := tinyConfig(t, train.Stage{Name: stage, Epochs: 3})
			cfg.Augment = false
			if stage == "robal" {
				cfg.Head = models.Head{Kind: models.CosineHead, Scale: 1, Gamma: 1.0 / 32}
			}
			dir := t.TempDir()
			res, err := train.Fit(context.Background(), cfg, dir, false, &quiet{})
			if err != nil {
				t.Fatal(err)
			}
			first, last := res.Metrics[0].TrainLoss, res.Metrics[len(res.Metrics)-1].TrainLoss
			if math.IsNaN(last) || !(last < first) {
				t.Errorf("train loss went from %.4f to %.4f; want it to fall", first, last)
			}
			n, err := checkpoint.LoadNetwork(dir)
			if err != nil {
				t.Fatal(err)
			}
			_, bias := n.Values["fc.bias"]
			if cosine := stage == "robal"; bias == cosine || (n.Options.Adjust != nil) != cosine || (n.Options.Head.Kind == models.CosineHead) != cosine {
				t.Errorf("%s: fc.bias %v, adjustment %v, head %q", stage, bias, n.Options.Adjust != nil, n.Options.Head.Kind)
			}
			if stage == "robal" && !slices.Equal(n.State.Split.Counts[:1], []int{40}) {
				t.Errorf("split counts %v: want the head class's 40 first", n.State.Split.Counts)
			}
		})
	}
}
