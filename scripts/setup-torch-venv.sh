#!/usr/bin/env bash
# Create a Python virtual environment with PyTorch 2.9.0 (+ torchvision 0.24.0)
# from PyPI, used only for the peer-reference scripts in scripts/peer/
# (e.g. scripts/peer/lrn_reference.py, which writes tests/fixtures/lrn_torch.json).
#
# Usage: scripts/setup-torch-venv.sh [VENV_DIR]   (default: .venv-torch, relative to the cwd)
#
# Verified with Python 3.11 on x86_64 Linux: the default PyPI wheel
# (torch 2.9.0+cu128) pulls in the nvidia-*-cu12 and triton wheels, takes about
# 2 minutes to install, and the venv is about 6.8 GB. It runs fine on CPU only
# (torch.cuda.is_available() == False is fine for the reference scripts).
#
# If the full install fails for disk or time, a CPU-usable fallback is:
#   "$VENV/bin/pip" install --no-deps torch==2.9.0
#   "$VENV/bin/pip" install filelock typing_extensions sympy networkx jinja2 fsspec
set -euo pipefail

VENV="${1:-.venv-torch}"

python3 -m venv "$VENV"
"$VENV/bin/pip" install torch==2.9.0 torchvision==0.24.0
"$VENV/bin/python" -c 'import torch; print("torch", torch.__version__, "cuda available:", torch.cuda.is_available())'
