#!/usr/bin/env python3
"""PyTorch side of the speed comparison: the same VGG networks as vgg-train (same layer table,
same heads), SGD with momentum 0.9 / weight decay 5e-4, synthetic data, the same thread count,
timed the same way as `vgg-train bench` (warm-up steps, then each timed step separately, with a
device sync at the end of each step). Prints CSV rows with vgg-train's bench columns.

Needs PyTorch 2.9.0 (scripts/setup-torch-venv.sh makes a venv); never runs in CI.

    .venv-torch/bin/python scripts/bench-pytorch.py --archs A,D --width 0.25 --image-size 32 \
        --batch 64 --head compact --hidden 512 --threads 2
"""
import argparse
import os
import socket
import statistics
import sys
import time

import torch
import torch.nn as nn

M = "M"
LRN = "LRN"
TABLE = {
    "A": [(64, 3), M, (128, 3), M, (256, 3), (256, 3), M, (512, 3), (512, 3), M, (512, 3), (512, 3), M],
    "A-LRN": [(64, 3), LRN, M, (128, 3), M, (256, 3), (256, 3), M, (512, 3), (512, 3), M, (512, 3), (512, 3), M],
    "B": [(64, 3), (64, 3), M, (128, 3), (128, 3), M, (256, 3), (256, 3), M, (512, 3), (512, 3), M, (512, 3), (512, 3), M],
    "B-5x5": [(64, 5), M, (128, 5), M, (256, 5), M, (512, 5), M, (512, 5), M],
    "C": [(64, 3), (64, 3), M, (128, 3), (128, 3), M, (256, 3), (256, 3), (256, 1), M, (512, 3), (512, 3), (512, 1), M,
          (512, 3), (512, 3), (512, 1), M],
    "D": [(64, 3), (64, 3), M, (128, 3), (128, 3), M, (256, 3), (256, 3), (256, 3), M, (512, 3), (512, 3), (512, 3), M,
          (512, 3), (512, 3), (512, 3), M],
    "E": [(64, 3), (64, 3), M, (128, 3), (128, 3), M] + [(256, 3)] * 4 + [M] + [(512, 3)] * 4 + [M] + [(512, 3)] * 4 + [M],
}


def build(arch, width, in_ch, classes, head, hidden, batch_norm, dropout=0.5):
    layers, c = [], in_ch
    for spec in TABLE[arch]:
        if spec == M:
            layers.append(nn.MaxPool2d(2, 2))
        elif spec == LRN:
            layers.append(nn.LocalResponseNorm(5, alpha=5e-4, beta=0.75, k=2.0))
        else:
            out, k = spec
            out = max(1, round(out * width))
            layers.append(nn.Conv2d(c, out, k, padding=k // 2))
            if batch_norm:
                layers.append(nn.BatchNorm2d(out))
            layers.append(nn.ReLU(inplace=True))
            c = out
    p = 7 if head == "paper" else 1
    dims = [c * p * p] + [hidden] * 2 + [classes]
    fc = []
    for i in range(len(dims) - 1):
        fc.append(nn.Linear(dims[i], dims[i + 1]))
        if i < len(dims) - 2:
            fc += [nn.ReLU(inplace=True), nn.Dropout(dropout)]
    return nn.Sequential(*layers, nn.AdaptiveAvgPool2d(p), nn.Flatten(), *fc)


def macs(arch, width, in_ch, size, head, hidden, classes):
    total, c, s = 0, in_ch, size
    for spec in TABLE[arch]:
        if spec == M:
            s //= 2
        elif spec != LRN:
            out, k = spec
            out = max(1, round(out * width))
            total += k * k * c * out * s * s
            c = out
    p = 7 if head == "paper" else 1
    dims = [c * p * p, hidden, hidden, classes]
    total += sum(dims[i] * dims[i + 1] for i in range(3))
    return total


def timed(fn, warmup, steps, batch, sync):
    for _ in range(warmup):
        fn()
        sync()
    rates = []
    for _ in range(steps):
        t = time.perf_counter()
        fn()
        sync()
        rates.append(batch / (time.perf_counter() - t))
    return rates


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--archs", default="A,D")
    ap.add_argument("--width", type=float, default=0.25)
    ap.add_argument("--image-size", type=int, default=32)
    ap.add_argument("--channels", type=int, default=3)
    ap.add_argument("--classes", type=int, default=10)
    ap.add_argument("--batch", type=int, default=64)
    ap.add_argument("--head", choices=["paper", "compact"], default="compact")
    ap.add_argument("--hidden", type=int, default=512)
    ap.add_argument("--batch-norm", action="store_true")
    ap.add_argument("--threads", type=int, default=os.cpu_count())
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--warmup", type=int, default=3)
    ap.add_argument("--steps", type=int, default=10)
    a = ap.parse_args()

    torch.manual_seed(0)
    torch.set_num_threads(a.threads)
    dev = torch.device(a.device)
    sync = (lambda: torch.cuda.synchronize()) if dev.type == "cuda" else (lambda: None)
    cpu = "unknown CPU"
    try:
        with open("/proc/cpuinfo") as f:
            cpu = next(l.split(":", 1)[1].strip() for l in f if l.startswith("model name"))
    except (OSError, StopIteration):
        pass
    host = f"{socket.gethostname()} ({cpu}, {os.cpu_count()} cores)"
    if dev.type == "cuda":
        host += f" {torch.cuda.get_device_name(dev)}"
    w = csv_writer()
    for arch in a.archs.split(","):
        model = build(arch, a.width, a.channels, a.classes, a.head, a.hidden, a.batch_norm).to(dev)
        opt = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9, weight_decay=5e-4)
        loss_fn = nn.CrossEntropyLoss()
        x = torch.randn(a.batch, a.channels, a.image_size, a.image_size, device=dev)
        y = torch.arange(a.batch, device=dev) % a.classes

        def train_step():
            opt.zero_grad(set_to_none=True)
            loss_fn(model(x), y).backward()
            opt.step()

        model.train()
        train = timed(train_step, a.warmup, a.steps, a.batch, sync)
        model.eval()

        def infer_step():
            with torch.no_grad():
                model(x)

        infer = timed(infer_step, a.warmup, a.steps, a.batch, sync)
        params = sum(p.numel() for p in model.parameters())
        m = macs(arch, a.width, a.channels, a.image_size, a.head, a.hidden, a.classes)
        tr = statistics.mean(train)
        w([arch, a.width, a.image_size, a.batch, f"pytorch-{dev.type}", "f32", tr,
           statistics.stdev(train) if len(train) > 1 else 0.0, statistics.mean(infer),
           statistics.stdev(infer) if len(infer) > 1 else 0.0, params, m / 1e9, tr * m * 6 / 1e9,
           torch.get_num_threads(), host, "pytorch"])
        print(f"{arch}: train {tr:.1f} img/s, inference {statistics.mean(infer):.1f} img/s", file=sys.stderr)


def csv_writer():
    import csv
    out = csv.writer(sys.stdout)
    out.writerow(["arch", "width", "image_size", "batch", "device", "precision", "train_img_s", "train_img_s_std",
                  "infer_img_s", "infer_img_s_std", "params", "gmacs", "train_gflop_s", "threads", "host", "kernels"])
    return out.writerow


if __name__ == "__main__":
    main()
