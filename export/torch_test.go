package export_test

import (
	"encoding/binary"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"testing"

	"github.com/taet-ml/taet/export"
	"github.com/taet-ml/taet/internal/ortest"
	"github.com/taet-ml/taet/models"
	"github.com/taet-ml/taet/onnx"
	"github.com/taet-ml/taet/onnx/ort"
)

// torchPython is Debian's python3, with python3-torch and python3-torchvision.
const torchPython = "/usr/bin/python3"

// torchScript loads a safetensors file (parsed by hand: Debian packages no
// safetensors module) into a torchvision model with load_state_dict(strict=True)
// and writes its logits on the images in a raw float32 file.
//
// argv: model.safetensors x.f32 out.f32 batch C H W kind
const torchScript = `
import json, struct, sys, torch, torchvision
path, xpath, out, n, c, h, w, kind = sys.argv[1:]
n, c, h, w = int(n), int(c), int(h), int(w)
b = open(path, "rb").read()
size = struct.unpack("<Q", b[:8])[0]
header = json.loads(b[8:8 + size])
header.pop("__metadata__", None)
state = {}
for k, e in header.items():
    assert e["dtype"] == "F32", e
    s, t = e["data_offsets"]
    state[k] = torch.frombuffer(bytearray(b[8 + size + s:8 + size + t]), dtype=torch.float32).reshape(e["shape"])
if kind == "resnet18-cifar":
    model = torchvision.models.resnet18(num_classes=state["fc.bias"].numel())
    model.conv1 = torch.nn.Conv2d(c, 64, 3, 1, 1, bias=False)
    model.maxpool = torch.nn.Identity()
else:  # vit: ViT-Lite-7/4
    d = state["class_token"].shape[-1]
    model = torchvision.models.VisionTransformer(image_size=h, patch_size=4, num_layers=7, num_heads=4,
        hidden_dim=d, mlp_dim=2 * d, num_classes=state["heads.head.bias"].numel())
model.load_state_dict(state, strict=True)
model.eval()
x = torch.frombuffer(bytearray(open(xpath, "rb").read()), dtype=torch.float32).reshape(n, c, h, w)
with torch.no_grad():
    open(out, "wb").write(model(x).numpy().astype("<f4").tobytes())
`

// TestTorchvisionLoadsSafeTensors loads the safetensors export into
// torchvision (ResNet-18 with the CIFAR stem adjusted, and a ViT-Lite)
// and compares PyTorch's logits with the ONNX export's on ONNX Runtime.
func TestTorchvisionLoadsSafeTensors(t *testing.T) {
	if err := exec.Command(torchPython, "-c", "import torch, torchvision").Run(); err != nil {
		t.Skipf("needs PyTorch and torchvision: apt-get install python3-torch python3-torchvision (%v)", err)
	}
	ortest.Init(t)
	for _, tc := range []struct {
		name  string
		model string
		opts  models.Options
		image []int64
	}{
		{"resnet18-cifar", "resnet18", models.Options{Classes: 10, ImageSize: 32, Width: 1}, []int64{3, 32, 32}},
		{"vit", "vit", models.Options{Classes: 10, ImageSize: 32, Width: 1.0 / 16}, []int64{3, 32, 32}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if testing.Short() && tc.model == "resnet18" {
				t.Skip("full-width ResNet-18 (11M parameters); skipped with -short")
			}
			n := randomNetwork(t, tc.model, tc.opts, tc.image)
			st, err := export.SafeTensors(n, export.Options{})
			if err != nil {
				t.Fatal(err)
			}
			m, _, err := export.ONNX(n, export.Options{})
			if err != nil {
				t.Fatal(err)
			}
			model, err := onnx.Marshal(m)
			if err != nil {
				t.Fatal(err)
			}
			const batch = 3
			x := n.RandomInputs(batch, 5)
			want, err := export.Logits(model, x, []int64{batch, tc.image[0], tc.image[1], tc.image[2]}, tc.opts.Classes, ort.Options{Threads: 1})
			if err != nil {
				t.Fatal(err)
			}
			dir := t.TempDir()
			files := map[string][]byte{"model.safetensors": st, "x.f32": f32Bytes(x)}
			for name, b := range files {
				if err := os.WriteFile(filepath.Join(dir, name), b, 0o644); err != nil {
					t.Fatal(err)
				}
			}
			args := []string{"-c", torchScript, filepath.Join(dir, "model.safetensors"), filepath.Join(dir, "x.f32"), filepath.Join(dir, "out.f32"), strconv.Itoa(batch)}
			for _, d := range tc.image {
				args = append(args, strconv.FormatInt(d, 10))
			}
			if out, err := exec.Command(torchPython, append(args, tc.name)...).CombinedOutput(); err != nil {
				t.Fatalf("torchvision: %v\n%s", err, out)
			}
			raw, err := os.ReadFile(filepath.Join(dir, "out.f32"))
			if err != nil {
				t.Fatal(err)
			}
			if len(raw) != 4*len(want) {
				t.Fatalf("PyTorch wrote %d logits, want %d", len(raw)/4, len(want))
			}
			scale, diff := 0.0, 0.0
			for i, w := range want {
				got := math.Float32frombits(binary.LittleEndian.Uint32(raw[4*i:]))
				scale = max(scale, math.Abs(float64(w)))
				diff = max(diff, math.Abs(float64(got-w)))
			}
			t.Logf("max |PyTorch − ONNX| %.2g, logit scale %.3g", diff, scale)
			if !(scale > 0.01) || diff > export.DefaultTolerance*max(1, scale) {
				t.Errorf("PyTorch and the ONNX export differ by %.3g (logit scale %.3g)", diff, scale)
			}
		})
	}
}

func f32Bytes(x []float32) []byte {
	b := make([]byte, 0, 4*len(x))
	for _, v := range x {
		b = binary.LittleEndian.AppendUint32(b, math.Float32bits(v))
	}
	return b
}
