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
	// Oracles returns the attack oracles for a CW confidence bound κ
	// (attacks.Spec.Kappa; the other losses ignore it).
	Oracles func(kappa float64) attacks.OracleSet
	close   func()
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
	return &Target{
		Classes: classes, Image: image,
		Oracles: func(kappa float64) attacks.OracleSet {
			s, ok := sets[kappa]
			if !ok {
				s = ortoracle.NewSet(net, values, image, batch, classes, kappa, opts)
				sets[kappa] = s
			}
			return s.Get
		},
		close: func() {
			for _, s := range sets {
				s.Close()
			}
		},
	}
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
	lo, err := ortoracle.NewLogits(b, image, batch, classes, opts)
	if err != nil {
		return nil, err
	}
	var names []string
	json.Unmarshal([]byte(meta["class_names"]), &names) // absent or malformed: no names
	sum := sha256.Sum256(b)
	return &Target{
		Model: meta["model"], Classes: classes, Image: image, ClassNames: names,
		Identity: hex.EncodeToString(sum[:]), Dataset: meta["dataset"], DataPath: data.DefaultPath(meta["dataset"]),
		GradientFree: true,
		Oracles:      func(float64) attacks.OracleSet { return func(string) (attacks.Oracle, error) { return lo, nil } },
		close:        lo.Close,
	}, nil
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
