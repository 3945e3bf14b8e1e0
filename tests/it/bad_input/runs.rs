//! Run directories, results, weights and exports: refused, and nothing already written is changed.

use super::*;

#[test]
fn output_directory_that_cannot_be_created() {
    let tmp = tempfile::tempdir().unwrap();
    let blocker = tmp.path().join("file");
    std::fs::write(&blocker, b"x").unwrap();
    let cfg = tiny(tmp.path(), &sample(), "");
    let out = vgg_train(&[
        "--config",
        cfg.to_str().unwrap(),
        "--set",
        &format!(
            "run.output_dir={:?}",
            blocker.join("sub").display().to_string()
        ),
    ]);
    let (_, stderr) = text(&out);
    assert!(stderr.contains("file/sub"), "{stderr}");
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
    assert_ne!(out.status.code(), Some(0));
    assert!(!stderr.contains("panicked"));
}

#[test]
fn checkpoint_of_another_arch_is_refused() {
    let tmp = tempfile::tempdir().unwrap();
    let cfg = tiny(tmp.path(), &sample(), "");
    let c = cfg.to_str().unwrap();
    let out = vgg_train(&["--config", c, "--set", "train.epochs=2"]);
    assert!(out.status.success(), "{:?}", text(&out));
    // Another arch's checkpoint slipped into the run directory, claiming to be epoch 2.
    let other = tempfile::tempdir().unwrap();
    let cfg_b = tiny(other.path(), &sample(), "");
    let out = vgg_train(&["--config", cfg_b.to_str().unwrap(), "--set", "model.arch=B"]);
    assert!(out.status.success(), "{:?}", text(&out));
    let run = tmp.path().join("out/tiny");
    std::fs::copy(
        other.path().join("out/tiny/checkpoint/model-1.bpk"),
        run.join("checkpoint/model-2.bpk"),
    )
    .unwrap();
    std::fs::remove_file(run.join("results.csv")).unwrap();
    let out = vgg_train(&["--config", c, "--set", "train.epochs=3"]);
    assert_clean_failure(&out, 2, &["model-2.bpk", "does not fit", "--fresh"]);
}

#[test]
fn corrupt_results_csv() {
    let tmp = tempfile::tempdir().unwrap();
    let cfg = tiny(tmp.path(), &sample(), "");
    let c = cfg.to_str().unwrap();
    assert!(vgg_train(&["--config", c]).status.success());
    std::fs::write(
        tmp.path().join("out/tiny/results.csv"),
        "name,arch\n\"unterminated",
    )
    .unwrap();
    assert_clean_failure(&vgg_train(&["--config", c]), 2, &["results.csv"]);
}

#[test]
fn empty_sweep_manifest_and_report_without_runs() {
    let tmp = tempfile::tempdir().unwrap();
    let m = write_config(
        tmp.path(),
        "m.toml",
        "name = \"m\"\noutput_dir = \"x\"\nconfigs = []\nseeds = [0]\n",
    );
    assert_clean_failure(
        &vgg_train(&["plan", m.to_str().unwrap()]),
        2,
        &["m.toml", "configs"],
    );
    let out = vgg_train(&["report", tmp.path().to_str().unwrap()]);
    assert_clean_failure(&out, 1, &["no finished runs"]);
}

#[test]
fn an_os_error_is_reported_once() {
    let out = vgg_train(&["--config", "/nonexistent/vgg.toml"]);
    assert_clean_failure(&out, 2, &["/nonexistent/vgg.toml", "No such file"]);
    let (_, stderr) = text(&out);
    assert_eq!(stderr.matches("os error 2").count(), 1, "{stderr}");
}

#[test]
fn corrupt_or_foreign_weights_files_are_refused_with_the_file_named() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = write_config(
        dir.path(),
        "tv.toml",
        "[model]\narch = \"A\"\nwidth = 0.0625\nhidden = 32\nnum_classes = 10\n[data]\ndataset = \"image-folder\"\n",
    );
    let image = root().join("tests/fixtures/torchvision/photo.JPEG");
    let corrupt = dir.path().join("corrupt.pth");
    std::fs::write(&corrupt, vec![0x5a; 4096]).unwrap();
    let not_vgg = root().join("tests/fixtures/torchvision/not-vgg.pth");
    for (weights, needle) in [
        (corrupt.clone(), "not a PyTorch state dict"),
        (dir.path().join("missing.pth"), "not found"),
        (not_vgg, "not a torchvision VGG state dict"),
    ] {
        let out = vgg_train(&[
            "predict",
            "--config",
            cfg.to_str().unwrap(),
            "--weights",
            weights.to_str().unwrap(),
            image.to_str().unwrap(),
        ]);
        assert_clean_failure(
            &out,
            2,
            &[weights.file_name().unwrap().to_str().unwrap(), needle],
        );
    }
}

#[test]
fn export_never_writes_over_the_weights_it_reads_or_a_non_safetensors_file() {
    let tmp = tempfile::tempdir().unwrap();
    let cfg = tiny(tmp.path(), &sample(), "");
    let c = cfg.to_str().unwrap();
    assert!(vgg_train(&["--config", c]).status.success());
    let run = tmp.path().join("out/tiny");
    let before = files_under(&run);
    let model = run.join("model.bpk");
    let json = tmp.path().join("x.json");
    for (out, needle) in [
        (model.clone(), ".safetensors"),
        (json.clone(), ".safetensors"),
    ] {
        let o = vgg_train(&["export", "--config", c, "--out", out.to_str().unwrap()]);
        assert_clean_failure(&o, 2, &[out.file_name().unwrap().to_str().unwrap(), needle]);
    }
    // An export read back in place: out (and its JSON) would be the weights themselves.
    let st = tmp.path().join("w.safetensors");
    assert!(
        vgg_train(&["export", "--config", c, "--out", st.to_str().unwrap()])
            .status
            .success()
    );
    let o = vgg_train(&[
        "export",
        "--config",
        c,
        "--weights",
        st.to_str().unwrap(),
        "--out",
        st.to_str().unwrap(),
    ]);
    assert_clean_failure(&o, 2, &["w.safetensors", "weights file being exported"]);
    assert!(!json.exists());
    assert_eq!(files_under(&run), before, "the run's files changed");
}

#[test]
fn resuming_with_fewer_epochs_than_trained_is_refused_and_keeps_every_checkpoint() {
    let tmp = tempfile::tempdir().unwrap();
    let c = tiny(tmp.path(), &sample(), "").display().to_string();
    let out = vgg_train(&["--config", &c, "--set", "train.epochs=2"]);
    assert!(out.status.success(), "{:?}", text(&out));
    let run = tmp.path().join("out/tiny");
    // As if the run had been cut off before its results were written.
    std::fs::remove_file(run.join("results.csv")).unwrap();
    let before = files_under(&run);
    let out = vgg_train(&["--config", &c, "--set", "train.epochs=1"]);
    assert_clean_failure(
        &out,
        2,
        &[
            "train.epochs changed from 2 to 1",
            "2 epochs are already trained",
        ],
    );
    let mut after = files_under(&run);
    after.remove(&run.join("lock"));
    let mut before = before;
    before.remove(&run.join("lock"));
    assert_eq!(before, after, "the refused resume changed the run's files");
    // Back at 2 epochs it finishes from its checkpoints.
    let out = vgg_train(&["--config", &c, "--set", "train.epochs=2"]);
    assert!(out.status.success(), "{:?}", text(&out));
    assert!(run.join("results.csv").is_file());
}
