#!/usr/bin/env bash
# Everything one call of a lent GPU machine needs, in one command under 9 minutes, with the
# binary that scripts/gpu-pack.sh put into .gpu-pack/ (no cargo, no internet there):
#   1. unpack the carried Vulkan loader; print the adapters and nvidia-smi;
#   2. `vgg-train check-device --device wgpu`: A, A-BN, A-LRN, C-BN, B-5x5 against flex;
#   3. train the quickstart (bundled Fashion-MNIST sample) on the GPU;
#   4. speed: VGG-16 (D) at 224x224, paper head, 1000 classes, batch 32 and 64, training and
#      inference, f32 and f16, with PyTorch (the machine's own, eager: cuDNN's defaults, then
#      cuDNN's autotuning) and then vgg-train on wgpu (warm-up steps untimed: kernel
#      compilation and autotuning show in the warmup_s column).
# Every step has its own time limit, all of them cut to a deadline (530 s on the GPU, or
# GPU_CHECK_DEADLINE), and a step that fails or runs out of time is logged and skipped, so one
# call always brings back what ran. Files, under $OUT (or --out DIR):
#   check.csv, quickstart-results.csv, quickstart-metrics.csv, bench.csv, env.txt, log.txt
#
#   bash scripts/gpu-check.sh                  on the GPU machine (device tool, carry .gpu-pack)
#   bash scripts/gpu-check.sh --rehearse [--bin PATH]   here, under Mesa's lavapipe (a Vulkan device on
#                                              the CPU): the same steps at small shapes, PyTorch
#                                              on the CPU (.venv-torch, or PYTHON=...)
# Exit status: 1 when the self-check fails, else 0 (a timed-out speed row is in the log).
set -uo pipefail
cd "$(dirname "$0")/.."

rehearse=0
bin=""
out="${OUT:-/tmp/gpu-check}"
while [ $# -gt 0 ]; do
  case "$1" in
    --rehearse) rehearse=1; shift ;;
    --bin) bin="$2"; shift 2 ;;
    --out) out="$2"; shift 2 ;;
    *) echo "gpu-check.sh: unknown argument $1" >&2; exit 2 ;;
  esac
done
mkdir -p "$out"
log="$out/log.txt"
: > "$log"
work=$(mktemp -d)
started=$(date +%s)
say() { echo "[$(($(date +%s) - started)) s] $*" | tee -a "$log"; }

# Runs a step under a time limit: its stdout into $work/stdout (and the log), its stderr into
# the log; logs how it ended.
step() {
  local limit="$1" name="$2"
  shift 2
  say "== $name (limit $limit s): $*"
  local t0 rc
  t0=$(date +%s)
  timeout --kill-after=5 "$limit" "$@" > "$work/stdout" 2> >(tee -a "$log" >&2)
  rc=$?
  tee -a "$log" < "$work/stdout"
  local took=$(($(date +%s) - t0))
  case "$rc" in
    0) say "-- $name: ok in $took s" ;;
    124 | 137) say "-- $name: TIMED OUT after $took s" ;;
    *) say "-- $name: FAILED (exit $rc) after $took s" ;;
  esac
  return "$rc"
}

if [ -z "$bin" ] && [ -f .gpu-pack/vgg-train.xz ]; then
  # The pack's binary travels compressed; python3's lzma stands in where xz is missing.
  bin="$work/vgg-train"
  xz -dc .gpu-pack/vgg-train.xz > "$bin" 2> /dev/null ||
    python3 -c 'import lzma, shutil, sys; shutil.copyfileobj(lzma.open(sys.argv[1]), open(sys.argv[2], "wb"))' \
      .gpu-pack/vgg-train.xz "$bin"
  chmod +x "$bin"
fi
if [ ! -x "$bin" ]; then
  echo "gpu-check.sh: no binary at $bin; run scripts/gpu-pack.sh first (or --bin PATH)" | tee -a "$log" >&2
  exit 2
fi

export PYTHONUNBUFFERED=1
export CUBECL_AUTOTUNE_LEVEL="${CUBECL_AUTOTUNE_LEVEL:-balanced}"
if [ "$rehearse" = 1 ]; then
  icd=$(ls /usr/share/vulkan/icd.d/lvp_icd*.json 2> /dev/null | head -1)
  if [ -z "$icd" ]; then
    echo "gpu-check.sh: --rehearse needs Mesa's lavapipe: apt-get install mesa-vulkan-drivers" >&2
    exit 2
  fi
  export VK_ICD_FILENAMES="$icd"
  # Lavapipe runs kernels on the CPU: tune as little as possible.
  export CUBECL_AUTOTUNE_LEVEL=minimal
  python="${PYTHON:-.venv-torch/bin/python}"
  torch_device=cpu
  # Small shapes: the same steps, minutes on 2 cores.
  size=32 width=0.25 batches="8 16" precisions="f32 f16" steps=3 warmup=1
  quick=(--set train.epochs=1 --set data.train_limit=512 --set data.val_limit=256 --set data.test_limit=256)
  limits=(check=900 quick=900 torch=300 bench=900)
  deadline="${GPU_CHECK_DEADLINE:-10800}"
else
  # The GPU machine: NVIDIA's driver is there, the loader comes from the carried debs.
  for f in .gpu-pack/gl/*.deb; do dpkg -x "$f" /; done
  ldconfig
  nv=/usr/local/nvidia/share
  if [ -z "${VK_DRIVER_FILES:-}" ] && [ -f "$nv/vulkan/icd.d/nvidia_icd.json" ] &&
    ! ls /usr/share/vulkan/icd.d/*.json /etc/vulkan/icd.d/*.json > /dev/null 2>&1; then
    export VK_DRIVER_FILES="$nv/vulkan/icd.d/nvidia_icd.json"
    export __EGL_VENDOR_LIBRARY_FILENAMES="$nv/glvnd/egl_vendor.d/10_nvidia.json"
  fi
  python="${PYTHON:-python3}"
  torch_device=cuda
  size=224 width=1.0 batches="32 64" precisions="f32 f16" steps=10 warmup=3
  quick=()
  limits=(check=90 quick=150 torch=90 bench=75)
  deadline="${GPU_CHECK_DEADLINE:-530}"
fi
# A step's limit: its own, cut to what is left before the deadline (so that the call ends, and
# brings its files back, inside the device tool's 10 minutes).
limit() {
  local own left
  for kv in "${limits[@]}"; do [ "${kv%%=*}" = "$1" ] && own="${kv#*=}"; done
  left=$((deadline - ($(date +%s) - started)))
  [ "$left" -lt 1 ] && left=1
  echo $((own < left ? own : left))
}

{
  echo "commit: $(cat .gpu-pack/commit 2> /dev/null || git rev-parse HEAD 2> /dev/null || echo unknown)"
  echo "binary: $bin ($("$bin" --version 2>&1))"
  echo "host: $(hostname) ($(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs), $(nproc) cores)"
  echo "mode: $([ "$rehearse" = 1 ] && echo "rehearsal on lavapipe" || echo GPU)"
  echo "CUBECL_AUTOTUNE_LEVEL=$CUBECL_AUTOTUNE_LEVEL VK_ICD_FILENAMES=${VK_ICD_FILENAMES:-} VK_DRIVER_FILES=${VK_DRIVER_FILES:-}"
  command -v nvidia-smi > /dev/null && nvidia-smi
  command -v nvidia-smi > /dev/null &&
    nvidia-smi --query-gpu=name,driver_version,memory.total,clocks.max.sm --format=csv
} > "$out/env.txt" 2>&1
cat "$out/env.txt" | tee -a "$log"

# 2. The self-check.
step "$(limit check)" check-device "$bin" check-device --device wgpu --out "$out/check.csv"
check_rc=$?

# 3. The quickstart on the GPU.
step "$(limit quick)" quickstart "$bin" --config configs/quickstart.toml --plain \
  --set 'run.device="wgpu"' --set "run.output_dir=\"$work/results\"" "${quick[@]}"
cp "$work/results/quickstart/results.csv" "$out/quickstart-results.csv" 2> /dev/null
cp "$work/results/quickstart/metrics.csv" "$out/quickstart-metrics.csv" 2> /dev/null

# 4. Speed: PyTorch first (quick and sure), then vgg-train; rows into one CSV.
bench="$out/bench.csv"
: > "$bench"
append() { # a CSV's rows (its header only if $bench is still empty)
  [ -s "$1" ] || return 0
  if [ -s "$bench" ]; then tail -n +2 "$1" | tr -d '\r' >> "$bench"; else tr -d '\r' < "$1" >> "$bench"; fi
}
torch_args=(--archs D --width "$width" --image-size "$size" --classes 1000 --head paper --hidden 4096
  --device "$torch_device" --warmup "$warmup" --steps "$steps")
if "$python" -c 'import torch' 2> /dev/null; then
  for tuning in "" --cudnn-benchmark; do
    [ "$torch_device" = cpu ] && [ -n "$tuning" ] && continue
    step "$(limit torch)" "pytorch D $tuning" "$python" scripts/bench-pytorch.py "${torch_args[@]}" \
      --batch "${batches// /,}" --precision "${precisions// /,}" $tuning
    append "$work/stdout"
  done
else
  say "no PyTorch at $python: PyTorch rows skipped"
fi
for b in $(echo "$batches" | tr ' ' '\n' | sort -rn); do
  for p in $precisions; do
    step "$(limit bench)" "vgg-train D b$b $p" "$bin" bench --config configs/bench/gpu-224.toml \
      --set "data.image_size=$size" --set "model.width=$width" --set "train.batch_size=$b" \
      --set "run.precision=\"$p\"" --set 'run.device="wgpu"' \
      --warmup "$warmup" --steps "$steps" && append "$work/stdout"
  done
done

say "== done: $(($(tail -n +2 "$bench" | wc -l))) speed rows in $bench"
if [ -s "$bench" ]; then
  python3 - "$bench" << 'EOF' | tee -a "$log"
import csv, sys
for r in csv.DictReader(open(sys.argv[1])):
    print(f"{r['arch']:<4} b{r['batch']:<3} {r['precision']:<4} {r['kernels']:<24} "
          f"train {float(r['train_img_s']):8.1f} img/s  inference {float(r['infer_img_s']):8.1f} img/s  "
          f"warm-up {float(r['warmup_s']):6.1f} s")
EOF
fi
rm -rf "$work"
[ "$check_rc" = 0 ] || exit 1
exit 0
