//! Reliability: divergence stops a run and keeps the last good checkpoint, the paper-init
//! stall is reported, and two processes never write one run directory. (SIGKILL at random
//! moments is scripts/fault-injection.sh, run by CI.)

use crate::util::*;
use std::path::Path;

fn tiny_args(out: &Path, extra: &[&str]) -> Vec<String> {
    let mut all = vec![
        "model.width=0.0625",
        "model.hidden=16",
        "data.train_limit=512",
        "data.val_limit=256",
    ];
    all.extend_from_slice(extra);
    quickstart_args(out, &all)
}

fn run(args: &[String]) -> std::process::Output {
    vgg_train_owned(args)
}

#[test]
fn a_non_finite_loss_stops_the_run_and_marks_it_diverged() {
    let tmp = tempfile::tempdir().unwrap();
    let out = run(&tiny_args(tmp.path(), &["train.lr=10", "train.epochs=3"]));
    let (stdout, stderr) = text(&out);
    assert_eq!(out.status.code(), Some(1), "{stdout}\n{stderr}");
    assert!(
        stderr.contains("keeping the last good checkpoint") && stderr.contains("train.lr"),
        "{stderr}"
    );
    assert!(!stderr.contains("panicked"));
    let dir = tmp.path().join("quickstart");
    let (header, rows) = read_csv(&dir.join("results.csv"));
    assert_eq!(field(&header, &rows[0], "status"), "diverged");
    // Training stopped at the diverged epoch; its weights were not checkpointed.
    let (_, epochs) = read_csv(&dir.join("metrics.csv"));
    assert_eq!(epochs.len(), 1);
    assert!(!dir.join("checkpoint/model-1.bpk").exists());
}

#[test]
fn the_paper_init_stall_is_reported_with_the_fix() {
    let tmp = tempfile::tempdir().unwrap();
    let out = run(&tiny_args(
        tmp.path(),
        &["model.init=\"paper\"", "train.epochs=3"],
    ));
    let (stdout, stderr) = text(&out);
    assert!(out.status.success(), "{stdout}\n{stderr}");
    assert!(
        stderr.contains("stalled") && stderr.contains("ln(10)"),
        "{stderr}"
    );
    assert!(stderr.contains("init = \"kaiming\""), "{stderr}");
    let (header, rows) = read_csv(&tmp.path().join("quickstart/results.csv"));
    assert_eq!(field(&header, &rows[0], "status"), "stalled");
}

#[test]
fn a_run_killed_after_its_last_checkpoint_resumes_to_the_same_row_and_status() {
    // The plateau rule stops at the last epoch: the stop must survive the resume that only
    // writes results.csv (CI's fault injection found it reported as "finished").
    let tmp = tempfile::tempdir().unwrap();
    let args = tiny_args(
        tmp.path(),
        &[
            "train.epochs=5",
            "train.lr=0.05",
            "train.schedule=\"plateau\"",
            "train.patience=1",
            "train.max_drops=0",
        ],
    );
    let out = run(&args);
    let (stdout, stderr) = text(&out);
    assert!(out.status.success(), "{stdout}\n{stderr}");
    let dir = tmp.path().join("quickstart");
    let (header, before) = read_csv(&dir.join("results.csv"));
    let epochs: usize = field(&header, &before[0], "epochs").parse().unwrap();
    assert_eq!(field(&header, &before[0], "status"), "stopped", "{stdout}");
    assert!(
        dir.join(format!("checkpoint/scheduler-{epochs}.bpk"))
            .is_file()
    );
    // As if killed between the last checkpoint and results.csv.
    std::fs::remove_file(dir.join("results.csv")).unwrap();
    std::fs::remove_file(dir.join("model.bpk")).unwrap();
    let out = run(&args);
    let (stdout, stderr) = text(&out);
    assert!(out.status.success(), "{stdout}\n{stderr}");
    assert!(
        stdout.contains(&format!("resuming after epoch {epochs}")),
        "{stdout}"
    );
    let (_, after) = read_csv(&dir.join("results.csv"));
    let without_time = |row: &[String]| -> Vec<String> {
        header
            .iter()
            .zip(row)
            .filter(|(h, _)| !["wall_seconds", "git_commit"].contains(&h.as_str()))
            .map(|(_, v)| v.clone())
            .collect()
    };
    assert_eq!(without_time(&after[0]), without_time(&before[0]));
}

#[test]
fn two_runs_of_one_config_train_bit_identical_weights() {
    // The kernels' parallel reductions (bias gradients, dW over image groups) must not depend
    // on how rayon splits the work: same config and seed, same weights, bit for bit. (The
    // burnpack files themselves differ in their headers; the exported tensors are compared.)
    let weights = |dir: &Path| {
        let args = tiny_args(dir, &["train.epochs=2", "train.lr=0.05"]);
        let out = run(&args);
        assert!(out.status.success(), "{:?}", text(&out));
        let file = dir.join("weights.safetensors");
        let mut export = vec!["export".to_string()];
        export.extend(args.into_iter().filter(|a| a != "--plain"));
        export.extend(["--out".to_string(), file.display().to_string()]);
        let out = run(&export);
        assert!(out.status.success(), "{:?}", text(&out));
        std::fs::read(file).unwrap()
    };
    let first = weights(tempfile::tempdir().unwrap().path());
    for i in 0..3 {
        let again = weights(tempfile::tempdir().unwrap().path());
        assert!(again == first, "rerun {i} trained other weights");
    }
}

#[test]
fn a_run_directory_locked_by_a_live_process_is_refused() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("quickstart");
    std::fs::create_dir_all(&dir).unwrap();
    // This test process plays the other vgg-train: it holds the flock.
    let holder = std::fs::OpenOptions::new()
        .create(true)
        .truncate(true)
        .write(true)
        .open(dir.join("lock"))
        .unwrap();
    holder.try_lock().unwrap();
    std::fs::write(dir.join("lock"), "4242").unwrap();
    let out = run(&tiny_args(tmp.path(), &["train.epochs=1"]));
    assert_clean_failure(&out, 2, &["another vgg-train process", "4242"]);
    assert!(!dir.join("metrics.csv").exists());
    // Once the holder is gone, the lock is taken over and the run trains.
    drop(holder);
    let out = run(&tiny_args(tmp.path(), &["train.epochs=1"]));
    let (stdout, stderr) = text(&out);
    assert!(out.status.success(), "{stdout}\n{stderr}");
    assert!(stderr.contains("died holding this run"), "{stderr}");
}

#[test]
fn the_lock_is_taken_before_the_run_directory_is_read() {
    let tmp = tempfile::tempdir().unwrap();
    // A finished run of one experiment under the name `quickstart`.
    let out = run(&tiny_args(tmp.path(), &["train.epochs=1"]));
    assert!(out.status.success(), "{:?}", text(&out));
    let dir = tmp.path().join("quickstart");
    let before = files_under(&dir);
    // While another process holds it, a second config of that name (another experiment) must
    // meet the lock, not read the directory: it would have judged a run it does not own.
    let holder = std::fs::OpenOptions::new()
        .write(true)
        .open(dir.join("lock"))
        .unwrap();
    holder.try_lock().unwrap();
    std::fs::write(dir.join("lock"), "4242").unwrap();
    let out = run(&tiny_args(
        tmp.path(),
        &["model.arch=\"B\"", "train.epochs=1"],
    ));
    assert_clean_failure(&out, 2, &["another vgg-train process", "4242"]);
    drop(holder);
    let mut after = files_under(&dir);
    after.remove(&dir.join("lock"));
    let mut before = before;
    before.remove(&dir.join("lock"));
    assert_eq!(before, after, "the refused run changed the run's files");
}
