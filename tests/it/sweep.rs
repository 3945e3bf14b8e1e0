//! `scripts/sweep.sh`: runs every (config, seed), skips finished runs on a second invocation,
//! keeps going past a failed run, and writes a Slurm array script that runs the same command.

use crate::util::*;
use std::path::Path;
use std::process::Command;

fn net(dir: &Path, name: &str, arch: &str, data: &str) -> String {
    let cfg = tiny_config(
        dir,
        name,
        &format!(
            "dataset = \"fashion-mnist\"\npath = {data:?}\nimage_size = 32\nchannels = 1\ntrain_limit = 128\nval_limit = 64"
        ),
        32,
    );
    let text = std::fs::read_to_string(&cfg)
        .unwrap()
        .replace("arch = \"A\"", &format!("arch = \"{arch}\""));
    std::fs::write(&cfg, text).unwrap();
    cfg.display().to_string()
}

fn sweep(args: &[&str]) -> std::process::Output {
    Command::new("bash")
        .arg("scripts/sweep.sh")
        .args(["--bin", env!("CARGO_BIN_EXE_vgg-train")])
        .args(args)
        .current_dir(root())
        .output()
        .unwrap()
}

/// The bundled Fashion-MNIST sample, as a config value.
fn sample_path() -> String {
    root()
        .join("data/fashion-mnist-sample")
        .display()
        .to_string()
}

#[test]
fn sweep_runs_everything_once_skips_finished_runs_and_reports_failures() {
    let tmp = tempfile::tempdir().unwrap();
    let sample = sample_path();
    let a = net(tmp.path(), "net-a", "A", &sample);
    let b = net(tmp.path(), "net-b", "B", &sample);
    let broken = net(tmp.path(), "broken", "A", "/nonexistent/data");
    let out_dir = tmp.path().join("out");
    let manifest = write_config(
        tmp.path(),
        "study.toml",
        &format!(
            "name = \"study\"\noutput_dir = {:?}\nconfigs = [{a:?}, {broken:?}, {b:?}]\nseeds = [0, 1]\nset = [\"model.hidden=8\"]\n",
            out_dir.display().to_string()
        ),
    );
    let out = sweep(&[manifest.to_str().unwrap()]);
    let (stdout, stderr) = text(&out);
    assert_eq!(out.status.code(), Some(1), "{stdout}\n{stderr}");
    assert!(stdout.contains("2 of 6 runs failed"), "{stdout}");
    assert!(
        stdout.contains("broken-s0") && stdout.contains("broken-s1"),
        "{stdout}"
    );
    for run in ["net-a-s0", "net-a-s1", "net-b-s0", "net-b-s1"] {
        let results = out_dir.join(run).join("results.csv");
        assert!(results.is_file(), "{run}: {stdout}");
        let log = std::fs::read_to_string(out_dir.join(run).join("train.log")).unwrap();
        assert!(log.contains("top-1 error"), "{log}");
    }
    let (header, rows) = read_csv(&out_dir.join("net-b-s1/results.csv"));
    assert_eq!(field(&header, &rows[0], "seed"), "1");
    let saved = std::fs::read_to_string(out_dir.join("net-b-s1/config.toml")).unwrap();
    assert!(saved.contains("hidden = 8"), "{saved}");
    let before = std::fs::metadata(out_dir.join("net-a-s0/results.csv"))
        .unwrap()
        .modified()
        .unwrap();

    // Second invocation: the finished runs are skipped, nothing is trained again.
    let again = sweep(&["-j", "2", manifest.to_str().unwrap()]);
    let (stdout, _) = text(&again);
    assert_eq!(stdout.matches("[skip]").count(), 4, "{stdout}");
    assert!(!stdout.contains("[done]"), "{stdout}");
    let after = std::fs::metadata(out_dir.join("net-a-s0/results.csv"))
        .unwrap()
        .modified()
        .unwrap();
    assert_eq!(before, after);
}

#[test]
fn slurm_mode_writes_an_array_job_whose_tasks_run_the_same_command() {
    let tmp = tempfile::tempdir().unwrap();
    let sample = sample_path();
    let a = net(tmp.path(), "net-a", "A", &sample);
    let out_dir = tmp.path().join("out");
    let manifest = write_config(
        tmp.path(),
        "study.toml",
        &format!(
            "name = \"s\"\noutput_dir = {:?}\nconfigs = [{a:?}]\nseeds = [3, 4]\n",
            out_dir.display().to_string()
        ),
    );
    let out = sweep(&["--slurm", manifest.to_str().unwrap()]);
    assert!(out.status.success(), "{:?}", text(&out));
    let script = out_dir.join("sweep.slurm");
    let body = std::fs::read_to_string(&script).unwrap();
    assert!(body.contains("#SBATCH --array=1-2"), "{body}");
    let syntax = Command::new("bash")
        .arg("-n")
        .arg(&script)
        .status()
        .unwrap();
    assert!(syntax.success());
    // Run task 2 the way Slurm would: it trains seed 4, and a second call skips it.
    let task = || {
        Command::new("bash")
            .arg(&script)
            .env("SLURM_ARRAY_TASK_ID", "2")
            .current_dir(root())
            .output()
            .unwrap()
    };
    let first = task();
    assert!(first.status.success(), "{:?}", text(&first));
    let (header, rows) = read_csv(&out_dir.join("net-a-s4/results.csv"));
    assert_eq!(field(&header, &rows[0], "seed"), "4");
    assert!(!out_dir.join("net-a-s3").exists());
    let second = task();
    assert!(text(&second).0.contains("finished, skipped"));
}

#[test]
fn study_sync_copies_finished_runs_without_checkpoints_and_regenerates_the_report() {
    let tmp = tempfile::tempdir().unwrap();
    let (src, dst) = (tmp.path().join("study"), tmp.path().join("repo"));
    std::fs::create_dir_all(&src).unwrap();
    std::fs::create_dir_all(&dst).unwrap();
    let a = net(tmp.path(), "net-a", "A", &sample_path());
    let manifest = write_config(
        tmp.path(),
        "study.toml",
        &format!(
            "name = \"study\"\noutput_dir = \"out\"\nconfigs = [{a:?}]\nseeds = [0, 1]\nset = [\"model.hidden=8\"]\n"
        ),
    );
    let manifest = manifest.to_str().unwrap();
    // Seed 0 trains in the sweep's checkout; seed 1 has only started there.
    let mut only_seed0 = Command::new("bash");
    only_seed0
        .arg(root().join("scripts/sweep.sh"))
        .args(["--bin", env!("CARGO_BIN_EXE_vgg-train"), manifest])
        .current_dir(&src);
    let out = only_seed0.output().unwrap();
    assert!(out.status.success(), "{:?}", text(&out));
    std::fs::remove_file(src.join("out/net-a-s1/results.csv")).unwrap();
    let sync = || {
        Command::new("bash")
            .arg(root().join("scripts/study-sync.sh"))
            .args(["--bin", env!("CARGO_BIN_EXE_vgg-train")])
            .args([src.to_str().unwrap(), manifest])
            .current_dir(&dst)
            .output()
            .unwrap()
    };
    let out = sync();
    let (stdout, stderr) = text(&out);
    assert!(out.status.success(), "{stdout}\n{stderr}");
    assert!(stdout.contains("copied net-a-s0:"), "{stdout}");
    assert!(
        stdout.contains("study-sync: 1 new finished runs"),
        "{stdout}"
    );
    let run = dst.join("out/net-a-s0");
    for f in ["config.toml", "metrics.csv", "results.csv", "train.log"] {
        assert_eq!(
            std::fs::read(run.join(f)).unwrap(),
            std::fs::read(src.join("out/net-a-s0").join(f)).unwrap(),
            "{f}"
        );
    }
    assert!(!run.join("checkpoint").exists() && !run.join("model.bpk").exists());
    assert!(
        !dst.join("out/net-a-s1").exists(),
        "an unfinished run was copied"
    );
    let report = std::fs::read_to_string(dst.join("out/report.md")).unwrap();
    assert!(report.contains("| net-a-s0 | A |"), "{report}");
    // Nothing new the second time: the copied run is left as it is.
    let out = sync();
    assert!(
        text(&out).0.contains("study-sync: 0 new finished runs"),
        "{:?}",
        text(&out)
    );
}
