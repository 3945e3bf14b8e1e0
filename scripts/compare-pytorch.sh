#!/usr/bin/env bash
# Side-by-side speed: `vgg-train bench` and scripts/bench-pytorch.py on the same networks, the
# same batch, the same thread count, back to back on this machine; prints the training
# images/s of both and their ratio per configuration, and writes all rows to
# results/bench/<workload>-<device>-<host>.csv.
#
#   scripts/compare-pytorch.sh [--archs A,D] [--steps N] [--rounds R] [--workloads a,b]
#                              [--device flex] [--kernels own,burn]
#
# Workloads: (a) 32x32, width 0.25, compact head, batch 64; (b) the same at width 1.0;
# (c) 224x224, width 1.0, paper head, batch 64, on a GPU (--device wgpu|tch:cuda:0|cuda:0 with
# a binary built with that feature; PyTorch then runs on cuda).
# --kernels: run.kernels values to measure on flex: `own` (vgg-train's kernels, the default) and
# `burn` (burn's ops, what flex ran before them); each gets its own column and ratio.
# --rounds: the whole comparison is repeated R times, vgg-train and PyTorch alternating, and the
# table shows the median rate of each column (a shared 2-core VM's speed drifts by 10-30 % from
# minute to minute; alternating exposes both sides to the same drift). Every round's rows are
# written to the CSV.
# Needs PyTorch 2.9.0: scripts/setup-torch-venv.sh .venv-torch (or PYTHON=/path/to/python).
# Never runs in CI.
set -euo pipefail
cd "$(dirname "$0")/.."

archs="A,D"
steps=10
rounds=3
workloads="a,b"
device="flex"
kernels="own"
while [ $# -gt 0 ]; do
  case "$1" in
    --archs) archs="$2"; shift 2 ;;
    --steps) steps="$2"; shift 2 ;;
    --rounds) rounds="$2"; shift 2 ;;
    --workloads) workloads="$2"; shift 2 ;;
    --device) device="$2"; shift 2 ;;
    --kernels) kernels="$2"; shift 2 ;;
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

printf '%-9s %-6s' workload arch
for k in ${kernels//,/ }; do printf ' %12s' "$k"; done
printf ' %12s' pytorch
for k in ${kernels//,/ }; do printf ' %10s' "ratio $k"; done
printf '\n'
for w in ${workloads//,/ }; do
  case "$w" in
    a) cfg=configs/bench/cpu-32.toml; width=0.25; size=32; head=compact; hidden=512; classes=10; pydev=cpu ;;
    b) cfg=configs/bench/cpu-32.toml; width=1.0; size=32; head=compact; hidden=512; classes=10; pydev=cpu ;;
    c) cfg=configs/bench/gpu-224.toml; width=1.0; size=224; head=paper; hidden=4096; classes=1000; pydev=cuda ;;
    *) echo "unknown workload $w" >&2; exit 2 ;;
  esac
  out="results/bench/$w-${device//:/-}-$host.csv"
  ours="$(mktemp)"; theirs="$(mktemp)"
  for _ in $(seq "$rounds"); do
    for arch in ${archs//,/ }; do
      for k in ${kernels//,/ }; do
        "$bin" bench --config "$cfg" --set "model.arch=\"$arch\"" --set "model.width=$width" \
          --set "run.device=\"$device\"" --set "run.kernels=\"$k\"" --steps "$steps" 2> /dev/null |
          tail -n +2 >> "$ours"
      done
    done
    "$python" scripts/bench-pytorch.py --archs "$archs" --width "$width" --image-size "$size" \
      --batch 64 --head "$head" --hidden "$hidden" --classes "$classes" --threads "$threads" \
      --device "$pydev" --steps "$steps" 2> /dev/null > "$theirs.round"
    head -n 1 "$theirs.round" > "$theirs.header"
    tail -n +2 "$theirs.round" >> "$theirs"
  done
  {
    cat "$theirs.header"
    cat "$ours"
    cat "$theirs"
  } > "$out"
  # Median of a column's values, read from stdin.
  median() { sort -g | awk '{ v[NR] = $1 } END { print (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }
  for arch in ${archs//,/ }; do
    # train_img_s is column 7; the kernels column is the last.
    p="$(awk -F, -v a="$arch" '$1 == a { print $7 }' "$theirs" | median)"
    printf '%-9s %-6s' "($w)" "$arch"
    rates=()
    for k in ${kernels//,/ }; do
      r="$(awk -F, -v a="$arch" -v k="$k" '$1 == a && $NF == k { print $7 }' "$ours" | median)"
      rates+=("$r")
      printf ' %12.1f' "$r"
    done
    printf ' %12.1f' "$p"
    for r in "${rates[@]}"; do printf ' %10.2f' "$(echo "$r $p" | awk '{ print $1 / $2 }')"; done
    printf '\n'
  done
  rm -f "$ours" "$theirs" "$theirs.round" "$theirs.header"
done
echo "rows: results/bench/<workload>-${device//:/-}-$host.csv"
