#!/usr/bin/env bash
# The libtorch that burn's `tch` backend links against, offline: PyTorch 2.9.0 from PyPI in a
# venv (scripts/setup-torch-venv.sh, made once), then the environment variables that
# torch-sys and the built binary need, printed as `export` lines:
#
#   eval "$(scripts/setup-libtorch.sh)"        # default venv: .venv-torch
#   cargo build --features tch && cargo test --features tch
#   vgg-train --config configs/quickstart.toml --set run.device='"tch:cpu"'
#
# Usage: scripts/setup-libtorch.sh [VENV_DIR]. Progress goes to stderr, exports to stdout.
set -euo pipefail
cd "$(dirname "$0")/.."
venv="${1:-.venv-torch}"
if ! "$venv/bin/python" -c 'import torch' 2> /dev/null; then
  echo "setup-libtorch.sh: installing PyTorch 2.9.0 into $venv (several GB, a few minutes)" >&2
  scripts/setup-torch-venv.sh "$venv" >&2
fi
venv="$(cd "$venv" && pwd)"
version="$("$venv/bin/python" -c 'import torch; print(torch.__version__)')"
case "$version" in
  2.9.0*) ;;
  *) echo "setup-libtorch.sh: $venv has torch $version; burn 0.22's tch needs 2.9.0" >&2; exit 2 ;;
esac
lib="$("$venv/bin/python" -c 'import os, torch; print(os.path.join(os.path.dirname(torch.__file__), "lib"))')"
echo "export LIBTORCH_USE_PYTORCH=1"
echo "export PATH=\"$venv/bin:\$PATH\""
echo "export LD_LIBRARY_PATH=\"$lib\${LD_LIBRARY_PATH:+:\$LD_LIBRARY_PATH}\""
