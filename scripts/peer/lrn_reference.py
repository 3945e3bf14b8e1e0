"""Peer reference for local response normalisation (LRN), computed with PyTorch.

Builds a fixed float32 input of shape [2, 7, 3, 4] (N, C, H, W) with
    x.flatten()[i] = 3.0 * sin(0.37 * i) + 0.5 * cos(1.3 * i),   i = 0..167
(computed in float64, then cast to float32) and applies
torch.nn.functional.local_response_norm for two parameter sets:

  * "krizhevsky": Krizhevsky et al. (2012) LRN with n=5, alpha=1e-4, beta=0.75,
    k=2. The paper's alpha is NOT divided by n, while PyTorch divides its alpha
    by `size`, so in PyTorch terms this is size=5, alpha=5e-4 (= 1e-4 * 5).
  * "caffe": Caffe/AlexNet-style LRN, size=5, alpha=1e-4, beta=0.75, k=1.0
    (Caffe, like PyTorch, divides alpha by the window size).

PyTorch's formula (channels zero-padded at the edges, window centred on c):
    b_c = a_c / (k + alpha / size * sum_{c' in window(c)} a_{c'}^2) ** beta

Writes tests/fixtures/lrn_torch.json (relative to the repository root, found from
this file's location) with the input and each case's output, all as float32
values printed exactly (Python float repr of the float32 value).

How to run (from the repository root):
    scripts/setup-torch-venv.sh /work/venv-torch     # once; any venv with torch works
    /work/venv-torch/bin/python scripts/peer/lrn_reference.py
"""

import json
import math
import os

import torch
import torch.nn.functional as F

SHAPE = [2, 7, 3, 4]
CASES = [
    {"name": "krizhevsky", "size": 5, "alpha": 5e-4, "beta": 0.75, "k": 2.0},
    {"name": "caffe", "size": 5, "alpha": 1e-4, "beta": 0.75, "k": 1.0},
]

REPO_ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
OUT_PATH = os.path.join(REPO_ROOT, "tests", "fixtures", "lrn_torch.json")


def make_input():
    n = math.prod(SHAPE)
    vals = [3.0 * math.sin(0.37 * i) + 0.5 * math.cos(1.3 * i) for i in range(n)]
    return torch.tensor(vals, dtype=torch.float64).to(torch.float32).reshape(SHAPE)


def main():
    x = make_input()
    cases = []
    for case in CASES:
        y = F.local_response_norm(
            x, size=case["size"], alpha=case["alpha"], beta=case["beta"], k=case["k"]
        )
        assert y.dtype == torch.float32 and list(y.shape) == SHAPE
        cases.append(dict(case, output=[float(v) for v in y.flatten().tolist()]))

    doc = {
        "script": "scripts/peer/lrn_reference.py",
        "torch_version": torch.__version__,
        "shape": SHAPE,
        "input": [float(v) for v in x.flatten().tolist()],
        "cases": cases,
    }
    os.makedirs(os.path.dirname(OUT_PATH), exist_ok=True)
    with open(OUT_PATH, "w") as f:
        json.dump(doc, f, indent=1)
        f.write("\n")
    print(f"wrote {OUT_PATH} (torch {torch.__version__})")


if __name__ == "__main__":
    main()
