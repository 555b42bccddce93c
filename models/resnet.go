package models

import (
	"fmt"
	"math"

	"github.com/taet-ml/taet/graphs"
)

// Stem selects a ResNet's first layers.
type Stem string

const (
	// CIFARStem is a 3×3 convolution, stride 1, padding 1, without max-pool:
	// the usual stem for 32×32 inputs.
	CIFARStem Stem = "cifar"
	// ImageNetStem is torchvision's: a 7×7 convolution, stride 2, padding 3,
	// then a 3×3 max-pool, stride 2, padding 1 (for 224×224 inputs, as the
	// TAET authors' code uses).
	ImageNetStem Stem = "imagenet"
)

// ResNetOpts configure ResNet.
type ResNetOpts struct {
	Depth   int     // 18 (basic blocks) or 50 (bottlenecks)
	Classes int     // outputs of fc
	Stem    Stem    // CIFARStem or ImageNetStem
	Width   float64 // base width 64·Width, rounded, at least 1; 0 means 1 (torchvision)
	Head    Head    // the classifier fc: nn.Linear by default
	Adjust  *Adjust // inference-time logit adjustment, or nil

	// activation replaces ReLU when not nil: gradient tests use a smooth
	// one, since finite differences across ReLU kinks are unreliable.
	activation func(*graphs.Value) *graphs.Value
}

// relu applies ReLU, or the activation a gradient test set.
func (o ResNetOpts) relu(x *graphs.Value) *graphs.Value {
	if o.activation != nil {
		return o.activation(x)
	}
	return graphs.Relu(x)
}

// resnetBlocks is the number of blocks of layer1..layer4 for each depth.
var resnetBlocks = map[int][4]int{18: {2, 2, 2, 2}, 50: {3, 4, 6, 3}}

func (o ResNetOpts) check() error {
	if _, ok := resnetBlocks[o.Depth]; !ok {
		return fmt.Errorf("resnet depth %d: want 18 or 50", o.Depth)
	}
	if o.Classes < 1 {
		return fmt.Errorf("resnet%d: %d classes: want at least 1", o.Depth, o.Classes)
	}
	if o.Stem != CIFARStem && o.Stem != ImageNetStem {
		return fmt.Errorf("resnet%d: stem %q: want %q or %q", o.Depth, o.Stem, CIFARStem, ImageNetStem)
	}
	if o.Width < 0 || math.IsNaN(o.Width) || math.IsInf(o.Width, 0) {
		return fmt.Errorf("resnet%d: width %v: want a positive multiplier", o.Depth, o.Width)
	}
	if err := o.Head.check(); err != nil {
		return fmt.Errorf("resnet%d: %w", o.Depth, err)
	}
	return nil
}

// baseWidth returns the channels of the stem and layer1's blocks.
func (o ResNetOpts) baseWidth() int64 {
	w := o.Width
	if w == 0 {
		w = 1
	}
	return max(1, int64(math.Round(64*w)))
}

// ResNet returns torchvision's ResNet-18 or ResNet-50 (v1.5: a bottleneck
// strides on its 3×3 convolution) as a Net: logits [N, Classes] from
// images x [N, C, H, W] in [0, 1], used as they are (no normalisation).
// C comes from x (1 for Fashion-MNIST, 3 for CIFAR).
//
// Layers and state-dict names are torchvision's: conv1, bn1, (maxpool),
// layer1…layer4 of blocks "layerI.J" with conv1/bn1, conv2/bn2 (and
// conv3/bn3 in a bottleneck) and, where the shape changes, downsample.0 (a
// 1×1 convolution) and downsample.1 (its BatchNorm); then a global average
// pool and fc. layerI has base·2^(I−1) channels (×4 after a bottleneck),
// base = 64·Width; layer2…layer4 halve the resolution. Convolutions have no
// bias. Initialisation as torchvision's: convolutions Kaiming normal
// (fan_out, ReLU gain), BatchNorm weight 1 and bias 0, fc nn.Linear's
// default U(±1/√in_features). o.Head can make fc a cosine classifier
// (CosineHead) and o.Adjust adjusts the logits; the pooled features are
// declared as the logits' features (graphs.Features). Nodes are named under the scope "resnet18"
// or "resnet50" ("resnet18/layer1.0/conv1/Conv_0").
//
// Bad options panic with a *graphs.BuildError when the Net is built.
func ResNet(o ResNetOpts) graphs.Net {
	return func(v *graphs.Vars, x *graphs.Value) *graphs.Value {
		if err := o.check(); err != nil {
			panic(&graphs.BuildError{Op: "ResNet", Err: err})
		}
		if x.Rank() != 4 {
			panic(&graphs.BuildError{Op: "ResNet", Err: fmt.Errorf("input %s: want [N, C, H, W]", x)})
		}
		var logits *graphs.Value
		v.Builder().WithScope(fmt.Sprintf("resnet%d", o.Depth), func() { logits = resnet(scope{v: v}, x, o) })
		return logits
	}
}

func resnet(s scope, x *graphs.Value, o ResNetOpts) *graphs.Value {
	base := o.baseWidth()
	var h *graphs.Value
	if o.Stem == ImageNetStem {
		h = o.relu(s.batchNorm("bn1", s.conv("conv1", x, base, 7, 2, 3)))
		h = s.sub("maxpool", func(scope) *graphs.Value {
			return graphs.MaxPool(h, graphs.PoolOpts{Kernel: []int64{3, 3}, Strides: []int64{2, 2}, Pads: []int64{1, 1, 1, 1}})
		})
	} else {
		h = o.relu(s.batchNorm("bn1", s.conv("conv1", x, base, 3, 1, 1)))
	}
	block := basicBlock
	if o.Depth == 50 {
		block = bottleneck
	}
	for i, n := range resnetBlocks[o.Depth] {
		planes := base << i
		for j := range n {
			stride := int64(1)
			if i > 0 && j == 0 {
				stride = 2
			}
			h = s.sub(fmt.Sprintf("layer%d.%d", i+1, j), func(s scope) *graphs.Value { return block(s, o, h, planes, stride) })
		}
	}
	h = graphs.Flatten(s.sub("avgpool", func(scope) *graphs.Value { return graphs.GlobalAveragePool(h) }), 1)
	init := linearDefault(h.Dim(1))
	return s.classifier("fc", h, int64(o.Classes), o.Head, func() *graphs.Value { return s.linear("fc", h, int64(o.Classes), init, init) }, o.Adjust)
}

// basicBlock is torchvision's BasicBlock (expansion 1):
// relu(bn2(conv2(relu(bn1(conv1(x))))) + shortcut(x)), conv1 strided.
func basicBlock(s scope, o ResNetOpts, x *graphs.Value, planes, stride int64) *graphs.Value {
	h := o.relu(s.batchNorm("bn1", s.conv("conv1", x, planes, 3, stride, 1)))
	h = s.batchNorm("bn2", s.conv("conv2", h, planes, 3, 1, 1))
	return o.relu(graphs.Add(h, s.shortcut(x, planes, stride)))
}

// bottleneck is torchvision's Bottleneck (expansion 4, v1.5): 1×1 conv to
// planes, 3×3 conv with the stride, 1×1 conv to 4·planes, each with its
// BatchNorm and ReLU (the last ReLU after adding the shortcut).
func bottleneck(s scope, o ResNetOpts, x *graphs.Value, planes, stride int64) *graphs.Value {
	h := o.relu(s.batchNorm("bn1", s.conv("conv1", x, planes, 1, 1, 0)))
	h = o.relu(s.batchNorm("bn2", s.conv("conv2", h, planes, 3, stride, 1)))
	h = s.batchNorm("bn3", s.conv("conv3", h, 4*planes, 1, 1, 0))
	return o.relu(graphs.Add(h, s.shortcut(x, 4*planes, stride)))
}

// shortcut is x itself, or downsample.0 (1×1 conv with the stride) and
// downsample.1 (BatchNorm) where the block changes the shape.
func (s scope) shortcut(x *graphs.Value, out, stride int64) *graphs.Value {
	if stride == 1 && x.Dim(1) == out {
		return x
	}
	return s.sub("downsample", func(s scope) *graphs.Value {
		return s.batchNorm("1", s.conv("0", x, out, 1, stride, 0))
	})
}

// conv is a bias-free nn.Conv2d called name: k×k kernel from x's channels
// to out, stride and padding pad on every side, with torchvision's ResNet
// initialisation.
func (s scope) conv(name string, x *graphs.Value, out, k, stride, pad int64) *graphs.Value {
	return s.sub(name, func(s scope) *graphs.Value {
		w := s.param("weight", []int64{out, x.Dim(1), k, k}, kaimingNormalFanOut(out*k*k))
		return graphs.Conv(x, w, nil, graphs.ConvOpts{Strides: []int64{stride, stride}, Pads: []int64{pad, pad, pad, pad}})
	})
}

// batchNorm is nn.BatchNorm2d called name (Vars.BatchNorm: weight 1, bias 0,
// running statistics as buffers).
func (s scope) batchNorm(name string, x *graphs.Value) *graphs.Value {
	return s.sub(name, func(scope) *graphs.Value { return s.v.BatchNorm(s.prefix+name, x) })
}
