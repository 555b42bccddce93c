"""Writes vit_tiny_torch.json: a tiny torchvision VisionTransformer's
parameters, a batch of images and the logits PyTorch computes for them,
for models' TestViTMatchesTorchvision. Run from this folder with Debian's
python3-torchvision (0.14): python3 torch_vit_tiny.py
"""
import base64
import json

import torch
from torchvision.models.vision_transformer import VisionTransformer

torch.manual_seed(0)
m = VisionTransformer(image_size=16, patch_size=4, num_layers=2, num_heads=2,
                      hidden_dim=16, mlp_dim=32, num_classes=5).eval()
with torch.no_grad():
    for k, v in m.state_dict().items():
        # torchvision starts these at 0 or 1, which would hide layout bugs.
        if k == "class_token" or k.startswith("heads.") or ".ln" in k or k.endswith("bias"):
            v.copy_(torch.randn_like(v) * 0.5 + (1 if ".ln" in k and k.endswith("weight") else 0))
    x = torch.rand(2, 3, 16, 16)
    y = m(x)


def b64(t):
    return base64.b64encode(t.detach().contiguous().numpy().astype("<f4").tobytes()).decode()


out = {
    "generator": "torch_vit_tiny.py, torch %s" % torch.__version__,
    "params": {k: b64(v) for k, v in m.state_dict().items()},
    "x": b64(x),
    "logits": b64(y),
}
with open("vit_tiny_torch.json", "w") as f:
    json.dump(out, f, indent=0, sort_keys=True)
