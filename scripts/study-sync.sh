#!/usr/bin/env bash
# Bring the finished runs of a sweep that trains in another checkout into this one, ready to
# commit: the files a run is reproduced and reported from (config.toml, metrics.csv,
# results.csv, train.log; never checkpoints or weights), then the report regenerated.
#
#   scripts/study-sync.sh [--bin PATH] SWEEP_CHECKOUT EXPERIMENT
#   e.g. scripts/study-sync.sh /work/study experiments/depth-fashion-mnist.toml
#
# Run it from the checkout that receives the runs (the repository root); the experiment's
# output_dir must be a relative path, the same in both checkouts. The report is regenerated as
# its `Made by` line says it was made (`vgg-train report DIR --ablation ARM_DIR` stays so).
#
# Why another checkout: a run records the checkout's commit (`git_commit`, `-dirty` when the
# tree has changes), so a long sweep runs from a clean `git worktree` with a frozen binary while
# this checkout keeps changing. A run already here is left alone; one still training there (no
# results.csv) is not copied. Prints one line per copied run; exit 0 also when none was new.
set -euo pipefail

bin="${VGG_TRAIN:-}"
while [ $# -gt 0 ]; do
  case "$1" in
    --bin) bin="$2"; shift 2 ;;
    -h|--help) sed -n '2,16p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    -*) echo "study-sync.sh: unknown option $1" >&2; exit 2 ;;
    *) break ;;
  esac
done
[ $# -eq 2 ] || { echo "usage: scripts/study-sync.sh [--bin PATH] SWEEP_CHECKOUT EXPERIMENT" >&2; exit 2; }
src="$1"
experiment="$2"
[ -d "$src" ] || { echo "study-sync.sh: no checkout at $src" >&2; exit 2; }
if [ -z "$bin" ]; then
  cargo build --quiet || { echo "study-sync.sh: cargo build failed" >&2; exit 1; }
  bin="${CARGO_TARGET_DIR:-target}/debug/vgg-train"
fi

plan="$("$bin" plan "$experiment")" || exit 2
[ -n "$plan" ] || { echo "study-sync.sh: $experiment plans no runs" >&2; exit 2; }
copied=0
out_dir=""
while IFS=$'\t' read -r name dir _; do
  out_dir="$(dirname "$dir")"
  case "$dir" in /*) echo "study-sync.sh: $experiment writes to the absolute $dir; give it a relative output_dir" >&2; exit 2 ;; esac
  [ -f "$src/$dir/results.csv" ] || continue
  [ -f "$dir/results.csv" ] && continue
  mkdir -p "$dir"
  for f in config.toml metrics.csv results.csv train.log; do
    [ -f "$src/$dir/$f" ] || { echo "study-sync.sh: $src/$dir has no $f" >&2; exit 1; }
    cp "$src/$dir/$f" "$dir/$f.tmp" && mv "$dir/$f.tmp" "$dir/$f"
  done
  echo "copied $name: $(tail -n 2 "$dir/train.log" | head -n 1)"
  copied=$((copied + 1))
done <<< "$plan"
if [ "$copied" -gt 0 ]; then
  # Regenerate the report as it was made (its `Made by` line keeps an --ablation ARM_DIR).
  made_by="$(grep -o 'Made by `vgg-train report [^`]*`' "$out_dir/report.md" 2> /dev/null |
    sed 's/^Made by `vgg-train report //; s/`$//' || true)"
  if [ -n "$made_by" ]; then
    # shellcheck disable=SC2086 # the recorded arguments are paths without spaces
    "$bin" report $made_by
  else
    "$bin" report "$out_dir"
  fi
fi
echo "study-sync: $copied new finished runs"
