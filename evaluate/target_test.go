package evaluate

import (
	"errors"
	"strings"
	"testing"

	"github.com/taet-ml/taet/graphs"
)

func TestCapBatch(t *testing.T) {
	for _, tc := range []struct {
		batch, n int
		budget   int64
		want     int
		refused  string
	}{
		{128, 20, 0, 20, ""},        // capped to the images
		{16, 20, 0, 16, ""},         // smaller: as asked
		{128, 20, 30 << 20, 20, ""}, // 20 MiB within 30
		{128, 20, 10 << 20, 20, "at most 10"},
		{128, 1000, 200 << 20, 128, ""},
	} {
		tgt := &Target{Batch: tc.batch, ActivationBytes: 1 << 20}
		got, err := tgt.CapBatch(tc.n, tc.budget)
		switch {
		case tc.refused == "" && (err != nil || got != tc.want || tgt.Batch != tc.want):
			t.Errorf("batch %d, %d images, budget %d: %d (target %d), %v; want %d", tc.batch, tc.n, tc.budget, got, tgt.Batch, err, tc.want)
		case tc.refused != "" && (!errors.Is(err, ErrBatchMemory) || !strings.Contains(err.Error(), tc.refused)):
			t.Errorf("batch %d, %d images, budget %d: %v; want ErrBatchMemory saying %q", tc.batch, tc.n, tc.budget, err, tc.refused)
		}
	}
}

// TestActivationBytes checks the estimate on a network whose values are
// known: logits are the image's pixels through Relu (a [1, 4, 4] image, 16
// classes), two values that grow with the batch; doubling the pixels
// doubles the estimate.
func TestActivationBytes(t *testing.T) {
	net := func(_ *graphs.Vars, x *graphs.Value) *graphs.Value {
		return graphs.Reshape(graphs.Relu(x), x.Dim(0), x.Dim(1)*x.Dim(2)*x.Dim(3))
	}
	small, err := activationBytes(net, []int64{1, 4, 4})
	if err != nil {
		t.Fatal(err)
	}
	large, err := activationBytes(net, []int64{2, 4, 4})
	if err != nil {
		t.Fatal(err)
	}
	if small < 2*4*16 || small > 3*4*16 {
		t.Errorf("%d bytes an image: want Relu's and Reshape's outputs (and the graph's output), 2 or 3 × 16 floats", small)
	}
	if large != 2*small {
		t.Errorf("%d bytes an image of twice the pixels, %d of once: want twice", large, small)
	}
}
