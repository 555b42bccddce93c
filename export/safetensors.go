package export

import (
	"fmt"

	"github.com/taet-ml/taet/checkpoint"
	"github.com/taet-ml/taet/internal/safetensors"
)

// SafeTensors returns n's parameters and BatchNorm buffers as a safetensors
// file: float32 tensors under their torchvision state-dict names, in graph
// order, with Metadata(n, o) as __metadata__. A ResNet of
// width 1 loads into torchvision's resnet18 or resnet50 with
// load_state_dict(strict=True) (for taet's CIFAR stem, after replacing
// conv1 by a 3×3, stride 1, padding 1 convolution and maxpool by Identity);
// "vit" loads into torchvision's VisionTransformer with taet's sizes. The
// file is decoded again, as a check, before it is returned.
func SafeTensors(n *checkpoint.Network, o Options) ([]byte, error) {
	info, err := n.Params()
	if err != nil {
		return nil, err
	}
	tensors := make([]safetensors.Tensor, len(info))
	for i, p := range info {
		tensors[i] = safetensors.Tensor{Name: p.Name, Shape: p.Shape, Data: n.Values[p.Name]}
	}
	b, err := safetensors.Encode(tensors, Metadata(n, o))
	if err != nil {
		return nil, err
	}
	back, _, err := safetensors.Decode(b) // verified before anyone writes it
	if err == nil && len(back) != len(tensors) {
		err = fmt.Errorf("%d tensors read back, want %d", len(back), len(tensors))
	}
	if err != nil {
		return nil, fmt.Errorf("the encoded state dict does not read back: %w", err)
	}
	return b, nil
}
