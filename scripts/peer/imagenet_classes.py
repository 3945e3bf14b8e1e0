"""Writes assets/imagenet_classes.txt: the 1000 ImageNet-1k class names in torchvision's index
order (class i on line i + 1), from torchvision's bundled metadata
(torchvision.models._meta._IMAGENET_CATEGORIES), so the predictions of torchvision-trained
weights can be named.

How to run (from the repository root):
    scripts/setup-torch-venv.sh /work/venv-torch     # once; any venv with torchvision
    /work/venv-torch/bin/python scripts/peer/imagenet_classes.py
"""

import os

from torchvision.models._meta import _IMAGENET_CATEGORIES

REPO_ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
OUT_PATH = os.path.join(REPO_ROOT, "assets", "imagenet_classes.txt")


def main():
    assert len(_IMAGENET_CATEGORIES) == 1000
    assert all(name and "\n" not in name for name in _IMAGENET_CATEGORIES)
    with open(OUT_PATH, "w") as f:
        f.writelines(name + "\n" for name in _IMAGENET_CATEGORIES)
    print(f"wrote {len(_IMAGENET_CATEGORIES)} class names to {OUT_PATH}")


if __name__ == "__main__":
    main()
