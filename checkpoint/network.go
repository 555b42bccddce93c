package checkpoint

import (
	"fmt"
	"math/rand/v2"
	"slices"

	"github.com/taet-ml/taet/data"
	"github.com/taet-ml/taet/graphs"
	"github.com/taet-ml/taet/internal/safetensors"
	"github.com/taet-ml/taet/losses"
	"github.com/taet-ml/taet/models"
)

// Network is a trained network: the model, its parameter values and what
// the checkpoint says about it.
type Network struct {
	Model   string         // a models.ByName name: resnet18, resnet50, vit-b16, vit
	Options models.Options // Classes, ImageSize, Width; Stem "" is ByName's choice
	Image   []int64        // [C, H, W]
	// Values holds every parameter and buffer by its torchvision-style name.
	Values map[string][]float32
	// ClassNames names the Options.Classes classes, or is nil.
	ClassNames []string
	// State is the checkpoint the network comes from, or nil; its
	// configuration and metrics go into the metadata.
	State *State
}

// LoadNetwork reads a checkpoint file or run directory (Load) and returns
// its network. Errors wrap ErrCheckpoint.
func LoadNetwork(path string) (*Network, error) {
	st, tensors, err := Load(path)
	if err != nil {
		return nil, err
	}
	return NetworkFrom(st, tensors)
}

// NetworkFrom returns the network of a checkpoint's state and tensors:
// the tensors named in st.Params (the optimizer state is left out), class
// names from the data set's name. It checks that they are exactly the
// parameters of the model st describes; errors wrap ErrCheckpoint.
func NetworkFrom(st State, tensors []safetensors.Tensor) (*Network, error) {
	if len(st.Image) != 3 || st.Classes < 1 {
		return nil, fmt.Errorf("%w: image %v and %d classes: want [C, H, W] and at least one class", ErrCheckpoint, st.Image, st.Classes)
	}
	n := &Network{
		Model:   st.Config.Model,
		Options: models.Options{Classes: st.Classes, ImageSize: int(st.Image[1]), Width: st.Config.Width, Head: st.Config.Head},
		Image:   slices.Clone(st.Image),
		Values:  map[string][]float32{},
		State:   &st,
	}
	if st.Config.HasStage("robal") {
		adj, err := roBalAdjust(st)
		if err != nil {
			return nil, err
		}
		n.Options.Adjust = adj
	}
	if names := data.ClassNamesOf(st.Config.Dataset, st.Config.DataPath); len(names) == st.Classes {
		n.ClassNames = names
	}
	for _, t := range tensors {
		if slices.Contains(st.Params, t.Name) {
			n.Values[t.Name] = t.Data
		}
	}
	info, err := n.Params()
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrCheckpoint, err)
	}
	for _, p := range info {
		if v, ok := n.Values[p.Name]; !ok || int64(len(v)) != p.Size() {
			return nil, fmt.Errorf("%w: parameter %s %v missing or of the wrong size (the checkpoint does not match model %s)",
				ErrCheckpoint, p.Name, p.Shape, n.Model)
		}
	}
	if len(info) != len(n.Values) {
		return nil, fmt.Errorf("%w: %d parameters for model %s, the checkpoint has %d", ErrCheckpoint, len(info), n.Model, len(n.Values))
	}
	return n, nil
}

// roBalAdjust returns the inference-time adjustment of a network trained
// with a robal stage (losses.RoBalAdjustment), from the training counts of
// its split record.
func roBalAdjust(st State) (*models.Adjust, error) {
	counts := st.Split.Counts
	if len(counts) != st.Classes || slices.Min(counts) <= 0 {
		return nil, fmt.Errorf("%w: a RoBal model needs its %d training class counts for the inference adjustment; the split record has %v",
			ErrCheckpoint, st.Classes, counts)
	}
	r := st.Config.RoBal
	scale, bias := losses.RoBalAdjustment(counts, losses.RoBalOpts{S: float32(r.S), TauP: float32(r.TauP)})
	return &models.Adjust{Scale: scale, Bias: bias}, nil
}

// Net returns the network's builder (models.ByName), with the inference
// adjustment of its method applied to the logits (RoBal's).
func (n *Network) Net() (graphs.Net, error) { return models.ByName(n.Model, n.Options) }

// Params returns the model's parameters and buffers, in graph order.
func (n *Network) Params() ([]graphs.ParamInfo, error) {
	net, err := n.Net()
	if err != nil {
		return nil, err
	}
	a, err := graphs.EvalGraph(graphs.GraphSpec{Name: n.Model, Batch: 1, Image: n.Image, Net: net}, nil)
	if err != nil {
		return nil, err
	}
	return a.Params, nil
}

// EvalGraph returns the network's eval graph at a static batch, parameters
// as initializers, BatchNormalization unfolded: the reference exports are
// checked against.
func (n *Network) EvalGraph(batch int64) (*graphs.Assembled, error) {
	net, err := n.Net()
	if err != nil {
		return nil, err
	}
	return graphs.EvalGraph(graphs.GraphSpec{Name: n.Model, Batch: batch, Image: n.Image, Net: net}, n.Values)
}

// streamRandomInputs is the PCG stream of RandomInputs.
const streamRandomInputs uint64 = 0xE4907

// RandomInputs returns batch images for n, uniform in [0, 1), drawn from seed.
func (n *Network) RandomInputs(batch int, seed uint64) []float32 {
	rng := rand.New(rand.NewPCG(seed, streamRandomInputs))
	x := make([]float32, int64(batch)*n.Image[0]*n.Image[1]*n.Image[2])
	for i := range x {
		x[i] = rng.Float32()
	}
	return x
}
