//! The command line: help, summary, config printing, and clean one-line errors with exit
//! status 2 for missing data (the full bad-input suite is tests/it/bad_input/).

use crate::util::*;

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
    let tomls = |dir: &str| -> Vec<std::path::PathBuf> {
        let mut files: Vec<_> = std::fs::read_dir(root().join(dir))
            .unwrap()
            .map(|e| e.unwrap().path())
            .filter(|p| p.extension().is_some_and(|e| e == "toml"))
            .collect();
        files.sort();
        assert!(!files.is_empty(), "{dir}");
        files
    };
    let mut others = vec![root().join("configs/quickstart.toml")];
    for dir in [
        "configs",
        "configs/fashion-mnist",
        "configs/cifar10",
        "configs/bench",
    ] {
        others.extend(tomls(dir));
    }
    for file in &others {
        let out = vgg_train(&["config", "--config", file.to_str().unwrap()]);
        assert!(out.status.success(), "{}: {:?}", file.display(), text(&out));
    }
    // The sweep manifests, and every config they name.
    for manifest in tomls("experiments") {
        let out = vgg_train(&["plan", manifest.to_str().unwrap()]);
        assert!(
            out.status.success(),
            "{}: {:?}",
            manifest.display(),
            text(&out)
        );
        assert!(!text(&out).0.trim().is_empty(), "{}", manifest.display());
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
        "--set",
        &format!("run.output_dir={:?}", tmp.path().display().to_string()),
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
