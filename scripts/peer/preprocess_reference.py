"""Peer reference for `vgg-train predict`'s preprocessing: what torchvision feeds its VGG weights.

Writes into tests/fixtures/torchvision/:
    photo.JPEG                  a 500x375 (ImageNet's most common size) textured test image,
                                JPEG quality 90, 4:2:0 chroma, from a fixed seed;
    photo-256-center224.png     torchvision's Resize(256) (antialiased bilinear on PIL) then
                                CenterCrop(224) of it, decoded by PIL (libjpeg-turbo), lossless.
The Rust test decodes photo.JPEG with vgg-train's pipeline and compares with the PNG.

    /work/venv-torch/bin/python scripts/peer/preprocess_reference.py
"""

import pathlib

import numpy as np
from PIL import Image, ImageDraw
from torchvision import transforms

OUT = pathlib.Path(__file__).resolve().parents[2] / "tests/fixtures/torchvision"


def photo(rng):
    w, h = 500, 375
    y, x = np.mgrid[0:h, 0:w]
    base = np.stack(
        [128 + 90 * np.sin(x / 37.0), 128 + 90 * np.cos(y / 23.0), 128 + 60 * np.sin((x + y) / 51.0)],
        axis=-1,
    )
    img = Image.fromarray(base.clip(0, 255).astype(np.uint8))
    draw = ImageDraw.Draw(img)
    for _ in range(40):
        x0, y0 = rng.integers(0, w), rng.integers(0, h)
        x1, y1 = x0 + rng.integers(5, 120), y0 + rng.integers(5, 120)
        colour = tuple(int(c) for c in rng.integers(0, 256, 3))
        if rng.random() < 0.5:
            draw.ellipse([x0, y0, x1, y1], fill=colour)
        else:
            draw.rectangle([x0, y0, x1, y1], outline=colour, width=3)
    noise = rng.normal(0, 6, (h, w, 3))
    return Image.fromarray((np.asarray(img, dtype=np.float64) + noise).clip(0, 255).astype(np.uint8))


def main():
    OUT.mkdir(parents=True, exist_ok=True)
    jpeg = OUT / "photo.JPEG"
    photo(np.random.default_rng(7)).save(jpeg, quality=90, subsampling=2)
    decoded = Image.open(jpeg).convert("RGB")
    crop = transforms.Compose([transforms.Resize(256), transforms.CenterCrop(224)])(decoded)
    crop.save(OUT / "photo-256-center224.png")
    print(f"wrote {jpeg} ({jpeg.stat().st_size} bytes) and {crop.size} crop")


if __name__ == "__main__":
    main()
