#!/usr/bin/env bash
# The GPU code path, executed on a machine without a GPU: builds vgg-train with burn's wgpu
# backend (the CubeCL kernels the CUDA backend compiles too) and runs tests/wgpu.rs under Mesa's
# lavapipe, a Vulkan device on the CPU:
#   * the same small VGGs (A, A-BN, A-LRN, C-BN, B-5x5 at width 1/16, 32x32, batch 8) with the
#     same weights and batch on flex and on wgpu: logits, loss and every parameter after one
#     SGD step agree to 1e-3 relative;
#   * `vgg-train eval` of a trained run on wgpu prints flex's error rows (centre and dense).
#
#   scripts/check-wgpu.sh            (installs mesa-vulkan-drivers with apt-get when missing)
#
# Not part of CI: the wgpu build from nothing takes about 40 minutes on 2 cores (its target dir
# is kept in $VGG_WGPU_TARGET_DIR, default ~/.cache/vgg-train/target-wgpu, so reruns are
# incremental). Run it before resolving anything that touches the model or training.
set -euo pipefail
cd "$(dirname "$0")/.."

if ! ls /usr/share/vulkan/icd.d/lvp_icd*.json > /dev/null 2>&1; then
  echo "installing Mesa's Vulkan drivers (lavapipe)"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq mesa-vulkan-drivers
fi

export CARGO_TARGET_DIR="${VGG_WGPU_TARGET_DIR:-$HOME/.cache/vgg-train/target-wgpu}"
# Lavapipe only: a real GPU, when present, is not what this check is about.
export VK_ICD_FILENAMES="$(ls /usr/share/vulkan/icd.d/lvp_icd*.json | head -1)"
# Kernel autotuning benchmarks candidates on first use: keep it to the minimum.
export CUBECL_AUTOTUNE_LEVEL=minimal
start=$(date +%s)
cargo build --locked --features wgpu --tests --quiet
built=$(date +%s)
cargo test --locked --features wgpu --test wgpu -- --test-threads 1 --nocapture
end=$(date +%s)
echo "check-wgpu: build $((built - start)) s, tests $((end - built)) s (lavapipe: $VK_ICD_FILENAMES)"
