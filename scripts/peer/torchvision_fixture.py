"""Peer reference for loading torchvision VGG weights: small torchvision-layout checkpoints
plus the logits torchvision computes from them.

Builds torchvision.models.vgg.VGG from make_layers(configuration A at width 1/16) with and
without batch norm, the classifier shrunk to 32 hidden units and 10 classes (the state-dict
keys keep torchvision's layout: features.N.*, classifier.0/3/6.*), and torchvision's
AdaptiveAvgPool2d((7, 7)). Weights, after torch.manual_seed(0), in module order:
    conv / linear weight ~ N(0, sqrt(2 / fan_in)),  every bias ~ U(-0.1, 0.1),
    BN weight ~ U(0.5, 1.5), bias ~ U(-0.2, 0.2), running_mean ~ U(-0.3, 0.3),
    running_var ~ U(0.5, 2.0)  (so BN in eval mode is not the identity).
Input, shape [2, 3, S, S] for S = 224 and S = 96 (96 gives a 3x3 map that the adaptive pool
upsamples to 7x7), computed in float64 then cast to float32:
    x[n, c, h, w] = sin(0.37*n + 1.3*c + 0.11*h + 0.07*w + 0.013*h*w/7)

Writes, under tests/fixtures/torchvision/ (relative to the repository root, found from this
file's location): vgg11-w16.pth and vgg11_bn-w16.pth (torch.save of the state dict, zip
format) and logits.json (eval-mode float32 logits per file and size, exact float reprs).
Checks each file by reloading it into a fresh model and recomputing the logits.

How to run (from the repository root):
    scripts/setup-torch-venv.sh /work/venv-torch     # once; any venv with torch + torchvision
    /work/venv-torch/bin/python scripts/peer/torchvision_fixture.py
"""

import json
import math
import os

import numpy as np
import torch
import torch.nn as nn
from torchvision.models.vgg import VGG, make_layers

CFG_A_W16 = [4, "M", 8, "M", 16, 16, "M", 32, 32, "M", 32, 32, "M"]
WIDTH = 0.0625
HIDDEN = 32
NUM_CLASSES = 10
BATCH = 2
SIZES = [224, 96]
FILES = [("vgg11-w16.pth", False), ("vgg11_bn-w16.pth", True)]

REPO_ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
OUT_DIR = os.path.join(REPO_ROOT, "tests", "fixtures", "torchvision")


def build(batch_norm):
    model = VGG(make_layers(CFG_A_W16, batch_norm=batch_norm), init_weights=False)
    last = CFG_A_W16[-2]
    model.classifier = nn.Sequential(
        nn.Linear(last * 7 * 7, HIDDEN), nn.ReLU(True), nn.Dropout(),
        nn.Linear(HIDDEN, HIDDEN), nn.ReLU(True), nn.Dropout(),
        nn.Linear(HIDDEN, NUM_CLASSES),
    )
    return model.eval()


@torch.no_grad()
def init_weights(model):
    for m in model.modules():
        if isinstance(m, (nn.Conv2d, nn.Linear)):
            fan_in = m.weight[0].numel()
            m.weight.normal_(0.0, math.sqrt(2.0 / fan_in))
            m.bias.uniform_(-0.1, 0.1)
        elif isinstance(m, nn.BatchNorm2d):
            m.weight.uniform_(0.5, 1.5)
            m.bias.uniform_(-0.2, 0.2)
            m.running_mean.uniform_(-0.3, 0.3)
            m.running_var.uniform_(0.5, 2.0)


def make_input(size):
    n, c, h, w = np.meshgrid(
        np.arange(BATCH), np.arange(3), np.arange(size), np.arange(size), indexing="ij"
    )
    x = np.sin(0.37 * n + 1.3 * c + 0.11 * h + 0.07 * w + 0.013 * h * w / 7.0)
    return torch.from_numpy(x.astype(np.float32))


@torch.no_grad()
def logits(model, size):
    y = model(make_input(size))
    assert y.dtype == torch.float32 and list(y.shape) == [BATCH, NUM_CLASSES]
    return y


def main():
    torch.set_num_threads(1)
    torch.manual_seed(0)
    os.makedirs(OUT_DIR, exist_ok=True)
    cases = []
    for file, batch_norm in FILES:
        model = build(batch_norm)
        init_weights(model)
        path = os.path.join(OUT_DIR, file)
        torch.save(model.state_dict(), path)

        reloaded = build(batch_norm)
        reloaded.load_state_dict(torch.load(path, weights_only=True))
        for size in SIZES:
            y = logits(model, size)
            assert torch.equal(y, logits(reloaded, size)), f"{file} @ {size}: reload differs"
            print(f"{file:18} size {size:3}: logits std {y.std().item():.4f}, "
                  f"mean {y.mean().item():+.4f}  ({os.path.getsize(path)} bytes)")
            cases.append({"file": file, "batch_norm": batch_norm, "size": size,
                          "logits": [[float(v) for v in row] for row in y.tolist()]})

    # A PyTorch state dict that is not a VGG's, for the loader's refusal test.
    torch.save(nn.Linear(3, 2).state_dict(), os.path.join(OUT_DIR, "not-vgg.pth"))

    doc = {
        "generator": "scripts/peer/torchvision_fixture.py",
        "torch": torch.__version__,
        "arch": "A",
        "width": WIDTH,
        "hidden": HIDDEN,
        "num_classes": NUM_CLASSES,
        "input": "sin(0.37*n + 1.3*c + 0.11*h + 0.07*w + 0.013*h*w/7)",
        "cases": cases,
    }
    with open(os.path.join(OUT_DIR, "logits.json"), "w") as f:
        json.dump(doc, f, indent=1)
        f.write("\n")
    print(f"wrote {OUT_DIR}/{{{', '.join(f for f, _ in FILES)}, logits.json}}")


if __name__ == "__main__":
    main()
