package models

import (
	"fmt"
	"math"

	"github.com/taet-ml/taet/graphs"
)

// ViTOpts configure ViT. The image size and channels come from the input.
type ViTOpts struct {
	Patch   int // side of the square patches: conv_proj's kernel and stride
	Dim     int // hidden size
	Depth   int // encoder layers
	Heads   int // attention heads; must divide Dim
	MLPDim  int // hidden size of each layer's MLP
	Classes int // outputs of heads.head
}

// ViTB16 returns the options of ViT-B/16 (Dosovitskiy et al., torchvision's
// vit_b_16): patch 16, dim 768, 12 layers of 12 heads, MLP 3072.
func ViTB16(classes int) ViTOpts {
	return ViTOpts{Patch: 16, Dim: 768, Depth: 12, Heads: 12, MLPDim: 3072, Classes: classes}
}

// ViTLite74 returns the options of ViT-Lite-7/4 (Hassani et al., "Escaping
// the Big Data Paradigm with Compact Transformers", 2021), a ViT for 32×32
// images: patch 4, 7 layers of 4 heads, MLP ratio 2, with the hidden size
// 256·width rounded to a multiple of the heads (0 means width 1).
func ViTLite74(classes int, width float64) ViTOpts {
	if width == 0 {
		width = 1
	}
	const heads = 4
	dim := heads * max(1, int(math.Round(256*width/heads)))
	return ViTOpts{Patch: 4, Dim: dim, Depth: 7, Heads: heads, MLPDim: 2 * dim, Classes: classes}
}

func (o ViTOpts) check() error {
	if o.Patch < 1 || o.Dim < 1 || o.Depth < 1 || o.Heads < 1 || o.MLPDim < 1 || o.Classes < 1 {
		return fmt.Errorf("every size must be positive: %+v", o)
	}
	if o.Dim%o.Heads != 0 {
		return fmt.Errorf("%d heads do not divide dim %d", o.Heads, o.Dim)
	}
	return nil
}

// ViT returns a Vision Transformer as torchvision builds it (VisionTransformer,
// no dropout) as a Net: logits [N, Classes] from images x [N, C, H, W] in
// [0, 1], used as they are; H and W must be multiples of the patch.
//
// The patches are embedded by conv_proj, a Conv [Dim, C, P, P] with stride
// P and bias, giving S = (H/P)·(W/P) tokens; class_token [1, 1, Dim] is
// put first and encoder.pos_embedding [1, S+1, Dim] added. Each of the
// Depth pre-norm layers encoder.layers.encoder_layer_I is
//
//	x = x + self_attention(ln_1(x))
//	x = x + mlp(ln_2(x)),  mlp = mlp.3(GELU(mlp.0(·)))
//
// with LayerNorm ε 1e-6, nn.MultiheadAttention's packed in_proj_weight
// [3·Dim, Dim] (rows: query, key, value), in_proj_bias, out_proj, and the
// exact GELU 0.5·x·(1 + erf(x/√2)). encoder.ln normalises the class token,
// which heads.head maps to the logits. Names are torchvision's state-dict
// keys; nodes are named under the scope "vit".
//
// Initialisation as torchvision's: conv_proj weight truncated normal with
// std √(1/(C·P·P)), bias 0; class_token 0; pos_embedding N(0, 0.02²);
// in_proj_weight Xavier uniform, in_proj_bias 0; out_proj weight nn.Linear's
// default U(±1/√Dim), bias 0; MLP weights Xavier uniform, biases
// N(0, 1e-6²); LayerNorm weight 1, bias 0; heads.head weight and bias 0.
//
// Bad options or image sizes panic with a *graphs.BuildError when the Net is built.
func ViT(o ViTOpts) graphs.Net {
	return func(v *graphs.Vars, x *graphs.Value) *graphs.Value {
		if err := o.check(); err != nil {
			panic(&graphs.BuildError{Op: "ViT", Err: err})
		}
		if x.Rank() != 4 || x.Dim(2)%int64(o.Patch) != 0 || x.Dim(3)%int64(o.Patch) != 0 {
			panic(&graphs.BuildError{Op: "ViT", Err: fmt.Errorf("input %s: want [N, C, H, W] with H and W multiples of the patch %d", x, o.Patch)})
		}
		var logits *graphs.Value
		v.Builder().WithScope("vit", func() { logits = vit(scope{v: v}, x, o) })
		return logits
	}
}

func vit(s scope, x *graphs.Value, o ViTOpts) *graphs.Value {
	n, c, p, d := x.Dim(0), x.Dim(1), int64(o.Patch), int64(o.Dim)
	patches := (x.Dim(2) / p) * (x.Dim(3) / p)
	seq := patches + 1
	cls := s.param("class_token", []int64{1, 1, d}, graphs.Const(0))
	h := s.sub("conv_proj", func(s scope) *graphs.Value {
		w := s.param("weight", []int64{d, c, p, p}, truncNormal(math.Sqrt(1/float64(c*p*p))))
		b := s.param("bias", []int64{d}, graphs.Const(0))
		return graphs.Conv(x, w, b, graphs.ConvOpts{Strides: []int64{p, p}})
	})
	h = graphs.Transpose(graphs.Reshape(h, n, d, patches), 0, 2, 1) // [N, S, D]
	h = graphs.Concat(1, graphs.Expand(cls, n, 1, d), h)            // [N, S+1, D]
	h = s.sub("encoder", func(s scope) *graphs.Value {
		pos := s.param("pos_embedding", []int64{1, seq, d}, normal(0.02))
		t := graphs.Reshape(graphs.Add(h, pos), n*seq, d) // tokens as rows
		t = s.sub("layers", func(s scope) *graphs.Value {
			for i := range o.Depth {
				t = s.sub(fmt.Sprintf("encoder_layer_%d", i), func(s scope) *graphs.Value {
					return encoderBlock(s, t, n, seq, o)
				})
			}
			return t
		})
		// The class token of each image: row 0 of its [S+1, D] block. LayerNorm
		// works per token, so normalising only these rows is torchvision's
		// encoder.ln followed by x[:, 0].
		first := graphs.Slice(graphs.Reshape(t, n, seq*d), []int64{0}, []int64{d}, []int64{1}, nil)
		return s.layerNorm("ln", first)
	})
	z := s.sub("heads", func(s scope) *graphs.Value {
		return s.linear("head", h, int64(o.Classes), graphs.Const(0), graphs.Const(0))
	})
	return graphs.WithFeatures(z, h)
}

// encoderBlock is torchvision's EncoderBlock on tokens t [N·(S+1), D].
func encoderBlock(s scope, t *graphs.Value, n, seq int64, o ViTOpts) *graphs.Value {
	a := s.layerNorm("ln_1", t)
	a = s.sub("self_attention", func(s scope) *graphs.Value { return selfAttention(s, a, n, seq, int64(o.Heads)) })
	t = graphs.Add(t, a)
	m := s.layerNorm("ln_2", t)
	m = s.sub("mlp", func(s scope) *graphs.Value {
		d, hidden := t.Dim(1), int64(o.MLPDim)
		h := s.linear("0", m, hidden, xavierUniform(d, hidden), normal(1e-6))
		return s.linear("3", gelu(h), d, xavierUniform(hidden, d), normal(1e-6))
	})
	return graphs.Add(t, m)
}

// selfAttention is nn.MultiheadAttention(x, x, x) on tokens x [N·S, D]
// of N sequences of length seq: per head, softmax(q·kᵀ/√(D/heads))·v,
// then out_proj.
func selfAttention(s scope, x *graphs.Value, n, seq, heads int64) *graphs.Value {
	d := x.Dim(1)
	hd := d / heads
	w := s.param("in_proj_weight", []int64{3 * d, d}, xavierUniform(d, 3*d))
	b := s.param("in_proj_bias", []int64{3 * d}, graphs.Const(0))
	qkv := graphs.Gemm(x, w, b, graphs.GemmOpts{TransB: true})                       // [N·S, 3·D]
	qkv = graphs.Transpose(graphs.Reshape(qkv, n, seq, 3, heads, hd), 2, 0, 3, 1, 4) // [3, N, H, S, hd]
	parts := graphs.Split(qkv, 0, 1, 1, 1)
	q, k, v := graphs.Reshape(parts[0], n, heads, seq, hd), graphs.Reshape(parts[1], n, heads, seq, hd), graphs.Reshape(parts[2], n, heads, seq, hd)
	q = graphs.Mul(q, x.Builder().Scalar(float32(1/math.Sqrt(float64(hd)))))
	attn := graphs.Softmax(graphs.MatMul(q, graphs.Transpose(k, 0, 1, 3, 2)), -1) // [N, H, S, S]
	ctx := graphs.Transpose(graphs.MatMul(attn, v), 0, 2, 1, 3)                   // [N, S, H, hd]
	return s.linear("out_proj", graphs.Reshape(ctx, n*seq, d), d, linearDefault(d), graphs.Const(0))
}

// layerNorm is nn.LayerNorm(eps=1e-6) called name over the last axis of x.
func (s scope) layerNorm(name string, x *graphs.Value) *graphs.Value {
	return s.sub(name, func(s scope) *graphs.Value {
		shape := []int64{x.Dim(x.Rank() - 1)}
		w := s.param("weight", shape, graphs.Const(1))
		b := s.param("bias", shape, graphs.Const(0))
		return graphs.LayerNormalization(x, w, b, -1, 1e-6)
	})
}

// gelu is the exact GELU, 0.5·x·(1 + erf(x/√2)) (nn.GELU()).
func gelu(x *graphs.Value) *graphs.Value {
	b := x.Builder()
	return graphs.Mul(graphs.Mul(x, b.Scalar(0.5)), graphs.Add(b.Scalar(1), graphs.Erf(graphs.Mul(x, b.Scalar(float32(1/math.Sqrt2))))))
}
