#!/usr/bin/env bash
# Fault injection: kill a training run with SIGKILL at random moments, N times in all, let
# it resume each time, and check the resume invariants against an uninterrupted run:
#   * the run finishes with the same final metrics, bitwise (flex backend, same seed);
#   * metrics.csv has every epoch exactly once, with the same values;
#   * results.csv has the same errors, best epoch and status.
#
#   scripts/fault-injection.sh [N]        (default N = 20; VGG_TRAIN=path/to/vgg-train)
#
# Small config (VGG-A at 1/16 width on 512 images of the bundled Fashion-MNIST sample, with
# dropout and the plateau schedule, so that the dropout generator and the schedule state must
# survive a kill too). A kill can land anywhere: loading data, mid-epoch, while a checkpoint
# or metrics.csv or results.csv is being written. When a run finishes before N kills were
# made, a fresh run starts and the kills go on.
set -euo pipefail
cd "$(dirname "$0")/.."

kills_wanted="${1:-20}"
bin="${VGG_TRAIN:-}"
if [ -z "$bin" ]; then
  cargo build --quiet
  bin="${CARGO_TARGET_DIR:-target}/debug/vgg-train"
fi
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT

cat > "$work/tiny.toml" <<EOF
name = "tiny"
[model]
arch = "A"
width = 0.0625
head = "compact"
hidden = 32
batch_norm = true
dropout = 0.5
init = "kaiming"
[data]
dataset = "fashion-mnist"
path = "$PWD/data/fashion-mnist-sample"
image_size = 32
channels = 1
train_limit = 512
val_limit = 256
[train]
epochs = 5
batch_size = 32
lr = 0.05
schedule = "plateau"
patience = 1
max_drops = 2
seed = 7
EOF

train() { # output_dir [extra args...]
  local out="$1"; shift
  "$bin" --config "$work/tiny.toml" --plain --set "run.output_dir=\"$out\"" "$@"
}

# Reference: one uninterrupted run, timed.
t0="$(date +%s%N)"
train "$work/ref" > "$work/ref.log" 2>&1
ref_ms=$(( ($(date +%s%N) - t0) / 1000000 ))
ref="$work/ref/tiny"
metrics_cols() { cut -d, -f1-8 "$1"; }         # all but the timing columns
results_cols() { cut -d, -f1-12,16-18 "$1"; }  # all but wall time, device and commit

kills=0
resumes=0
rounds=0
epochs_checked=0
mismatches=0
while [ "$kills" -lt "$kills_wanted" ]; do
  rounds=$((rounds + 1))
  run="$work/run/tiny"
  rm -rf "$work/run"
  while [ ! -f "$run/results.csv" ]; do
    # Started directly (not through a function) so that $! is vgg-train itself.
    "$bin" --config "$work/tiny.toml" --plain --set "run.output_dir=\"$work/run\"" \
      >> "$work/run.log" 2>&1 &
    pid=$!
    # A random moment within the length of a whole uninterrupted run.
    delay_ms=$(( (RANDOM * 32768 + RANDOM) % (ref_ms + 1) ))
    sleep "$(printf '%d.%03d' $((delay_ms / 1000)) $((delay_ms % 1000)))"
    if kill -9 "$pid" 2> /dev/null; then
      kills=$((kills + 1))
    fi
    wait "$pid" 2> /dev/null || true
    if [ ! -f "$run/results.csv" ]; then
      resumes=$((resumes + 1))
    fi
    if [ "$kills" -ge "$kills_wanted" ] && [ ! -f "$run/results.csv" ]; then
      # Enough kills: let this round finish undisturbed.
      train "$work/run" >> "$work/run.log" 2>&1 || { echo "final resume failed:"; tail -5 "$work/run.log"; exit 1; }
    fi
  done
  # The invariants.
  if ! diff <(metrics_cols "$ref/metrics.csv") <(metrics_cols "$run/metrics.csv") > "$work/diff"; then
    mismatches=$((mismatches + 1))
    echo "round $rounds: metrics.csv differs from the uninterrupted run:"; cat "$work/diff"
  fi
  dupes="$(cut -d, -f1 "$run/metrics.csv" | sort | uniq -d | wc -l)"
  if [ "$dupes" -ne 0 ]; then
    mismatches=$((mismatches + 1))
    echo "round $rounds: metrics.csv repeats an epoch"
  fi
  if ! diff <(results_cols "$ref/results.csv") <(results_cols "$run/results.csv") > "$work/diff"; then
    mismatches=$((mismatches + 1))
    echo "round $rounds: results.csv differs from the uninterrupted run:"; cat "$work/diff"
  fi
  epochs_checked=$((epochs_checked + $(($(wc -l < "$run/metrics.csv") - 1))))
done

echo "fault injection: kills $kills, resumes $resumes, rounds $rounds, epochs checked $epochs_checked, mismatches: $mismatches (reference run ${ref_ms} ms)"
[ "$mismatches" -eq 0 ]
