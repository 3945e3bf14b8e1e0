"""Peer of `vgg-train bench-data`: the same training-input work with PIL + torchvision, timed
the same way. For every JPEG under DIR (recursively), R times over the file list:
    Image.open(p).convert("RGB") -> Resize(scale) (antialiased bilinear) -> RandomCrop(crop)
    -> RandomHorizontalFlip() -> ToTensor() -> Normalize(ImageNet mean/std)
With --threads 1 it runs in this process with one torch thread; with T > 1 in a
multiprocessing.Pool(T) of one-thread workers, as torchvision DataLoader workers do (the
workers hand back no tensors, so no inter-process copy is timed). Times only the processing:
not start-up, not the pool's start, not one untimed warm-up pass over a few images (per worker).
Prints CSV: tool,threads,images,seconds,img_s,img_s_per_core (img_s_per_core = img_s / T).

    /work/venv-torch/bin/python scripts/peer/bench_data_torchvision.py target/bench-jpegs --threads 2
"""

import argparse
import multiprocessing
import os
import sys
import time

import torch
from PIL import Image
from torchvision import transforms

IMAGENET_MEAN = [0.485, 0.456, 0.406]
IMAGENET_STD = [0.229, 0.224, 0.225]
WARMUP_IMAGES = 4
JPEG_EXTENSIONS = (".jpg", ".jpeg")

pipeline = None  # per process, set by setup()


def setup(scale, crop, warmup_paths, ready=None):
    global pipeline
    torch.set_num_threads(1)
    pipeline = transforms.Compose([
        transforms.Resize(scale),
        transforms.RandomCrop(crop),
        transforms.RandomHorizontalFlip(),
        transforms.ToTensor(),
        transforms.Normalize(IMAGENET_MEAN, IMAGENET_STD),
    ])
    for path in warmup_paths:
        process(path)
    if ready is not None:
        ready.wait()


def process(path):
    with Image.open(path) as img:
        tensor = pipeline(img.convert("RGB"))
    return tensor.shape[0]


def list_jpegs(root):
    paths = [os.path.join(d, f) for d, _, files in os.walk(root) for f in files
             if f.lower().endswith(JPEG_EXTENSIONS)]
    return sorted(paths)


def run(paths, threads, scale, crop):
    warmup = paths[:WARMUP_IMAGES]
    if threads == 1:
        setup(scale, crop, warmup)
        start = time.perf_counter()
        for path in paths:
            process(path)
        return time.perf_counter() - start
    ready = multiprocessing.Barrier(threads + 1)
    with multiprocessing.Pool(threads, setup, (scale, crop, warmup, ready)) as pool:
        ready.wait(timeout=120)  # a worker failing in setup() breaks this instead of hanging
        chunk = max(1, min(16, len(paths) // (4 * threads)))
        start = time.perf_counter()
        for _ in pool.imap_unordered(process, paths, chunksize=chunk):
            pass
        return time.perf_counter() - start


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("dir")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--scale", type=int, default=256)
    ap.add_argument("--crop", type=int, default=224)
    ap.add_argument("--repeat", type=int, default=1)
    a = ap.parse_args()

    files = list_jpegs(a.dir)
    if not files:
        sys.exit(f"bench_data_torchvision.py: no JPEGs under {a.dir}")
    paths = files * a.repeat
    seconds = run(paths, a.threads, a.scale, a.crop)
    img_s = len(paths) / seconds
    print("tool,threads,images,seconds,img_s,img_s_per_core")
    print(f"torchvision,{a.threads},{len(paths)},{seconds:.4f},{img_s:.2f},{img_s / a.threads:.2f}")


if __name__ == "__main__":
    main()
