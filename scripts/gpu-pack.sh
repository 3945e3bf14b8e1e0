#!/usr/bin/env bash
# Makes .gpu-pack/, everything a GPU machine without a Rust toolchain or internet needs to run
# scripts/gpu-check.sh beside the tracked tree:
#   .gpu-pack/vgg-train.xz  a release build with --features wgpu, stripped (92 MiB) and
#                         xz-compressed (16 MiB): the call carries 64 MiB at most
#   .gpu-pack/gl/*.deb      Debian's Vulkan loader and GL dispatch libraries (the GPU machine has
#                           NVIDIA's driver but no loader; gpu-check.sh unpacks them there)
# and checks that the pack plus the tracked tree fit the 64 MiB a device call carries.
#
#   scripts/gpu-pack.sh        then, through the device tool:
#   run(command="bash scripts/gpu-check.sh", carry=[".gpu-pack"], timeout_s=570)
#
# The build's target dir is $VGG_WGPU_TARGET_DIR (default ~/.cache/vgg-train/target-wgpu),
# shared with scripts/check-wgpu.sh. From nothing it takes about 40 minutes on 2 cores; after
# a change to vgg-train's own code, a few minutes.
set -euo pipefail
cd "$(dirname "$0")/.."

limit=$((64 * 1024 * 1024))
export CARGO_TARGET_DIR="${VGG_WGPU_TARGET_DIR:-$HOME/.cache/vgg-train/target-wgpu}"
start=$(date +%s)
cargo build --release --locked --features wgpu
built=$(date +%s)

rm -rf .gpu-pack
mkdir -p .gpu-pack/gl
strip -o .gpu-pack/vgg-train "$CARGO_TARGET_DIR/release/vgg-train"
stripped=$(stat -c %s .gpu-pack/vgg-train)
xz -T0 -6 .gpu-pack/vgg-train
git rev-parse HEAD > .gpu-pack/commit
git status --porcelain --untracked-files=no | grep -q . && echo "dirty" >> .gpu-pack/commit

# The loader packages for amd64 (the GPU machine's architecture), whatever this machine is.
lists=$(mktemp -d)
mkdir -p "$lists/partial"
apt_opts=(-oAPT::Architecture=amd64 -oAPT::Architectures=amd64 "-oDir::State::Lists=$lists")
apt-get "${apt_opts[@]}" update -qq
(cd .gpu-pack/gl && apt-get "${apt_opts[@]}" download -qq \
  libvulkan1 libegl1 libglvnd0 libopengl0 libgl1 libglx0 libgles2 2> /dev/null)
rm -rf "$lists"

binary=$(stat -c %s .gpu-pack/vgg-train.xz)
debs=$(du -cb .gpu-pack/gl/*.deb | tail -1 | cut -f1)
tree=$(git ls-files -z | xargs -0 stat -c %s 2> /dev/null | awk '{ s += $1 } END { print s }')
total=$((binary + debs + tree))
mib() { awk -v b="$1" 'BEGIN { printf "%.1f MiB", b / 1048576 }'; }
echo "gpu-pack: build $((built - start)) s; binary $(mib "$stripped") stripped, $(mib "$binary") compressed; loader debs $(mib "$debs"), tracked tree $(mib "$tree"): $(mib "$total") of 64 MiB"
if [ "$total" -gt "$limit" ]; then
  echo "gpu-pack: over the 64 MiB a device call carries" >&2
  exit 1
fi
