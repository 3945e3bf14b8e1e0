"""Peer reference for the training math: three SGD steps of a small VGG in PyTorch 2.9.

Builds torchvision.models.vgg.VGG from make_layers(configuration A at width 1/16), with and
without batch norm, its classifier shrunk to 32 hidden units and 10 classes and dropout off
(p = 0), so the state-dict keys keep torchvision's layout (features.N.*, classifier.0/3/6.*).
Weights after torch.manual_seed(0), in module order:
    conv / linear weight ~ N(0, sqrt(2 / fan_in)),  every bias ~ U(-0.1, 0.1),
    BN weight ~ U(0.5, 1.5), bias ~ U(-0.2, 0.2)
Batch: 6 images of 3x32x32 (the map reaches 1x1, which the adaptive pool spreads to 7x7),
computed in float64 then cast to float32, with labels n mod 10:
    x[n, c, h, w] = sin(0.37*n + 1.3*c + 0.11*h + 0.07*w + 0.013*h*w/7)
Training mode (BN uses batch statistics), cross-entropy (mean), then SGD with lr 0.01,
momentum 0.9 (dampening 0), weight decay 5e-4, three steps on the same batch.

Writes, under tests/fixtures/sgd/ (relative to the repository root): for each of plain and bn,
<name>-init.pth (the weights before the first step) and <name>-step3.pth (after the third),
and steps.json with the logits before the first step and the loss of each step.

How to run (from the repository root):
    scripts/setup-torch-venv.sh .venv-torch     # once
    .venv-torch/bin/python scripts/peer/sgd_steps_fixture.py
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
BATCH = 6
SIZE = 32
LR = 0.01
MOMENTUM = 0.9
WEIGHT_DECAY = 5e-4
STEPS = 3

REPO_ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
OUT_DIR = os.path.join(REPO_ROOT, "tests", "fixtures", "sgd")


def build(batch_norm):
    model = VGG(make_layers(CFG_A_W16, batch_norm=batch_norm), init_weights=False, dropout=0.0)
    last = CFG_A_W16[-2]
    model.classifier = nn.Sequential(
        nn.Linear(last * 7 * 7, HIDDEN), nn.ReLU(True), nn.Dropout(p=0.0),
        nn.Linear(HIDDEN, HIDDEN), nn.ReLU(True), nn.Dropout(p=0.0),
        nn.Linear(HIDDEN, NUM_CLASSES),
    )
    return model.train()


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


def make_batch():
    n, c, h, w = np.meshgrid(
        np.arange(BATCH), np.arange(3), np.arange(SIZE), np.arange(SIZE), indexing="ij"
    )
    x = np.sin(0.37 * n + 1.3 * c + 0.11 * h + 0.07 * w + 0.013 * h * w / 7.0)
    labels = torch.arange(BATCH) % NUM_CLASSES
    return torch.from_numpy(x.astype(np.float32)), labels


def main():
    torch.set_num_threads(1)
    torch.manual_seed(0)
    os.makedirs(OUT_DIR, exist_ok=True)
    x, labels = make_batch()
    cases = []
    for name, batch_norm in [("plain", False), ("bn", True)]:
        model = build(batch_norm)
        init_weights(model)
        torch.save(model.state_dict(), os.path.join(OUT_DIR, f"{name}-init.pth"))
        optim = torch.optim.SGD(
            model.parameters(), lr=LR, momentum=MOMENTUM, dampening=0.0,
            weight_decay=WEIGHT_DECAY,
        )
        losses, first_logits = [], None
        for _ in range(STEPS):
            optim.zero_grad()
            logits = model(x)
            if first_logits is None:
                first_logits = logits.detach()
            loss = nn.functional.cross_entropy(logits, labels)
            loss.backward()
            optim.step()
            losses.append(loss.item())
        torch.save(model.state_dict(), os.path.join(OUT_DIR, f"{name}-step{STEPS}.pth"))
        moved = max(
            float((p - q).abs().max())
            for p, q in zip(model.state_dict().values(),
                            torch.load(os.path.join(OUT_DIR, f"{name}-init.pth")).values())
            if p.dtype == torch.float32
        )
        print(f"{name:5}: losses {', '.join(f'{l:.5f}' for l in losses)}; "
              f"largest parameter change {moved:.4f}")
        cases.append({
            "name": name,
            "batch_norm": batch_norm,
            "logits": [[float(v) for v in row] for row in first_logits.tolist()],
            "losses": losses,
        })
    doc = {
        "generator": "scripts/peer/sgd_steps_fixture.py",
        "torch": torch.__version__,
        "arch": "A",
        "width": WIDTH,
        "hidden": HIDDEN,
        "num_classes": NUM_CLASSES,
        "batch": BATCH,
        "size": SIZE,
        "labels": [int(v) for v in labels],
        "lr": LR,
        "momentum": MOMENTUM,
        "weight_decay": WEIGHT_DECAY,
        "steps": STEPS,
        "input": "sin(0.37*n + 1.3*c + 0.11*h + 0.07*w + 0.013*h*w/7)",
        "cases": cases,
    }
    with open(os.path.join(OUT_DIR, "steps.json"), "w") as f:
        json.dump(doc, f, indent=1)
        f.write("\n")
    print(f"wrote {OUT_DIR}")


if __name__ == "__main__":
    main()
