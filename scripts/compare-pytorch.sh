#!/usr/bin/env bash
# Side-by-side speed: `vgg-train bench` and scripts/bench-pytorch.py on the same networks, the
# same batch, the same thread count, back to back on this machine; prints the training
# images/s of both and their ratio per configuration, and writes both sets of rows to
# results/bench/<workload>-<device>-<host>.csv.
#
#   scripts/compare-pytorch.sh [--archs A,D] [--steps N] [--workloads a,b] [--device flex]
#
# Workloads: (a) 32x32, width 0.25, compact head, batch 64; (b) the same at width 1.0;
# (c) 224x224, width 1.0, paper head, batch 64, on a GPU (--device wgpu|tch:cuda:0|cuda:0 with
# a binary built with that feature; PyTorch then runs on cuda).
# Needs PyTorch 2.9.0: scripts/setup-torch-venv.sh .venv-torch (or PYTHON=/path/to/python).
# Never runs in CI.
set -euo pipefail
cd "$(dirname "$0")/.."

archs="A,D"
steps=10
workloads="a,b"
device="flex"
while [ $# -gt 0 ]; do
  case "$1" in
    --archs) archs="$2"; shift 2 ;;
    --steps) steps="$2"; shift 2 ;;
    --workloads) workloads="$2"; shift 2 ;;
    --device) device="$2"; shift 2 ;;
    *) echo "compare-pytorch.sh: unknown argument $1" >&2; exit 2 ;;
  esac
done
python="${PYTHON:-.venv-torch/bin/python}"
"$python" -c 'import torch' 2> /dev/null || {
  echo "compare-pytorch.sh: no PyTorch at $python; run scripts/setup-torch-venv.sh .venv-torch or set PYTHON" >&2
  exit 2
}
bin="${VGG_TRAIN:-}"
if [ -z "$bin" ]; then
  cargo build --quiet
  bin="${CARGO_TARGET_DIR:-target}/debug/vgg-train"
fi
threads="$(nproc)"
host="$(hostname)"
mkdir -p results/bench

printf '%-9s %-6s %14s %14s %8s\n' workload arch "vgg-train" "pytorch" ratio
for w in ${workloads//,/ }; do
  case "$w" in
    a) cfg=configs/bench/cpu-32.toml; width=0.25; size=32; head=compact; hidden=512; classes=10; pydev=cpu ;;
    b) cfg=configs/bench/cpu-32.toml; width=1.0; size=32; head=compact; hidden=512; classes=10; pydev=cpu ;;
    c) cfg=configs/bench/gpu-224.toml; width=1.0; size=224; head=paper; hidden=4096; classes=1000; pydev=cuda ;;
    *) echo "unknown workload $w" >&2; exit 2 ;;
  esac
  out="results/bench/$w-${device//:/-}-$host.csv"
  ours="$(mktemp)"; theirs="$(mktemp)"
  for arch in ${archs//,/ }; do
    "$bin" bench --config "$cfg" --set "model.arch=\"$arch\"" --set "model.width=$width" \
      --set "run.device=\"$device\"" --steps "$steps" 2> /dev/null | tail -n +2 >> "$ours"
  done
  "$python" scripts/bench-pytorch.py --archs "$archs" --width "$width" --image-size "$size" \
    --batch 64 --head "$head" --hidden "$hidden" --classes "$classes" --threads "$threads" \
    --device "$pydev" --steps "$steps" 2> /dev/null > "$theirs"
  {
    head -n 1 "$theirs"
    cat "$ours"
    tail -n +2 "$theirs"
  } > "$out"
  for arch in ${archs//,/ }; do
    a="$(awk -F, -v a="$arch" '$1 == a { print $7 }' "$ours")"
    p="$(tail -n +2 "$theirs" | awk -F, -v a="$arch" '$1 == a { print $7 }')"
    printf '%-9s %-6s %14.1f %14.1f %8.2f\n' "($w)" "$arch" "$a" "$p" "$(echo "$a $p" | awk '{ print $1 / $2 }')"
  done
  rm -f "$ours" "$theirs"
done
echo "rows: results/bench/<workload>-${device//:/-}-$host.csv"
