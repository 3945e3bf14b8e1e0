"""Checks a run's TensorBoard events against its CSV files, with TensorBoard's own reader.

For each RUN_DIR, loads RUN_DIR/tensorboard with
tensorboard.backend.event_processing.event_accumulator.EventAccumulator (every scalar kept:
size_guidance 0) and checks that
  * for every row of RUN_DIR/metrics.csv the scalars at step = epoch equal the row:
    train/loss, train/top1_err, train/top5_err, val/loss, val/top1_err, val/top5_err, lr,
    train/images_per_s (top-5 only where the CSV has it). The CSV is rounded (errors and losses
    to 4 decimals, lr to 6 significant digits, images/s to 2 decimals), so a value matches
    within 1e-4 relative or half the CSV's last rounded unit, whichever is larger;
  * no tag has a step twice (a resumed run must not repeat what it wrote before);
  * test/top1_err (and test/top5_err where results.csv has it) at its last step equals the first
    row of RUN_DIR/results.csv.
Prints one line per run with counts and OK or FAIL and the reasons; exits 1 if any run fails.

Usage (any Python with the tensorboard package; a venv: python3 -m venv /tmp/tb &&
/tmp/tb/bin/pip install tensorboard):
    python3 scripts/peer/tensorboard_check.py RUN_DIR [RUN_DIR ...]
    python3 scripts/peer/tensorboard_check.py --reference
The second form prints, as a Rust byte array, the events file that src/tensorboard/record.rs's
test `framed_events_equal_tensorboards_file` holds, written by tensorboard's own RecordWriter.
"""

import collections
import csv
import io
import os
import sys

# CSV column -> (TensorBoard tag, half the CSV's rounding unit, None: relative only).
METRIC_TAGS = {
    "train_loss": ("train/loss", 0.5e-4),
    "train_top1_err": ("train/top1_err", 0.5e-4),
    "train_top5_err": ("train/top5_err", 0.5e-4),
    "val_loss": ("val/loss", 0.5e-4),
    "val_top1_err": ("val/top1_err", 0.5e-4),
    "val_top5_err": ("val/top5_err", 0.5e-4),
    "lr": ("lr", None),
    "train_img_s": ("train/images_per_s", 0.5e-2),
}
TEST_TAGS = {"top1_err": "test/top1_err", "top5_err": "test/top5_err"}
RELATIVE_TOLERANCE = 1e-4


def matches(event_value, csv_value, half_unit):
    """Whether a float32 event value equals a rounded CSV value."""
    slack = max(RELATIVE_TOLERANCE * abs(csv_value), half_unit or 0.0)
    return abs(event_value - csv_value) <= slack


def load_scalars(tensorboard_dir):
    """tag -> list of (step, value), as TensorBoard's EventAccumulator reads them."""
    from tensorboard.backend.event_processing import event_accumulator

    accumulator = event_accumulator.EventAccumulator(
        tensorboard_dir,
        size_guidance={event_accumulator.SCALARS: 0, event_accumulator.TENSORS: 0},
    )
    accumulator.Reload()
    tags = accumulator.Tags()
    scalars = {
        tag: [(event.step, event.value) for event in accumulator.Scalars(tag)]
        for tag in tags[event_accumulator.SCALARS]
    }
    return scalars, len(tags[event_accumulator.TENSORS])


def read_rows(path):
    with open(path, newline="") as file:
        return list(csv.DictReader(file))


def check_run(run_dir):
    """(summary line, list of failures) for one run directory."""
    tensorboard_dir = os.path.join(run_dir, "tensorboard")
    if not os.path.isdir(tensorboard_dir):
        return "no tensorboard/ directory", [f"{tensorboard_dir} does not exist"]
    scalars, text_tags = load_scalars(tensorboard_dir)
    failures = []
    for tag, points in sorted(scalars.items()):
        repeated = sorted(s for s, n in collections.Counter(s for s, _ in points).items() if n > 1)
        if repeated:
            failures.append(f"{tag}: steps written more than once: {repeated}")
    at_step = {tag: dict(points) for tag, points in scalars.items()}

    rows = read_rows(os.path.join(run_dir, "metrics.csv"))
    compared = 0
    for row in rows:
        epoch = int(row["epoch"])
        for column, (tag, half_unit) in METRIC_TAGS.items():
            if row.get(column, "") == "":
                continue
            value = at_step.get(tag, {}).get(epoch)
            compared += 1
            if value is None:
                failures.append(f"{tag}: no value at step {epoch} (metrics.csv has {row[column]})")
            elif not matches(value, float(row[column]), half_unit):
                failures.append(f"{tag} at step {epoch}: {value!r} != metrics.csv {row[column]}")

    results = read_rows(os.path.join(run_dir, "results.csv"))
    if not results:
        failures.append("results.csv has no rows")
    for column, tag in TEST_TAGS.items():
        if not results or results[0].get(column, "") == "":
            continue
        compared += 1
        points = scalars.get(tag)
        if not points:
            failures.append(f"{tag}: missing (results.csv has {results[0][column]})")
            continue
        last_step, value = max(points)
        if not matches(value, float(results[0][column]), 0.5e-4):
            failures.append(
                f"{tag} at step {last_step}: {value!r} != results.csv {results[0][column]}"
            )

    points = sum(len(p) for p in scalars.values())
    summary = (
        f"{len(rows)} epochs, {len(scalars)} scalar tags, {points} points, "
        f"{compared} values compared, {text_tags} text tags"
    )
    return summary, failures


def print_reference():
    """The reference events file of the Rust test, as a Rust byte array."""
    from tensorboard.compat.proto import event_pb2, summary_pb2
    from tensorboard.plugins.text import summary_v2 as text_summary
    from tensorboard.summary.writer.record_writer import RecordWriter

    buffer = io.BytesIO()
    writer = RecordWriter(buffer)
    writer.write(event_pb2.Event(wall_time=1.5, file_version="brain.Event:2").SerializeToString())
    loss = summary_pb2.Summary(value=[summary_pb2.Summary.Value(tag="train/loss", simple_value=0.25)])
    writer.write(event_pb2.Event(wall_time=2.0, step=3, summary=loss).SerializeToString())
    notes = text_summary.text_pb("notes", "hello **world**")
    writer.write(event_pb2.Event(wall_time=3.0, step=1, summary=notes).SerializeToString())
    data = buffer.getvalue()
    print(f"const TENSORBOARD_FILE: [u8; {len(data)}] = [{', '.join(f'0x{b:02x}' for b in data)}];")


def main(argv):
    if argv == ["--reference"]:
        print_reference()
        return 0
    if not argv or any(arg.startswith("-") for arg in argv):
        print(__doc__, file=sys.stderr)
        return 2
    failed = False
    for run_dir in argv:
        try:
            summary, failures = check_run(run_dir)
        except (OSError, KeyError, ValueError, csv.Error) as error:
            summary, failures = "unreadable", [f"{type(error).__name__}: {error}"]
        failed = failed or bool(failures)
        verdict = "FAIL: " + "; ".join(failures) if failures else "OK"
        print(f"{run_dir}: {summary}: {verdict}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
