#!/usr/bin/env bash
# Side-by-side speed: `vgg-train bench` and scripts/bench-pytorch.py on the same networks, the
# same batch, the same thread count, back to back on this machine; prints the training
# images/s of both and their ratio per configuration, and writes all rows to
# results/bench/<workload>-<device>-<host>-<cpu>-<isa>.csv (the CPU model and its widest vector
# instructions in the name: the same host name can come with a different CPU, and each keeps its
# own rows).
#
#   scripts/compare-pytorch.sh [--archs A,D] [--steps N] [--rounds R] [--workloads a,b]
#                              [--device flex] [--kernels own,burn]
#   scripts/compare-pytorch.sh --table results/bench/a-flex-vm-amd-epyc-avx2.csv   # reprint a CSV's table
#
# Workloads: (a) 32x32, width 0.25, compact head, batch 64; (b) the same at width 1.0;
# (c) 224x224, width 1.0, paper head, batch 64, on a GPU (--device wgpu|tch:cuda:0|cuda:0 with
# a binary built with that feature; PyTorch then runs on cuda).
# --kernels: run.kernels values to measure on flex: `own` (vgg-train's kernels, the default) and
# `burn` (burn's ops, what flex ran before them); each gets its own column and ratio.
# --rounds: the whole comparison is repeated R times, vgg-train and PyTorch alternating, and the
# table shows the median rate of each column and the median of the rounds' ratios (each round's
# two rates measured a minute apart: a shared 2-core VM's speed drifts by 10-30 % from minute to
# minute, and by up to 2x over ten minutes on some hosts, so a ratio within a round is steadier
# than the ratio of two medians). Every round's rows are written to the CSV.
# Each round also runs `vgg-train bench-peak` (the CPU's attainable f32 FMA rate, all threads),
# written to <csv>-peak.csv; the table's "% peak" columns are each side's median training
# GFLOP/s over the median peak.
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
table=""
while [ $# -gt 0 ]; do
  case "$1" in
    --table) table="$2"; shift 2 ;;
    --archs) archs="$2"; shift 2 ;;
    --steps) steps="$2"; shift 2 ;;
    --rounds) rounds="$2"; shift 2 ;;
    --workloads) workloads="$2"; shift 2 ;;
    --device) device="$2"; shift 2 ;;
    --kernels) kernels="$2"; shift 2 ;;
    *) echo "compare-pytorch.sh: unknown argument $1" >&2; exit 2 ;;
  esac
done
# Median of a column's values, read from stdin.
median() { sort -g | awk '{ v[NR] = $1 } END { print (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }

# The header of the table for the kernels in $kernels.
table_header() {
  printf '%-9s %-6s' workload arch
  for k in ${kernels//,/ }; do printf ' %12s' "$k"; done
  printf ' %12s' pytorch
  for k in ${kernels//,/ }; do printf ' %10s' "ratio $k"; done
  if [ -n "${peak_csv:-}" ]; then
    for k in ${kernels//,/ } pytorch; do printf ' %12s' "$k % peak"; done
  fi
  printf '\n'
}

# The table's rows for workload $1 from the CSV $2 (vgg-train's rows, then PyTorch's, each in
# round order; train_img_s is column 7, the kernels column the last).
table_rows() {
  local w="$1" csv arch k
  csv="$(mktemp)"
  tr -d '\r' < "$2" > "$csv" # PyTorch's csv module ends its rows in CRLF
  for arch in ${archs//,/ }; do
    printf '%-9s %-6s' "($w)" "$arch"
    for k in ${kernels//,/ }; do
      awk -F, -v a="$arch" -v k="$k" '$1 == a && $NF == k { print $7 }' "$csv" | median |
        xargs printf ' %12.1f'
    done
    awk -F, -v a="$arch" '$1 == a && $NF == "pytorch" { print $7 }' "$csv" | median |
      xargs printf ' %12.1f'
    for k in ${kernels//,/ }; do
      # Round i's rate over round i's PyTorch rate.
      paste -d' ' \
        <(awk -F, -v a="$arch" -v k="$k" '$1 == a && $NF == k { print $7 }' "$csv") \
        <(awk -F, -v a="$arch" '$1 == a && $NF == "pytorch" { print $7 }' "$csv") |
        awk '{ print $1 / $2 }' | median | xargs printf ' %10.2f'
    done
    if [ -n "${peak_csv:-}" ]; then
      # Median training GFLOP/s (column 13) over the median of the rounds' bench-peak.
      local peak
      peak="$(awk -F, 'NR > 1 { print $3 }' "$peak_csv" | median)"
      for k in ${kernels//,/ } pytorch; do
        awk -F, -v a="$arch" -v k="$k" '$1 == a && $NF == k { print $13 }' "$csv" | median |
          awk -v p="$peak" '{ printf " %11.0f%%", 100 * $1 / p }'
      done
    fi
    printf '\n'
  done
  rm -f "$csv"
}

if [ -n "$table" ]; then
  [ -f "$table" ] || { echo "compare-pytorch.sh: no CSV at $table" >&2; exit 2; }
  archs="$(tr -d '\r' < "$table" | awk -F, 'NR > 1 { print $1 }' | awk '!seen[$0]++' | paste -sd,)"
  kernels="$(tr -d '\r' < "$table" | awk -F, 'NR > 1 && $NF != "pytorch" { print $NF }' |
    awk '!seen[$0]++' | paste -sd,)"
  w="$(basename "$table" | cut -d- -f1)"
  peak_csv="${table%.csv}-peak.csv"
  [ -f "$peak_csv" ] || peak_csv=""
  table_header
  table_rows "$w" "$table"
  exit 0
fi

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
# The CPU model as a file-name word: "Intel(R) Xeon(R) Processor" -> intel-xeon-processor.
cpu="$(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/(R)//g; s/(TM)//g' |
  tr 'A-Z' 'a-z' | tr -cs 'a-z0-9' '-' | sed 's/^-//; s/-$//')"
# The widest vector instructions, which pick gemm's micro-kernels: one model name ("AMD EPYC")
# comes both with AVX-512 and with AVX2 only, and each keeps its own rows.
if grep -qw avx512f /proc/cpuinfo; then isa=avx512; elif grep -qw avx2 /proc/cpuinfo; then isa=avx2; else isa=sse2; fi
cpu="${cpu:-unknown}-$isa"
mkdir -p results/bench

for w in ${workloads//,/ }; do
  case "$w" in
    a) cfg=configs/bench/cpu-32.toml; width=0.25; size=32; head=compact; hidden=512; classes=10; pydev=cpu ;;
    b) cfg=configs/bench/cpu-32.toml; width=1.0; size=32; head=compact; hidden=512; classes=10; pydev=cpu ;;
    c) cfg=configs/bench/gpu-224.toml; width=1.0; size=224; head=paper; hidden=4096; classes=1000; pydev=cuda ;;
    *) echo "unknown workload $w" >&2; exit 2 ;;
  esac
  out="results/bench/$w-${device//:/-}-$host-$cpu.csv"
  ours="$(mktemp)"; theirs="$(mktemp)"; peaks="$(mktemp)"
  for _ in $(seq "$rounds"); do
    # This round's attainable f32 peak, beside its rates: the VM's speed drifts.
    "$bin" bench-peak 2> /dev/null | tail -n +2 >> "$peaks"
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
  peak_csv="${out%.csv}-peak.csv"
  { echo "isa,threads,gflop_s,sgemm_gflop_s"; cat "$peaks"; } > "$peak_csv"
  table_header
  table_rows "$w" "$out"
  rm -f "$ours" "$theirs" "$theirs.round" "$theirs.header" "$peaks"
done
echo "rows: results/bench/<workload>-${device//:/-}-$host-$cpu.csv"
