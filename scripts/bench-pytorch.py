#!/usr/bin/env python3
"""PyTorch side of the speed comparison: the same VGG networks as vgg-train (same layer table,
same heads), SGD with momentum 0.9 / weight decay 5e-4, synthetic data, the same thread count,
timed the same way as `vgg-train bench` (warm-up steps, then each timed step separately, with a
device sync at the end of each step). Prints CSV rows with vgg-train's bench columns.

Needs PyTorch 2.9.0 (scripts/setup-torch-venv.sh makes a venv); never runs in CI.

    .venv-torch/bin/python scripts/bench-pytorch.py --archs A,D --width 0.25 --image-size 32 \
        --batch 64 --head compact --hidden 512 --threads 2

On a GPU (scripts/gpu-check.sh): `--device cuda`, eager, with cuDNN's defaults (no autotuning:
torch.backends.cudnn.benchmark stays False; TF32 convolutions stay on, as PyTorch ships them;
the row's `kernels` column says which), or `--cudnn-benchmark` for cuDNN's own autotuning.
`--batch` and `--precision` take comma-separated lists (one row each, one process).
`--precision f16` runs the whole network, its gradients and SGD in half precision, as
vgg-train's `run.precision = "f16"` does.
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
    """The seconds of the warm-up steps, and the images/s of each timed step."""
    start = time.perf_counter()
    for _ in range(warmup):
        fn()
        sync()
    warmup_s = time.perf_counter() - start
    rates = []
    for _ in range(steps):
        t = time.perf_counter()
        fn()
        sync()
        rates.append(batch / (time.perf_counter() - t))
    return warmup_s, rates


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--archs", default="A,D")
    ap.add_argument("--width", type=float, default=0.25)
    ap.add_argument("--image-size", type=int, default=32)
    ap.add_argument("--channels", type=int, default=3)
    ap.add_argument("--classes", type=int, default=10)
    ap.add_argument("--batch", default="64", help="batch size, or a comma-separated list")
    ap.add_argument("--head", choices=["paper", "compact"], default="compact")
    ap.add_argument("--hidden", type=int, default=512)
    ap.add_argument("--batch-norm", action="store_true")
    ap.add_argument("--threads", type=int, default=os.cpu_count())
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--precision", default="f32", help="f32, f16, bf16, or a comma-separated list")
    ap.add_argument("--cudnn-benchmark", action="store_true")
    ap.add_argument("--warmup", type=int, default=3)
    ap.add_argument("--steps", type=int, default=10)
    a = ap.parse_args()

    torch.manual_seed(0)
    torch.set_num_threads(a.threads)
    dev = torch.device(a.device)
    torch.backends.cudnn.benchmark = a.cudnn_benchmark
    kernels = "pytorch-cudnn-benchmark" if a.cudnn_benchmark else "pytorch"
    sync = (lambda: torch.cuda.synchronize()) if dev.type == "cuda" else (lambda: None)
    cpu = "unknown CPU"
    try:
        with open("/proc/cpuinfo") as f:
            cpu = next(l.split(":", 1)[1].strip() for l in f if l.startswith("model name"))
    except (OSError, StopIteration):
        pass
    host = f"{socket.gethostname()} ({cpu}, {os.cpu_count()} cores)"
    adapter = "cpu"
    if dev.type == "cuda":
        adapter = torch.cuda.get_device_name(dev)
        host += f" {adapter}"
        print(f"PyTorch {torch.__version__}, CUDA {torch.version.cuda}, cuDNN {torch.backends.cudnn.version()}, "
              f"TF32 conv {torch.backends.cudnn.allow_tf32}, TF32 matmul {torch.backends.cuda.matmul.allow_tf32}, "
              f"cudnn.benchmark {torch.backends.cudnn.benchmark}", file=sys.stderr)
    w = csv_writer()
    for arch in a.archs.split(","):
        for precision in a.precision.split(","):
            for batch in (int(b) for b in str(a.batch).split(",")):
                row = bench_one(a, arch, precision, batch, dev, sync)
                w(row + [adapter, row.pop(), torch.get_num_threads(), host, kernels])


def bench_one(a, arch, precision, batch, dev, sync):
    """One network's row up to train_gflop_s, then the warm-up seconds (popped by the caller)."""
    dtype = {"f32": torch.float32, "f16": torch.float16, "bf16": torch.bfloat16}[precision]
    torch.manual_seed(0)
    model = build(arch, a.width, a.channels, a.classes, a.head, a.hidden, a.batch_norm).to(dev, dtype)
    opt = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9, weight_decay=5e-4)
    loss_fn = nn.CrossEntropyLoss()
    x = torch.randn(batch, a.channels, a.image_size, a.image_size, device=dev, dtype=dtype)
    y = torch.arange(batch, device=dev) % a.classes

    def train_step():
        opt.zero_grad(set_to_none=True)
        loss_fn(model(x), y).backward()
        opt.step()

    model.train()
    train_warmup, train = timed(train_step, a.warmup, a.steps, batch, sync)
    model.eval()

    def infer_step():
        with torch.no_grad():
            model(x)

    infer_warmup, infer = timed(infer_step, a.warmup, a.steps, batch, sync)
    params = sum(p.numel() for p in model.parameters())
    m = macs(arch, a.width, a.channels, a.image_size, a.head, a.hidden, a.classes)
    tr = statistics.mean(train)
    print(f"{arch} batch {batch} {precision}: train {tr:.1f} img/s, inference {statistics.mean(infer):.1f} img/s",
          file=sys.stderr)
    del model, opt, x, y
    if dev.type == "cuda":
        torch.cuda.empty_cache()
    return [arch, a.width, a.image_size, batch, f"pytorch-{dev.type}", precision, tr,
            statistics.stdev(train) if len(train) > 1 else 0.0, statistics.mean(infer),
            statistics.stdev(infer) if len(infer) > 1 else 0.0, params, m / 1e9, tr * m * 6 / 1e9,
            train_warmup + infer_warmup]


def csv_writer():
    import csv
    out = csv.writer(sys.stdout)
    out.writerow(["arch", "width", "image_size", "batch", "device", "precision", "train_img_s", "train_img_s_std",
                  "infer_img_s", "infer_img_s_std", "params", "gmacs", "train_gflop_s", "adapter", "warmup_s", "threads", "host", "kernels"])
    return out.writerow


if __name__ == "__main__":
    main()
