#!/usr/bin/env bash
# Data-pipeline speed: `vgg-train bench-data` (JPEG decode, shorter side to 256, random 224x224
# crop, random flip, normalised CHW float tensor) beside the same work in PIL + torchvision
# (scripts/peer/bench_data_torchvision.py; several threads = a pool of one-thread worker
# processes, as DataLoader workers), each at 1 thread and at $(nproc) threads, on N generated
# ImageNet-like JPEGs (scripts/peer/make_bench_jpegs.py). Writes all rows to
# results/bench/data-<host>.csv and prints the images/s per core of both and their ratio.
#
#   scripts/bench-data.sh [DIR] [N]    (default: target/bench-jpegs 256; DIR relative to the repo root)
#
# PYTHON: a python with torch + torchvision (default: .venv-torch, else /work/venv-torch, else
# python3; scripts/setup-torch-venv.sh .venv-torch makes one). VGG_TRAIN: the binary (default:
# target/debug/vgg-train when built, else `cargo run --quiet --`). Never runs in CI.
set -euo pipefail
usage="usage: scripts/bench-data.sh [DIR] [N]   (default: target/bench-jpegs 256)"
case "${1:-}" in
  -h|--help) echo "$usage"; exit 0 ;;
esac
[ $# -le 2 ] || { echo "$usage" >&2; exit 2; }
cd "$(dirname "$0")/.."
dir="${1:-target/bench-jpegs}"
n="${2:-256}"

python="${PYTHON:-}"
if [ -z "$python" ]; then
  for candidate in .venv-torch/bin/python /work/venv-torch/bin/python python3; do
    if command -v "$candidate" > /dev/null; then python="$candidate"; break; fi
  done
fi
"$python" -c 'import torch, torchvision' 2> /dev/null || {
  echo "bench-data.sh: no torch + torchvision at ${python:-python3}; run scripts/setup-torch-venv.sh .venv-torch or set PYTHON" >&2
  exit 2
}
debug_bin="${CARGO_TARGET_DIR:-target}/debug/vgg-train"
if [ -n "${VGG_TRAIN:-}" ]; then
  vgg_train=("$VGG_TRAIN")
elif [ -x "$debug_bin" ]; then
  vgg_train=("$debug_bin")
else
  vgg_train=(cargo run --quiet --)
fi

"$python" scripts/peer/make_bench_jpegs.py "$dir" "$n"
cores="$(nproc)"
thread_counts=1
if [ "$cores" -gt 1 ]; then thread_counts="1 $cores"; fi
host="$(hostname)"
out="results/bench/data-$host.csv"
mkdir -p results/bench
tmp="$out.tmp"
trap 'rm -f "$tmp"' EXIT

echo "tool,threads,images,seconds,img_s,img_s_per_core" > "$tmp"
for threads in $thread_counts; do
  "${vgg_train[@]}" bench-data "$dir" --threads "$threads" | tail -n +2 >> "$tmp"
  "$python" scripts/peer/bench_data_torchvision.py "$dir" --threads "$threads" | tail -n +2 >> "$tmp"
done
mv "$tmp" "$out"

printf '%-8s %22s %22s %8s\n' threads "vgg-train img/s/core" "torchvision img/s/core" ratio
for threads in $thread_counts; do
  awk -F, -v t="$threads" '
    $2 == t && $1 == "vgg-train" { ours = $6 }
    $2 == t && $1 == "torchvision" { theirs = $6 }
    END { printf "%-8s %22.1f %22.1f %8.2f\n", t, ours, theirs, ours / theirs }' "$out"
done
echo "rows: $out"
