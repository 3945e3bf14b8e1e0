"""Writes N ImageNet-like JPEGs for the data-pipeline benchmark (scripts/bench-data.sh).

Sizes follow ImageNet's common shapes (mostly 500x375, 375x500, 500x333; some larger, up to
800x600); content is natural-ish (smooth colour gradients, a few soft-edged ellipses and
rectangles, fine texture (blurred noise) and mild Gaussian noise), about 75 KiB a file at
500x375, so decoding costs about what a real photo costs (pure noise would decode
unrealistically slowly, flat colour unrealistically fast). PIL, quality 90, fixed seed: the same N files every time.
Names: DIR/img_00000.JPEG, img_00001.JPEG, ... Does nothing when DIR already holds all N.

    /work/venv-torch/bin/python scripts/peer/make_bench_jpegs.py target/bench-jpegs 256
"""

import os
import sys

import numpy as np
from PIL import Image, ImageDraw, ImageFilter

SEED = 2014
QUALITY = 90
# (width, height), weight
SIZES = [((500, 375), 45), ((375, 500), 20), ((500, 333), 15), ((333, 500), 5),
         ((640, 480), 6), ((800, 600), 4), ((600, 800), 3), ((800, 533), 2)]


def file_name(i):
    return f"img_{i:05d}.JPEG"


def make_image(rng, width, height):
    y, x = np.mgrid[0:height, 0:width] / max(width, height)
    channels = []
    for _ in range(3):
        gx, gy, base = rng.uniform(-120, 120), rng.uniform(-120, 120), rng.uniform(60, 190)
        fx, fy, phase = rng.uniform(1, 6), rng.uniform(1, 6), rng.uniform(0, 2 * np.pi)
        channels.append(base + gx * x + gy * y + 30 * np.sin(fx * x + fy * y + phase))
    img = Image.fromarray(np.clip(np.stack(channels, axis=-1), 0, 255).astype(np.uint8))

    draw = ImageDraw.Draw(img)
    for _ in range(rng.integers(3, 9)):
        x0, x1 = sorted(rng.integers(0, width, 2))
        y0, y1 = sorted(rng.integers(0, height, 2))
        colour = tuple(int(v) for v in rng.integers(0, 256, 3))
        shape = draw.ellipse if rng.random() < 0.5 else draw.rectangle
        shape([x0, y0, x1, y1], fill=colour)
    img = img.filter(ImageFilter.GaussianBlur(1.5))

    grain = Image.fromarray(np.clip(128 + rng.normal(0, 60, (height, width, 3)), 0, 255).astype(np.uint8))
    texture = np.asarray(grain.filter(ImageFilter.GaussianBlur(1.2)), dtype=np.float32) - 128
    noisy = np.asarray(img, dtype=np.float32) + texture + rng.normal(0, 6, (height, width, 3))
    return Image.fromarray(np.clip(noisy, 0, 255).astype(np.uint8))


def main():
    if len(sys.argv) != 3:
        sys.exit(__doc__)
    out_dir, n = sys.argv[1], int(sys.argv[2])
    os.makedirs(out_dir, exist_ok=True)
    if all(os.path.isfile(os.path.join(out_dir, file_name(i))) for i in range(n)):
        return
    rng = np.random.default_rng(SEED)
    shapes = [s for s, _ in SIZES]
    weights = np.array([w for _, w in SIZES], dtype=float)
    total = 0
    for i in range(n):
        width, height = shapes[rng.choice(len(shapes), p=weights / weights.sum())]
        path = os.path.join(out_dir, file_name(i))
        make_image(rng, width, height).save(path, quality=QUALITY)
        total += os.path.getsize(path)
    print(f"wrote {n} JPEGs to {out_dir} ({total / n / 1024:.0f} KiB on average)", file=sys.stderr)


if __name__ == "__main__":
    main()
