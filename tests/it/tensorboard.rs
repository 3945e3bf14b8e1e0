//! TensorBoard event files of real training runs, read back with the crate's reader (framing,
//! both CRCs, values): every epoch's `metrics.csv` values, the batches' training loss, the test
//! errors of `results.csv`, the config as text; a killed and resumed run ends with the same curves as an uninterrupted
//! one, no step twice and none lost; `run.tensorboard = false` writes none.
//! (`scripts/peer/tensorboard_check.py` checks the same files with TensorBoard's own reader.)

use crate::util::*;
use std::collections::BTreeMap;
use std::path::Path;
use vgg_train::tensorboard::{
    EventData, SummaryData, TENSORBOARD_DIR, last_step, read_events, read_scalars,
};

/// Tiny VGG-A on the bundled sample with a constant rate (the plateau rule never drops in 3
/// epochs), so that a run resumed with more epochs continues exactly as one that ran them all.
fn args(out: &Path, epochs: usize, extra: &[&str]) -> Vec<String> {
    let epochs = format!("train.epochs={epochs}");
    let mut all = vec![
        "name=tb",
        "model.width=0.0625",
        "model.hidden=16",
        "data.train_limit=256",
        "data.val_limit=128",
        "data.test_limit=128",
        "train.schedule=\"plateau\"",
        "train.patience=10",
        &epochs,
    ];
    all.extend_from_slice(extra);
    quickstart_args(out, &all)
}

/// tag → (step, value) in step order; panics on a step written twice.
fn curves(run: &Path) -> BTreeMap<String, Vec<(i64, f32)>> {
    let mut out: BTreeMap<String, Vec<(i64, f32)>> = BTreeMap::new();
    for s in read_scalars(&run.join(TENSORBOARD_DIR)).unwrap() {
        out.entry(s.tag).or_default().push((s.step, s.value));
    }
    for (tag, points) in &mut out {
        points.sort_by_key(|p| p.0);
        let steps: Vec<i64> = points.iter().map(|p| p.0).collect();
        let mut unique = steps.clone();
        unique.dedup();
        assert_eq!(steps, unique, "{tag}: a step written twice");
    }
    out
}

/// The run's event files agree with its metrics.csv and results.csv, and hold the config once;
/// with `trained`, the batches' losses too (event files written afterwards from the CSVs have
/// none: the CSVs do not hold them).
fn assert_matches_csv(run: &Path, trained: bool) {
    let c = curves(run);
    let (header, rows) = read_csv(&run.join("metrics.csv"));
    for (tag, column) in [
        ("train/loss", "train_loss"),
        ("train/top1_err", "train_top1_err"),
        ("train/top5_err", "train_top5_err"),
        ("val/loss", "val_loss"),
        ("val/top1_err", "val_top1_err"),
        ("val/top5_err", "val_top5_err"),
        ("lr", "lr"),
        ("train/images_per_s", "train_img_s"),
    ] {
        let want: Vec<(i64, f32)> = rows
            .iter()
            .map(|r| {
                let epoch: i64 = field(&header, r, "epoch").parse().unwrap();
                let value: f64 = field(&header, r, column).parse().unwrap();
                (epoch, value as f32)
            })
            .collect();
        assert_eq!(c.get(tag), Some(&want), "{tag} against metrics.csv");
    }
    // Every batch's loss here (4 batches an epoch, fewer than 20): global steps 1..=4·epochs.
    if trained {
        let batches: Vec<i64> = c["train/batch_loss"].iter().map(|p| p.0).collect();
        assert_eq!(batches, (1..=4 * rows.len() as i64).collect::<Vec<_>>());
        assert!(
            c["train/batch_loss"]
                .iter()
                .all(|p| p.1.is_finite() && p.1 > 0.0)
        );
    } else {
        assert!(!c.contains_key("train/batch_loss"));
    }
    let (header, results) = read_csv(&run.join("results.csv"));
    let best: i64 = field(&header, &results[0], "best_epoch").parse().unwrap();
    for (tag, column) in [("test/top1_err", "top1_err"), ("test/top5_err", "top5_err")] {
        let value: f64 = field(&header, &results[0], column).parse().unwrap();
        assert_eq!(c.get(tag), Some(&vec![(best, value as f32)]), "{tag}");
    }
    // The config text: at step 0, in no more than one file (a file whose last record a kill
    // cut is skipped here: the strict reader refuses it, the tolerant one reads up to the cut).
    let dir = run.join(TENSORBOARD_DIR);
    assert_eq!(last_step(&dir, "config").unwrap(), Some(0));
    let mut configs = 0;
    for entry in std::fs::read_dir(&dir).unwrap() {
        let Ok(events) = read_events(&entry.unwrap().path()) else {
            continue;
        };
        for event in events {
            if let EventData::Summary(values) = event.data {
                for v in values {
                    if let SummaryData::Text(text) = v.data {
                        assert_eq!(v.tag, "config");
                        assert!(text.contains("arch = \"A\""), "{text}");
                        configs += 1;
                    }
                }
            }
        }
    }
    assert!(configs <= 1, "the config text, once");
}

#[test]
fn a_killed_and_resumed_run_writes_the_curves_of_an_uninterrupted_one() {
    let tmp = tempfile::tempdir().unwrap();
    let whole = tmp.path().join("whole");
    let out = vgg_train_owned(&args(&whole, 3, &[]));
    assert!(out.status.success(), "{:?}", text(&out));
    let whole = whole.join("tb");
    assert_matches_csv(&whole, true);

    // Two epochs, then as if killed while writing epoch 2's events and before results.csv:
    // the session's events file loses its last bytes (a record cut in half), and the file
    // with the test errors, written after results.csv, does not exist yet.
    let killed = tmp.path().join("killed");
    let out = vgg_train_owned(&args(&killed, 2, &[]));
    assert!(out.status.success(), "{:?}", text(&out));
    let killed = killed.join("tb");
    std::fs::remove_file(killed.join("results.csv")).unwrap();
    std::fs::remove_file(killed.join("model.bpk")).unwrap();
    for entry in std::fs::read_dir(killed.join(TENSORBOARD_DIR)).unwrap() {
        let path = entry.unwrap().path();
        let holds_test = read_events(&path).unwrap().iter().any(|e| {
            matches!(&e.data, EventData::Summary(v) if v.iter().any(|v| v.tag.starts_with("test/")))
        });
        if holds_test {
            std::fs::remove_file(&path).unwrap();
        } else {
            let bytes = std::fs::read(&path).unwrap();
            std::fs::write(&path, &bytes[..bytes.len() - 7]).unwrap();
        }
    }
    let out = vgg_train_owned(&args(tmp.path().join("killed").as_path(), 3, &[]));
    let (stdout, stderr) = text(&out);
    assert!(out.status.success(), "{stdout}\n{stderr}");
    assert!(stdout.contains("resuming after epoch 2"), "{stdout}");
    assert_matches_csv(&killed, true);

    // The same curves as the uninterrupted run, bit for bit, but for the throughput.
    let (mut a, mut b) = (curves(&whole), curves(&killed));
    let (ta, tb) = (
        a.remove("train/images_per_s").unwrap(),
        b.remove("train/images_per_s").unwrap(),
    );
    assert_eq!(
        ta.iter().map(|p| p.0).collect::<Vec<_>>(),
        tb.iter().map(|p| p.0).collect::<Vec<_>>()
    );
    assert_eq!(a, b);
}

#[test]
fn run_tensorboard_false_writes_none_and_the_tensorboard_command_writes_them_later() {
    let tmp = tempfile::tempdir().unwrap();
    let out = vgg_train_owned(&args(tmp.path(), 2, &["run.tensorboard=false"]));
    assert!(out.status.success(), "{:?}", text(&out));
    let run = tmp.path().join("tb");
    assert!(run.join("results.csv").is_file());
    assert!(!run.join(TENSORBOARD_DIR).exists());
    // From the CSVs: what the run would have written.
    let dir = tmp.path().to_str().unwrap();
    let out = vgg_train(&["tensorboard", dir]);
    let (stdout, stderr) = text(&out);
    assert!(out.status.success(), "{stdout}\n{stderr}");
    assert!(stdout.contains("2 epochs"), "{stdout}");
    assert_matches_csv(&run, false);
    // Again: nothing is missing, so no file is added.
    let files = || {
        std::fs::read_dir(run.join(TENSORBOARD_DIR))
            .unwrap()
            .count()
    };
    let before = files();
    assert!(vgg_train(&["tensorboard", dir]).status.success());
    assert_eq!(files(), before);
    // A directory without runs is an error naming it.
    let empty = tempfile::tempdir().unwrap();
    let out = vgg_train(&["tensorboard", empty.path().to_str().unwrap()]);
    assert_clean_failure(&out, 1, &["no finished runs"]);
}
