package evaluate

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"strconv"
	"strings"

	"github.com/taet-ml/taet/attacks"
	"github.com/taet-ml/taet/checkpoint"
	"github.com/taet-ml/taet/data"
	"github.com/taet-ml/taet/graphs"
	"github.com/taet-ml/taet/internal/boundedfile"
	"github.com/taet-ml/taet/onnx"
	"github.com/taet-ml/taet/onnx/ort"
	"github.com/taet-ml/taet/ortoracle"
)

// Target is a classifier to evaluate and what a report needs to know
// about it. Close releases its sessions.
type Target struct {
	Model       string   // model name, for reports
	Classes     int      // K
	Image       []int64  // [C, H, W]
	ClassNames  []string // or nil
	TrainCounts []int    // training images per class, or nil
	// Identity is what a saved state is keyed on (a checksum of the
	// parameters or of the file): a state of another classifier is never
	// resumed.
	Identity string
	// Dataset and DataPath are the data set the classifier was trained on
	// ("" if unknown): the defaults of TestSetOptions.
	Dataset, DataPath string
	// GradientFree is set when the target gives logits only (an exported
	// ONNX file): only gradient-free attacks (square) can run on it.
	GradientFree bool
	// ActivationBytes estimates the memory each image of a batch takes in
	// the attack graphs (activationBytes); 0 where unknown (an ONNX file).
	ActivationBytes int64
	// Oracles returns the attack oracles for a CW confidence bound κ
	// (attacks.Spec.Kappa; the other losses ignore it). Their sessions
	// are built on first use, for batches of Batch images.
	Oracles func(kappa float64) attacks.OracleSet
	// Batch is the batch size of the sessions; CapBatch lowers it.
	Batch int
	close func()
}

// MemoryBudget is CapBatch's budget for sessions on dev: on the CPU half
// the memory this process may still take (ort.AvailableMemory), leaving
// the rest to the test set, the weights and other processes; on a GPU
// none (0), as the device's memory is not known here.
func MemoryBudget(dev ort.Device) int64 {
	if dev.CUDA {
		return 0
	}
	return ort.AvailableMemory() / 2
}

// ErrBatchMemory is wrapped by CapBatch's error about a batch whose
// activations exceed the memory budget.
var ErrBatchMemory = errors.New("batch too large for the memory")

// CapBatch lowers t.Batch to n, the number of test images, when it is
// larger (a larger batch attacks padding only), and returns it. If the
// attack graphs' activations at that batch, ActivationBytes an image,
// exceed budget bytes (0: no budget), it returns an error wrapping
// ErrBatchMemory that names the largest batch within the budget. Call it
// before the first Oracles call, which builds the sessions.
func (t *Target) CapBatch(n int, budget int64) (int, error) {
	t.Batch = max(1, min(t.Batch, n))
	if budget > 0 && t.ActivationBytes > 0 && int64(t.Batch)*t.ActivationBytes > budget {
		return t.Batch, fmt.Errorf("batch %d: %w: the attack graphs take about %s an image, %s in all, over the budget of %s; want at most %d",
			t.Batch, ErrBatchMemory, boundedfile.Size(t.ActivationBytes>>10<<10), boundedfile.Size(int64(t.Batch)*t.ActivationBytes>>20<<20),
			boundedfile.Size(budget>>20<<20), max(1, budget/t.ActivationBytes))
	}
	return t.Batch, nil
}

// Close releases the target's sessions.
func (t *Target) Close() {
	if t.close != nil {
		t.close()
	}
}

// NewTarget returns a target for net with parameter values, images
// [C, H, W] and classes logits, attacked in batches of batch through
// input-gradient sessions with the parameters stored in the graphs
// (BatchNorm in inference mode). The caller fills in the descriptive
// fields it knows.
func NewTarget(net graphs.Net, values map[string][]float32, image []int64, classes, batch int, opts ort.Options) *Target {
	sets := map[float64]*ortoracle.Set{}
	t := &Target{Classes: classes, Image: image, Batch: batch}
	t.Oracles = func(kappa float64) attacks.OracleSet {
		s, ok := sets[kappa]
		if !ok {
			s = ortoracle.NewSet(net, values, image, t.Batch, classes, kappa, opts)
			sets[kappa] = s
		}
		return s.Get
	}
	t.close = func() {
		for _, s := range sets {
			s.Close()
		}
	}
	return t
}

// activationBytes estimates the memory an image adds to a batch in net's
// attack graphs: the values of the forward pass, which an attack's
// backward pass keeps, that is the sum of every node output's size (4
// bytes a value; parameters are graph inputs, not counted) of the
// x → logits graph at batch 2 less that at batch 1. Measured on a 1/8-width
// ResNet-18 on 28×28 images (FGSM, peak RSS at batch 2000 less that at
// batch 500): 0.53 MiB an image; this estimate: 0.76 MiB.
func activationBytes(net graphs.Net, image []int64) (int64, error) {
	var sum [2]int64
	for i := range sum {
		g, err := graphs.EvalGraph(graphs.GraphSpec{Name: "activations", Batch: int64(i + 1), Image: image, Net: net}, nil)
		if err != nil {
			return 0, err
		}
		for _, n := range g.Proto.GetGraph().GetNode() {
			for _, out := range n.GetOutput() {
				if shape, ok := g.ValueShape(out); ok {
					sum[i] += 4 * onnx.Numel(shape)
				}
			}
		}
	}
	return sum[1] - sum[0], nil
}

// Open returns the target at path: an ONNX file written by taetctl export
// (a name ending in .onnx; gradient-free attacks only) or a checkpoint file
// or run directory. Errors reading the file wrap ErrTarget.
func Open(path string, batch int, opts ort.Options) (*Target, error) {
	if strings.HasSuffix(path, ".onnx") {
		return OpenONNX(path, batch, opts)
	}
	return OpenCheckpoint(path, batch, opts)
}

// ErrTarget is wrapped by errors about an unreadable or invalid target
// file.
var ErrTarget = errors.New("bad evaluation target")

// OpenCheckpoint returns the network of a checkpoint file or run directory.
func OpenCheckpoint(path string, batch int, opts ort.Options) (*Target, error) {
	n, err := checkpoint.LoadNetwork(path)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrTarget, err)
	}
	net, err := n.Net()
	if err != nil {
		return nil, err
	}
	t := NewTarget(net, n.Values, n.Image, n.Options.Classes, batch, opts)
	if t.ActivationBytes, err = activationBytes(net, n.Image); err != nil {
		return nil, err
	}
	t.Model, t.ClassNames = n.Model, n.ClassNames
	t.TrainCounts, t.Identity = n.State.Split.Counts, n.State.SHA256
	t.Dataset, t.DataPath = n.State.Config.Dataset, n.State.Config.DataPath
	return t, nil
}

// OpenONNX returns the classifier of an ONNX file exported by taetctl
// export (x → logits, dynamic batch), with the classes, the image shape,
// the class names and the data set its metadata gives. It has no gradient
// graph: only gradient-free attacks can run on it.
func OpenONNX(path string, batch int, opts ort.Options) (*Target, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrTarget, err)
	}
	m, err := onnx.Unmarshal(b)
	if err != nil {
		return nil, fmt.Errorf("%w: %s: %w", ErrTarget, path, err)
	}
	meta := map[string]string{}
	for _, p := range m.GetMetadataProps() {
		meta[p.GetKey()] = p.GetValue()
	}
	classes, err := strconv.Atoi(meta["num_classes"])
	var shape []string
	if s := strings.Trim(meta["input_shape"], "[]"); s != "" {
		shape = strings.Split(s, ",")
	}
	if err != nil || len(shape) != 4 {
		return nil, fmt.Errorf("%w: %s: no num_classes and input_shape metadata: not a file written by taetctl export", ErrTarget, path)
	}
	image := make([]int64, 3)
	for i := range image {
		if image[i], err = strconv.ParseInt(shape[i+1], 10, 64); err != nil {
			return nil, fmt.Errorf("%w: %s: input_shape %q: %v", ErrTarget, path, meta["input_shape"], err)
		}
	}
	var names []string
	json.Unmarshal([]byte(meta["class_names"]), &names) // absent or malformed: no names
	sum := sha256.Sum256(b)
	t := &Target{
		Model: meta["model"], Classes: classes, Image: image, ClassNames: names,
		Identity: hex.EncodeToString(sum[:]), Dataset: meta["dataset"], DataPath: data.DefaultPath(meta["dataset"]),
		GradientFree: true, Batch: batch,
	}
	var lo *ortoracle.Logits
	t.Oracles = func(float64) attacks.OracleSet {
		return func(string) (attacks.Oracle, error) {
			if lo == nil {
				l, err := ortoracle.NewLogits(b, image, t.Batch, classes, opts)
				if err != nil {
					return nil, fmt.Errorf("%w: %s: %w", ErrTarget, path, err)
				}
				lo = l
			}
			return lo, nil
		}
	}
	t.close = func() {
		if lo != nil {
			lo.Close()
		}
	}
	return t, nil
}

// Check returns an error naming the first attack of specs the target
// cannot run (one needing input gradients on a gradient-free target).
func (t *Target) Check(specs []attacks.Spec) error {
	if !t.GradientFree {
		return nil
	}
	for _, s := range specs {
		if _, ok := s.Attack.(attacks.Square); !ok {
			return fmt.Errorf("attack %s needs input gradients, which an exported ONNX file does not have; use square, or evaluate the checkpoint", s.Name)
		}
	}
	return nil
}
