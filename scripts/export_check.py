#!/usr/bin/env python3
"""Loads a `vgg-train export` file into PyTorch and checks its logits against vgg-train's.

    vgg-train export --config configs/vgg16.toml --out vgg16.safetensors
    .venv-torch/bin/python scripts/export_check.py vgg16.safetensors

`vgg-train export` writes FILE.safetensors (torchvision's names) and FILE.json (the network's
layers, and the logits vgg-train computed for a fixed input). This script

  1. rebuilds the network in PyTorch from the JSON: an nn.Module with torchvision's VGG layout
     (`features` = Sequential of Conv2d / BatchNorm2d / ReLU / LocalResponseNorm / MaxPool2d,
     `avgpool`, `classifier` = Sequential(Linear, ReLU, Dropout, ..., Linear)), which covers the
     networks torchvision has no class for (A-LRN, C's 1x1 convs, B-5x5, compact heads,
     other widths);
  2. when the JSON names a torchvision constructor (vgg11 ... vgg19_bn), also builds that one;
  3. loads the safetensors with load_state_dict(strict=True) into each, runs the JSON's input
     (sin(0.37 i) over the flat index) in eval mode, and compares with vgg-train's logits.

Exit status 0 when every model agrees to 1e-4 (max |difference| / max |logit|), 1 otherwise.
Needs torch and safetensors (scripts/setup-torch-venv.sh, then pip install safetensors);
torchvision only for step 2.
"""

import json
import sys

import torch
from safetensors.torch import load_file
from torch import nn


class ExportedVgg(nn.Module):
    """torchvision's VGG layout, built from the layer list of the export's JSON."""

    def __init__(self, desc):
        super().__init__()
        layers = []
        for spec in desc["features"]:
            kind = spec["type"]
            if kind == "conv":
                layers.append(nn.Conv2d(spec["in"], spec["out"], spec["kernel"],
                                        padding=spec["padding"], bias=spec["bias"]))
            elif kind == "batch_norm":
                layers.append(nn.BatchNorm2d(spec["features"], eps=spec["eps"]))
            elif kind == "relu":
                layers.append(nn.ReLU(inplace=True))
            elif kind == "lrn":
                layers.append(nn.LocalResponseNorm(spec["size"], alpha=spec["alpha"],
                                                   beta=spec["beta"], k=spec["k"]))
            elif kind == "max_pool":
                layers.append(nn.MaxPool2d(spec["kernel"], spec["stride"]))
            else:
                raise ValueError(f"unknown layer type {kind!r}")
        self.features = nn.Sequential(*layers)
        self.avgpool = nn.AdaptiveAvgPool2d(desc["avgpool"])
        head = []
        fcs = desc["classifier"]
        for i, fc in enumerate(fcs):
            head.append(nn.Linear(fc["in"], fc["out"]))
            if i < len(fcs) - 1:
                head += [nn.ReLU(inplace=True), nn.Dropout(desc["dropout"])]
        self.classifier = nn.Sequential(*head)

    def forward(self, x):
        x = self.avgpool(self.features(x))
        return self.classifier(torch.flatten(x, 1))


def check(name, model, state, x, want):
    model.load_state_dict(state, strict=True)
    model.eval()
    with torch.no_grad():
        got = model(x)
    err = (got - want).abs().max().item() / max(want.abs().max().item(), 1e-12)
    ok = err < 1e-4
    print(f"{name}: strict load ok, max |torch - vgg-train| / max |logit| = {err:.2e} "
          f"{'ok' if ok else 'FAIL'}")
    return ok


def main():
    if len(sys.argv) != 2:
        sys.exit(__doc__)
    path = sys.argv[1]
    json_path = path.rsplit(".", 1)[0] + ".json"
    with open(json_path) as f:
        desc = json.load(f)
    state = load_file(path)
    check_spec = desc["check"]
    shape = check_spec["shape"]
    n = 1
    for d in shape:
        n *= d
    # The same float32 values as vgg-train: sin computed in double, rounded to float.
    x = torch.sin(0.37 * torch.arange(n, dtype=torch.float64)).float().reshape(shape)
    want = torch.tensor(check_spec["logits"], dtype=torch.float32)
    print(f"{path}: configuration {desc['arch']}{' with BN' if desc['batch_norm'] else ''}, "
          f"width {desc['width']}, {desc['num_classes']} classes, {len(state)} tensors")
    ok = check("rebuilt from the JSON", ExportedVgg(desc), state, x, want)
    if desc.get("torchvision"):
        import torchvision

        ctor = getattr(torchvision.models, desc["torchvision"])
        model = ctor(num_classes=desc["num_classes"], dropout=desc["dropout"])
        ok = check(f"torchvision.models.{desc['torchvision']}", model, state, x, want) and ok
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main()
