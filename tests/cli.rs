//! The command line: help, summary, config printing, and clean one-line errors with exit
//! status 2 for bad configs, bad overrides and missing data.

mod util;

use util::*;

#[test]
fn help_is_available_for_every_command() {
    for args in [
        vec!["--help"],
        vec!["train", "--help"],
        vec!["summary", "--help"],
        vec!["config", "--help"],
    ] {
        let out = vgg_train(&args);
        assert!(out.status.success(), "{args:?}");
        assert!(text(&out).0.contains("--config"), "{args:?}");
    }
}

#[test]
fn summary_prints_layers_and_ends_with_the_parameter_count() {
    let out = vgg_train(&["summary", "--config", "configs/vgg16.toml"]);
    let (stdout, stderr) = text(&out);
    assert!(out.status.success(), "{stderr}");
    assert_eq!(stdout.lines().last().unwrap(), "params: 138357544");
    assert!(stdout.contains("conv3-64"));
    assert!(stdout.contains("512x7x7"));
    // --set works on summary too.
    let out = vgg_train(&[
        "summary",
        "--config",
        "configs/vgg16.toml",
        "--set",
        "model.arch=E",
    ]);
    assert_eq!(text(&out).0.lines().last().unwrap(), "params: 143667240");
}

#[test]
fn every_shipped_config_parses_and_the_paper_configs_have_the_paper_counts() {
    for (file, params) in [
        ("configs/vgg11.toml", 132_863_336),
        ("configs/vgg11-lrn.toml", 132_863_336),
        ("configs/vgg13.toml", 133_047_848),
        ("configs/vgg16-1x1.toml", 133_638_952),
        ("configs/vgg16.toml", 138_357_544),
        ("configs/vgg19.toml", 143_667_240),
    ] {
        let out = vgg_train(&["summary", "--config", file]);
        assert!(out.status.success(), "{file}: {:?}", text(&out));
        assert_eq!(
            text(&out).0.lines().last().unwrap(),
            format!("params: {params}"),
            "{file}"
        );
    }
    let mut others: Vec<_> = std::fs::read_dir(root().join("configs/fashion-mnist"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    others.push(root().join("configs/quickstart.toml"));
    for file in others {
        let out = vgg_train(&["config", "--config", file.to_str().unwrap()]);
        assert!(out.status.success(), "{}: {:?}", file.display(), text(&out));
    }
}

#[test]
fn config_prints_the_resolved_toml_with_overrides() {
    let out = vgg_train(&[
        "config",
        "--config",
        "configs/quickstart.toml",
        "--set",
        "train.epochs=9",
    ]);
    let (stdout, _) = text(&out);
    assert!(out.status.success());
    assert!(stdout.contains("epochs = 9"), "{stdout}");
    assert!(stdout.contains("momentum = 0.9"), "{stdout}");
}

#[test]
fn bad_configs_fail_with_one_line_naming_file_and_key() {
    let tmp = tempfile::tempdir().unwrap();
    let cases: &[(&str, &[&str])] = &[
        (
            "[model]\narch = \"A\"\ndepht = 3\n",
            &["bad.toml line 3", "depht"],
        ),
        (
            "[train]\nbatch_size = 0\n",
            &["bad.toml", "train.batch_size"],
        ),
        ("[train]\nlr = -0.1\n", &["train.lr"]),
        ("[model]\narch = \"Z\"\n", &["bad.toml", "A-LRN"]),
        ("[data]\nimage_size = 16\n", &["data.image_size", "five"]),
        ("[train\nlr = 1\n", &["bad.toml line 1"]),
        ("[train]\nepochs = \"ten\"\n", &["bad.toml line 2"]),
    ];
    for (text_, needles) in cases {
        let cfg = write_config(tmp.path(), "bad.toml", text_);
        let out = vgg_train(&["--config", cfg.to_str().unwrap()]);
        assert_clean_failure(&out, 2, needles);
    }
}

#[test]
fn bad_overrides_and_missing_files_fail_cleanly() {
    let out = vgg_train(&[
        "--config",
        "configs/quickstart.toml",
        "--set",
        "train.epoch=2",
    ]);
    assert_clean_failure(&out, 2, &["--set train.epoch=2", "epoch"]);
    let out = vgg_train(&["--config", "configs/quickstart.toml", "--set", "noequals"]);
    assert_clean_failure(&out, 2, &["key=value"]);
    let out = vgg_train(&["--config", "configs/does-not-exist.toml"]);
    assert_clean_failure(&out, 2, &["configs/does-not-exist.toml"]);
    let out = vgg_train(&[]);
    assert_clean_failure(&out, 2, &["--config"]);
}

#[test]
fn missing_data_says_where_to_get_it() {
    let tmp = tempfile::tempdir().unwrap();
    let out = vgg_train(&[
        "--config",
        "configs/quickstart.toml",
        "--set",
        "data.path=/nonexistent/fmnist",
        "--set",
        &format!("run.output_dir={:?}", tmp.path().display().to_string()),
    ]);
    assert_clean_failure(&out, 2, &["/nonexistent/fmnist", "dataset-fashion-mnist"]);
    let out = vgg_train(&[
        "--config",
        "configs/quickstart.toml",
        "--set",
        "data.dataset=cifar10",
        "--set",
        "data.channels=3",
        "--set",
        &format!("data.path={:?}", tmp.path().display().to_string()),
    ]);
    assert_clean_failure(&out, 2, &["data_batch_1.bin", "cifar"]);
}

#[cfg(not(feature = "cuda"))]
#[test]
fn a_device_not_compiled_in_names_the_cargo_feature() {
    let tmp = tempfile::tempdir().unwrap();
    let out = vgg_train(&[
        "--config",
        "configs/quickstart.toml",
        "--set",
        "run.device=cuda:0",
        "--set",
        &format!("run.output_dir={:?}", tmp.path().display().to_string()),
    ]);
    assert_clean_failure(&out, 2, &["--features cuda"]);
}
