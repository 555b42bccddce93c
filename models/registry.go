package models

import (
	"fmt"
	"math"
	"slices"
	"strings"

	"github.com/taet-ml/taet/graphs"
)

// names are the models ByName knows, as the command line and JSON spell them.
var names = []string{"resnet18", "resnet50", "vit-b16", "vit"}

// Names returns the model names ByName accepts.
func Names() []string { return slices.Clone(names) }

// Options size a model chosen by name.
type Options struct {
	Classes   int     // number of logits
	ImageSize int     // input height and width in pixels
	Width     float64 // ResNet base width 64·Width, "vit" hidden size 256·Width; 0 means 1
	// Stem is the ResNet stem; "" picks CIFARStem below 128 pixels and
	// ImageNetStem from 128 up (224×224 is what the TAET authors' code uses).
	Stem Stem
	// Head is the classifier (ResNets only; "" is nn.Linear) and Adjust an
	// inference-time logit adjustment after it (nil: none).
	Head   Head
	Adjust *Adjust
}

// ByName returns the Net called name:
//
//	resnet18  ResNet with Depth 18
//	resnet50  ResNet with Depth 50
//	vit-b16   ViT(ViTB16(Classes)); Width must be 0 or 1, ImageSize a multiple of 16
//	vit       ViT(ViTLite74(Classes, Width)), patch 4: for 28–64 pixel images
func ByName(name string, o Options) (graphs.Net, error) {
	if !slices.Contains(names, name) {
		return nil, fmt.Errorf("unknown model %q: want one of %s", name, strings.Join(names, ", "))
	}
	if !(o.Width >= 0) || math.IsInf(o.Width, 1) {
		return nil, fmt.Errorf("model %s: width %v: want a positive multiplier", name, o.Width)
	}
	if o.ImageSize < 1 {
		return nil, fmt.Errorf("model %s: image size %d: want a positive number of pixels", name, o.ImageSize)
	}
	if name == "resnet18" || name == "resnet50" {
		ro := ResNetOpts{Depth: 18, Classes: o.Classes, Stem: o.Stem, Width: o.Width, Head: o.Head, Adjust: o.Adjust}
		if name == "resnet50" {
			ro.Depth = 50
		}
		if ro.Stem == "" {
			ro.Stem = CIFARStem
			if o.ImageSize >= 128 {
				ro.Stem = ImageNetStem
			}
		}
		if err := ro.check(); err != nil {
			return nil, err
		}
		return ResNet(ro), nil
	}
	if o.Stem != "" {
		return nil, fmt.Errorf("model %s: a ViT has no stem option (got %q)", name, o.Stem)
	}
	if (o.Head.Kind != "" && o.Head.Kind != LinearHead) || o.Adjust != nil {
		return nil, fmt.Errorf("model %s: the ViTs have a linear head only (got head %q)", name, o.Head.Kind)
	}
	vo := ViTLite74(o.Classes, o.Width)
	if name == "vit-b16" {
		if o.Width != 0 && o.Width != 1 {
			return nil, fmt.Errorf("model vit-b16: width %v: the model has a fixed size; use vit for a narrower one", o.Width)
		}
		vo = ViTB16(o.Classes)
	}
	if err := vo.check(); err != nil {
		return nil, fmt.Errorf("model %s: %w", name, err)
	}
	if o.ImageSize%vo.Patch != 0 {
		return nil, fmt.Errorf("model %s: image size %d is not a multiple of the patch size %d", name, o.ImageSize, vo.Patch)
	}
	return ViT(vo), nil
}

// ParamCount returns the number of trainable parameters in params (BatchNorm
// running statistics, which are buffers, do not count), the number PyTorch's
// sum(p.numel() for p in model.parameters()) gives.
func ParamCount(params []graphs.ParamInfo) int64 {
	var n int64
	for _, p := range params {
		if p.Trainable {
			n += p.Size()
		}
	}
	return n
}
