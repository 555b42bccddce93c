// Package models builds the networks taet trains and attacks: ResNet-18 and
// ResNet-50 (ResNet) and Vision Transformers (ViT, with the ViTB16 and
// ViTLite74 presets), each as a graphs.Net that maps images x [N, C, H, W]
// in [0, 1] to logits [N, K]. ByName picks one by the name the command line
// uses (resnet18, resnet50, vit-b16, vit); ParamCount counts what an
// optimizer updates.
//
// # Faithful to torchvision
//
// Structure, parameter names, shapes and the order of declaration follow
// torchvision's resnet18/resnet50 and vit_b_16, so Params lists the tensors
// as torchvision's state_dict() does and checkpoints convert by name. The
// one difference: BatchNorm's num_batches_tracked counter is not kept (the
// momentum is fixed), so an import skips it. The parameter counts equal
// PyTorch's (11,173,962 for ResNet-18 with the CIFAR stem and 10 classes,
// 25,557,032 for ResNet-50, 86,567,656 for ViT-B/16 with 1000 classes), and
// a tiny ViT given torchvision's weights computes torchvision's logits.
//
// Initialisation is torchvision's too (each constructor's doc lists it), so
// graphs.InitParams starts training where PyTorch would, in distribution.
//
// # Inputs
//
// The input channels and image size come from x: one channel for
// Fashion-MNIST, three for CIFAR. Pixels are used as they are, without
// mean/std normalisation, as in the TAET authors' code; attacks therefore
// work in pixel space directly. ResNet has two stems: CIFARStem (3×3
// convolution, no max-pool) for small images and ImageNetStem (7×7 stride 2
// and a 3×3 max-pool) for 224×224. ResNetOpts.Width scales every width
// (base 64·Width) for small CPU runs; ViTLite74 scales its hidden size.
//
// # Heads
//
// The classifier of a ResNet is nn.Linear by default; Options.Head makes it
// RoBal's cosine classifier (CosineHead) and Options.Adjust appends an
// inference-time affine map of the logits (RoBal's boundary adjustment,
// which checkpoint.Network adds for a model trained with a robal stage).
// Every Net declares the penultimate features it computed its logits from
// (graphs.WithFeatures: the pooled features of a ResNet, the class token of
// a ViT after its LayerNorm), so a loss head can read them with
// graphs.Features (REAT's tail-feature alignment).
//
// # Names
//
// Every Net builds under a scope named after it, and every submodule under
// its state-dict name, so node names read like parameter names:
// "resnet18/layer1.0/conv1/Conv_0" uses "layer1.0.conv1.weight", and
// "vit/encoder/layers/encoder_layer_0/self_attention/Softmax_0" sits beside
// "encoder.layers.encoder_layer_0.self_attention.in_proj_weight".
//
// # Errors
//
// Like graphs, the Nets panic with a *graphs.BuildError for bad options or
// input shapes, which graphs.Build and the Assemble functions return as
// errors. ByName checks options up front and returns ordinary errors.
//
// # Testing gradients
//
// The models' gradients are checked in the directional way (gradtest)
// in training mode, with respect to the images and every parameter at once.
// ResNets are checked with their ReLUs replaced by SiLU (an unexported
// option set only by the tests): a step that moves every input crosses too
// many ReLU kinks for finite differences to be trusted, while the ReLU and
// MaxPool rules have exact elementwise checks of their own in graphs.
package models
