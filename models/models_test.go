package models_test

import (
	"errors"
	"math"
	"slices"
	"strings"
	"testing"

	"github.com/taet-ml/taet/graphs"
	"github.com/taet-ml/taet/models"
)

// evalParams builds net's eval graph for images [batch, image...] with the
// parameters as inputs (no data needed) and returns it.
func evalParams(t testing.TB, net graphs.Net, batch int64, image ...int64) *graphs.Assembled {
	t.Helper()
	a, err := graphs.EvalGraph(graphs.GraphSpec{Name: "test", Batch: batch, Image: image, Net: net}, nil)
	if err != nil {
		t.Fatal(err)
	}
	return a
}

func resnet18CIFAR(classes int) graphs.Net {
	return models.ResNet(models.ResNetOpts{Depth: 18, Classes: classes, Stem: models.CIFARStem})
}

// TestParamCounts compares with PyTorch's sum(p.numel() for p in
// model.parameters()) for torchvision's resnet18 (conv1 replaced by a 3×3
// stride-1 convolution, no max-pool, 10 classes), resnet50 and vit_b_16.
func TestParamCounts(t *testing.T) {
	for _, tc := range []struct {
		name  string
		net   graphs.Net
		image []int64
		want  int64
	}{
		{"resnet18-cifar-10", resnet18CIFAR(10), []int64{3, 32, 32}, 11_173_962},
		{"resnet50-imagenet-1000", models.ResNet(models.ResNetOpts{Depth: 50, Classes: 1000, Stem: models.ImageNetStem}), []int64{3, 224, 224}, 25_557_032},
		{"vit-b16-1000", models.ViT(models.ViTB16(1000)), []int64{3, 224, 224}, 86_567_656},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := models.ParamCount(evalParams(t, tc.net, 1, tc.image...).Params); got != tc.want {
				t.Errorf("%d trainable parameters, PyTorch has %d", got, tc.want)
			}
		})
	}
}

// TestStateDictNames checks names, shapes and order against torchvision's
// state_dict() (without BatchNorm's num_batches_tracked): the first and last
// entries, a few in between, and the number of entries.
func TestStateDictNames(t *testing.T) {
	type entry struct {
		name  string
		shape []int64
	}
	for _, tc := range []struct {
		name        string
		net         graphs.Net
		image       []int64
		n           int
		first, last []entry
		some        []entry
	}{
		{
			name: "resnet18-cifar", net: resnet18CIFAR(10), image: []int64{3, 32, 32}, n: 102,
			first: []entry{{"conv1.weight", []int64{64, 3, 3, 3}}, {"bn1.weight", []int64{64}}, {"bn1.bias", []int64{64}},
				{"bn1.running_mean", []int64{64}}, {"bn1.running_var", []int64{64}}, {"layer1.0.conv1.weight", []int64{64, 64, 3, 3}}},
			last: []entry{{"layer4.1.bn2.running_var", []int64{512}}, {"fc.weight", []int64{10, 512}}, {"fc.bias", []int64{10}}},
			some: []entry{{"layer2.0.conv1.weight", []int64{128, 64, 3, 3}}, {"layer2.0.downsample.0.weight", []int64{128, 64, 1, 1}},
				{"layer2.0.downsample.1.running_mean", []int64{128}}, {"layer3.1.conv2.weight", []int64{256, 256, 3, 3}}},
		},
		{
			name: "resnet50-imagenet", net: models.ResNet(models.ResNetOpts{Depth: 50, Classes: 1000, Stem: models.ImageNetStem}),
			image: []int64{3, 224, 224}, n: 267,
			first: []entry{{"conv1.weight", []int64{64, 3, 7, 7}}},
			last:  []entry{{"fc.weight", []int64{1000, 2048}}, {"fc.bias", []int64{1000}}},
			some: []entry{{"layer1.0.conv3.weight", []int64{256, 64, 1, 1}}, {"layer1.0.downsample.0.weight", []int64{256, 64, 1, 1}},
				{"layer1.0.downsample.1.weight", []int64{256}}, {"layer2.0.conv2.weight", []int64{128, 128, 3, 3}},
				{"layer3.5.bn3.running_var", []int64{1024}}, {"layer4.2.conv1.weight", []int64{512, 2048, 1, 1}}},
		},
		{
			name: "vit-b16", net: models.ViT(models.ViTB16(1000)), image: []int64{3, 224, 224}, n: 152,
			first: []entry{{"class_token", []int64{1, 1, 768}}, {"conv_proj.weight", []int64{768, 3, 16, 16}}, {"conv_proj.bias", []int64{768}},
				{"encoder.pos_embedding", []int64{1, 197, 768}}, {"encoder.layers.encoder_layer_0.ln_1.weight", []int64{768}},
				{"encoder.layers.encoder_layer_0.ln_1.bias", []int64{768}},
				{"encoder.layers.encoder_layer_0.self_attention.in_proj_weight", []int64{2304, 768}},
				{"encoder.layers.encoder_layer_0.self_attention.in_proj_bias", []int64{2304}},
				{"encoder.layers.encoder_layer_0.self_attention.out_proj.weight", []int64{768, 768}},
				{"encoder.layers.encoder_layer_0.self_attention.out_proj.bias", []int64{768}},
				{"encoder.layers.encoder_layer_0.ln_2.weight", []int64{768}}, {"encoder.layers.encoder_layer_0.ln_2.bias", []int64{768}},
				{"encoder.layers.encoder_layer_0.mlp.0.weight", []int64{3072, 768}}, {"encoder.layers.encoder_layer_0.mlp.0.bias", []int64{3072}},
				{"encoder.layers.encoder_layer_0.mlp.3.weight", []int64{768, 3072}}, {"encoder.layers.encoder_layer_0.mlp.3.bias", []int64{768}}},
			last: []entry{{"encoder.layers.encoder_layer_11.mlp.3.bias", []int64{768}}, {"encoder.ln.weight", []int64{768}},
				{"encoder.ln.bias", []int64{768}}, {"heads.head.weight", []int64{1000, 768}}, {"heads.head.bias", []int64{1000}}},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			params := evalParams(t, tc.net, 1, tc.image...).Params
			if len(params) != tc.n {
				t.Errorf("%d tensors, torchvision's state_dict has %d", len(params), tc.n)
			}
			got := func(i int) entry { return entry{params[i].Name, params[i].Shape} }
			same := func(a, b entry) bool { return a.name == b.name && slices.Equal(a.shape, b.shape) }
			for i, want := range tc.first {
				if g := got(i); !same(g, want) {
					t.Errorf("tensor %d is %v, want %v", i, g, want)
				}
			}
			for i, want := range tc.last {
				j := len(params) - len(tc.last) + i
				if g := got(j); !same(g, want) {
					t.Errorf("tensor %d is %v, want %v", j, g, want)
				}
			}
			for _, want := range tc.some {
				i := slices.IndexFunc(params, func(p graphs.ParamInfo) bool { return p.Name == want.name })
				if i < 0 || !same(got(i), want) {
					t.Errorf("no tensor %v", want)
				}
			}
			for _, p := range params {
				buffer := strings.HasSuffix(p.Name, ".running_mean") || strings.HasSuffix(p.Name, ".running_var")
				if p.Trainable == buffer {
					t.Errorf("%s: trainable %v", p.Name, p.Trainable)
				}
			}
		})
	}
}

func TestNodeNames(t *testing.T) {
	for _, tc := range []struct {
		net  graphs.Net
		want []string
	}{
		{models.ResNet(models.ResNetOpts{Depth: 18, Classes: 10, Stem: models.CIFARStem, Width: 1.0 / 16}),
			[]string{"resnet18/conv1/Conv_0", "resnet18/layer1.0/conv1/Conv_0", "resnet18/layer1.0/bn1/BatchNormalization_0",
				"resnet18/layer2.0/downsample/0/Conv_0", "resnet18/layer2.0/downsample/1/BatchNormalization_0", "resnet18/fc/Gemm_0"}},
		{models.ResNet(models.ResNetOpts{Depth: 50, Classes: 10, Stem: models.ImageNetStem, Width: 1.0 / 16}),
			[]string{"resnet50/maxpool/MaxPool_0", "resnet50/layer1.0/conv3/Conv_0", "resnet50/layer4.2/bn3/BatchNormalization_0"}},
		{models.ViT(models.ViTOpts{Patch: 4, Dim: 8, Depth: 2, Heads: 2, MLPDim: 16, Classes: 10}),
			[]string{"vit/conv_proj/Conv_0", "vit/encoder/layers/encoder_layer_1/self_attention/Softmax_0",
				"vit/encoder/layers/encoder_layer_0/mlp/0/Gemm_0", "vit/encoder/ln/LayerNormalization_0", "vit/heads/head/Gemm_0"}},
	} {
		var names []string
		for _, n := range evalParams(t, tc.net, 2, 3, 32, 32).Proto.GetGraph().GetNode() {
			names = append(names, n.GetName())
		}
		for _, w := range tc.want {
			if !slices.Contains(names, w) {
				t.Errorf("no node %s", w)
			}
		}
	}
}

func TestWidth(t *testing.T) {
	for _, tc := range []struct {
		width float64
		base  int64
	}{{0, 64}, {1, 64}, {0.5, 32}, {1.0 / 16, 4}, {0.1, 6}, {0.001, 1}, {2, 128}} {
		net := models.ResNet(models.ResNetOpts{Depth: 50, Classes: 3, Stem: models.CIFARStem, Width: tc.width})
		params := evalParams(t, net, 2, 1, 8, 8).Params // one input channel, as Fashion-MNIST
		shapes := map[string][]int64{}
		for _, p := range params {
			shapes[p.Name] = p.Shape
		}
		b := tc.base
		for name, want := range map[string][]int64{
			"conv1.weight":          {b, 1, 3, 3},
			"layer1.0.conv3.weight": {4 * b, b, 1, 1},
			"layer4.2.conv2.weight": {8 * b, 8 * b, 3, 3},
			"fc.weight":             {3, 32 * b},
		} {
			if !slices.Equal(shapes[name], want) {
				t.Errorf("width %v: %s %v, want %v", tc.width, name, shapes[name], want)
			}
		}
	}
	if got := models.ViTLite74(10, 1.0/16); got.Dim != 16 || got.MLPDim != 32 || got.Heads != 4 {
		t.Errorf("ViTLite74 at width 1/16: %+v", got)
	}
}

// stats returns the mean, standard deviation and largest magnitude of d.
func stats(d []float32) (mean, std, maxAbs float64) {
	for _, v := range d {
		mean += float64(v)
		maxAbs = math.Max(maxAbs, math.Abs(float64(v)))
	}
	mean /= float64(len(d))
	for _, v := range d {
		std += (float64(v) - mean) * (float64(v) - mean)
	}
	return mean, math.Sqrt(std / float64(len(d))), maxAbs
}

func TestInit(t *testing.T) {
	type want struct {
		std    float64 // of a normal (0: not checked)
		bound  float64 // of a uniform: max |v| ≤ bound, and for 1000 values or more std ≈ bound/√3
		consts float64 // every element (when std and bound are 0)
	}
	check := func(t *testing.T, values map[string][]float32, wants map[string]want) {
		t.Helper()
		for name, w := range wants {
			d, ok := values[name]
			if !ok {
				t.Errorf("no parameter %s", name)
				continue
			}
			mean, std, maxAbs := stats(d)
			switch {
			case w.std != 0:
				if math.Abs(std/w.std-1) > 0.1 || math.Abs(mean) > 4*w.std/math.Sqrt(float64(len(d))) {
					t.Errorf("%s: mean %.3g, std %.4g, want 0 and %.4g", name, mean, std, w.std)
				}
			case w.bound != 0:
				spread := len(d) < 1000 || (maxAbs > 0.95*w.bound && math.Abs(std/(w.bound/math.Sqrt(3))-1) < 0.1)
				if maxAbs > w.bound || maxAbs == 0 || !spread {
					t.Errorf("%s: max |v| %.4g, std %.4g, want U(±%.4g)", name, maxAbs, std, w.bound)
				}
			case maxAbs != w.consts || math.Abs(mean-w.consts) > 0:
				t.Errorf("%s: mean %v, max |v| %v, want all %v", name, mean, maxAbs, w.consts)
			}
		}
	}
	t.Run("resnet18", func(t *testing.T) {
		params := evalParams(t, resnet18CIFAR(10), 1, 3, 32, 32).Params
		check(t, graphs.InitParams(params, 1), map[string]want{
			"conv1.weight":                 {std: math.Sqrt(2.0 / (64 * 9))},
			"layer4.1.conv2.weight":        {std: math.Sqrt(2.0 / (512 * 9))},
			"layer2.0.downsample.0.weight": {std: math.Sqrt(2.0 / 128)},
			"bn1.weight":                   {consts: 1},
			"layer3.0.bn2.bias":            {consts: 0},
			"layer1.1.bn1.running_mean":    {consts: 0},
			"layer1.1.bn1.running_var":     {consts: 1},
			"fc.weight":                    {bound: 1 / math.Sqrt(512)},
			"fc.bias":                      {bound: 1 / math.Sqrt(512)},
		})
	})
	t.Run("vit", func(t *testing.T) {
		const d, mlp = 192, 768
		net := models.ViT(models.ViTOpts{Patch: 8, Dim: d, Depth: 1, Heads: 3, MLPDim: mlp, Classes: 10})
		params := evalParams(t, net, 1, 3, 32, 32).Params
		l := "encoder.layers.encoder_layer_0."
		check(t, graphs.InitParams(params, 1), map[string]want{
			"conv_proj.weight":                   {std: math.Sqrt(1.0 / (3 * 8 * 8))},
			"conv_proj.bias":                     {consts: 0},
			"class_token":                        {consts: 0},
			"encoder.pos_embedding":              {std: 0.02},
			l + "ln_1.weight":                    {consts: 1},
			l + "ln_2.bias":                      {consts: 0},
			l + "self_attention.in_proj_weight":  {bound: math.Sqrt(6.0 / (d + 3*d))},
			l + "self_attention.in_proj_bias":    {consts: 0},
			l + "self_attention.out_proj.weight": {bound: 1 / math.Sqrt(d)},
			l + "self_attention.out_proj.bias":   {consts: 0},
			l + "mlp.0.weight":                   {bound: math.Sqrt(6.0 / (d + mlp))},
			l + "mlp.0.bias":                     {std: 1e-6},
			l + "mlp.3.weight":                   {bound: math.Sqrt(6.0 / (d + mlp))},
			"encoder.ln.weight":                  {consts: 1},
			"heads.head.weight":                  {consts: 0},
			"heads.head.bias":                    {consts: 0},
		})
	})
}

func TestBadOptions(t *testing.T) {
	for _, tc := range []struct {
		name string
		net  graphs.Net
		want string
	}{
		{"depth", models.ResNet(models.ResNetOpts{Depth: 34, Classes: 10, Stem: models.CIFARStem}), "depth 34"},
		{"stem", models.ResNet(models.ResNetOpts{Depth: 18, Classes: 10}), `stem ""`},
		{"classes", models.ResNet(models.ResNetOpts{Depth: 18, Stem: models.CIFARStem}), "0 classes"},
		{"width", models.ResNet(models.ResNetOpts{Depth: 18, Classes: 10, Stem: models.CIFARStem, Width: -1}), "width -1"},
		{"heads", models.ViT(models.ViTOpts{Patch: 4, Dim: 10, Depth: 1, Heads: 3, MLPDim: 8, Classes: 2}), "3 heads"},
		{"patch", models.ViT(models.ViTOpts{Patch: 5, Dim: 8, Depth: 1, Heads: 2, MLPDim: 8, Classes: 2}), "patch 5"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := graphs.EvalGraph(graphs.GraphSpec{Name: "bad", Batch: 1, Image: []int64{3, 32, 32}, Net: tc.net}, nil)
			var be *graphs.BuildError
			if !errors.As(err, &be) || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("error %v, want a *graphs.BuildError about %q", err, tc.want)
			}
		})
	}
}

func TestByName(t *testing.T) {
	for _, tc := range []struct {
		name  string
		o     models.Options
		image int64
		first string // name and shape of the first parameter
		shape []int64
	}{
		{"resnet18", models.Options{Classes: 10, ImageSize: 32}, 32, "conv1.weight", []int64{64, 3, 3, 3}},
		{"resnet18", models.Options{Classes: 10, ImageSize: 224}, 224, "conv1.weight", []int64{64, 3, 7, 7}},
		{"resnet18", models.Options{Classes: 10, ImageSize: 224, Stem: models.CIFARStem}, 224, "conv1.weight", []int64{64, 3, 3, 3}},
		{"resnet50", models.Options{Classes: 10, ImageSize: 32, Width: 0.25}, 32, "conv1.weight", []int64{16, 3, 3, 3}},
		{"vit-b16", models.Options{Classes: 10, ImageSize: 32}, 32, "class_token", []int64{1, 1, 768}},
		{"vit", models.Options{Classes: 10, ImageSize: 32, Width: 0.5}, 32, "class_token", []int64{1, 1, 128}},
	} {
		net, err := models.ByName(tc.name, tc.o)
		if err != nil {
			t.Fatalf("%s %+v: %v", tc.name, tc.o, err)
		}
		p := evalParams(t, net, 1, 3, tc.image, tc.image).Params[0]
		if p.Name != tc.first || !slices.Equal(p.Shape, tc.shape) {
			t.Errorf("%s %+v: first parameter %s %v, want %s %v", tc.name, tc.o, p.Name, p.Shape, tc.first, tc.shape)
		}
	}
	for _, tc := range []struct {
		name string
		o    models.Options
		want string
	}{
		{"resnet34", models.Options{Classes: 10, ImageSize: 32}, "resnet18, resnet50, vit-b16, vit"},
		{"resnet18", models.Options{Classes: 10}, "image size 0"},
		{"resnet18", models.Options{Classes: 10, ImageSize: 32, Stem: "big"}, `stem "big"`},
		{"resnet18", models.Options{ImageSize: 32}, "0 classes"},
		{"vit", models.Options{Classes: 10, ImageSize: 32, Width: math.NaN()}, "width NaN"},
		{"vit-b16", models.Options{Classes: 10, ImageSize: 224, Width: 0.5}, "fixed size"},
		{"vit-b16", models.Options{Classes: 10, ImageSize: 28}, "multiple of the patch size 16"},
		{"vit", models.Options{Classes: 10, ImageSize: 32, Stem: models.CIFARStem}, "no stem"},
	} {
		if _, err := models.ByName(tc.name, tc.o); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("ByName(%q, %+v): error %v, want one about %q", tc.name, tc.o, err, tc.want)
		}
	}
	if got := models.Names(); !slices.Equal(got, []string{"resnet18", "resnet50", "vit-b16", "vit"}) {
		t.Errorf("Names() = %v", got)
	}
}
