#!/usr/bin/env python3
"""Make a small, reproducible Fashion-MNIST sample in gzipped IDX format.

Reads the full Fashion-MNIST set from /usr/share/datasets/fashion-mnist/
(Debian package dataset-fashion-mnist) and writes the first 3000 training and
the first 1000 test images/labels, with the same file names, to OUT_DIR:

    train-images-idx3-ubyte.gz  train-labels-idx1-ubyte.gz
    t10k-images-idx3-ubyte.gz   t10k-labels-idx1-ubyte.gz

Usage (from the repository root; Python 3 standard library only):
    python3 scripts/make-fashion-mnist-sample.py [OUT_DIR]
OUT_DIR defaults to data/fashion-mnist-sample. Output is byte-for-byte
reproducible (gzip mtime=0, no file name in the gzip header).
"""

import gzip
import os
import struct
import sys

SRC_DIR = "/usr/share/datasets/fashion-mnist"
N_TRAIN = 3000
N_TEST = 1000
IMAGES_MAGIC = 0x00000803  # unsigned byte, 3 dims
LABELS_MAGIC = 0x00000801  # unsigned byte, 1 dim
CLASSES = ["T-shirt/top", "Trouser", "Pullover", "Dress", "Coat",
           "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot"]


def read_idx(path, magic, ndims):
    with gzip.open(path, "rb") as f:
        data = f.read()
    got_magic, = struct.unpack(">I", data[:4])
    if got_magic != magic:
        raise ValueError(f"{path}: magic {got_magic:#010x}, expected {magic:#010x}")
    dims = list(struct.unpack(f">{ndims}I", data[4:4 + 4 * ndims]))
    body = data[4 + 4 * ndims:]
    item = 1
    for d in dims[1:]:
        item *= d
    if len(body) != dims[0] * item:
        raise ValueError(f"{path}: {len(body)} data bytes, expected {dims[0] * item}")
    return dims, item, body


def write_idx(path, magic, dims, body):
    header = struct.pack(f">I{len(dims)}I", magic, *dims)
    # gzip.GzipFile with fileobj and filename="" keeps the original name and
    # timestamp out of the header, so the output is reproducible.
    with open(path, "wb") as raw:
        with gzip.GzipFile(filename="", mode="wb", fileobj=raw, compresslevel=9, mtime=0) as f:
            f.write(header)
            f.write(body)


def subset(split, n, out_dir):
    img_name = f"{split}-images-idx3-ubyte.gz"
    lbl_name = f"{split}-labels-idx1-ubyte.gz"
    img_dims, img_item, img_body = read_idx(os.path.join(SRC_DIR, img_name), IMAGES_MAGIC, 3)
    lbl_dims, _, lbl_body = read_idx(os.path.join(SRC_DIR, lbl_name), LABELS_MAGIC, 1)
    if img_dims[0] != lbl_dims[0]:
        raise ValueError(f"{split}: {img_dims[0]} images but {lbl_dims[0]} labels")
    if img_dims[1:] != [28, 28]:
        raise ValueError(f"{split}: image dims {img_dims[1:]}, expected [28, 28]")
    if n > img_dims[0]:
        raise ValueError(f"{split}: asked for {n} items, source has {img_dims[0]}")
    labels = lbl_body[:n]
    write_idx(os.path.join(out_dir, img_name), IMAGES_MAGIC, [n, 28, 28], img_body[:n * img_item])
    write_idx(os.path.join(out_dir, lbl_name), LABELS_MAGIC, [n], labels)
    counts = [0] * 10
    for b in labels:
        counts[b] += 1
    print(f"{split}: {n} of {img_dims[0]} items; class counts:")
    for c, (name, k) in enumerate(zip(CLASSES, counts)):
        print(f"  {c} {name:<12} {k}")


def main():
    out_dir = sys.argv[1] if len(sys.argv) > 1 else os.path.join("data", "fashion-mnist-sample")
    os.makedirs(out_dir, exist_ok=True)
    subset("train", N_TRAIN, out_dir)
    subset("t10k", N_TEST, out_dir)
    total = 0
    for name in sorted(os.listdir(out_dir)):
        if name.endswith(".gz"):
            size = os.path.getsize(os.path.join(out_dir, name))
            total += size
            print(f"{name}: {size} bytes")
    print(f"total: {total} bytes")


if __name__ == "__main__":
    main()
