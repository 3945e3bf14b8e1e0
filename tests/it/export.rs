//! `vgg-train export`: torchvision's own state dicts (the fixture of `tests/it/torchvision.rs`,
//! made by PyTorch 2.9) go out as safetensors under exactly torchvision's names, come back in
//! through the torchvision loader with PyTorch's logits, and a trained run's model.bpk exported
//! and evaluated from the safetensors file gives the run's own errors.

use crate::util::*;
use burn::prelude::*;
use burn::store::{ModuleStore, PytorchStore};
use serde_json::Value;
use vgg_train::model::VggConfig;
use vgg_train::model::torchvision::load_torchvision;

fn fixture_dir() -> std::path::PathBuf {
    root().join("tests/fixtures/torchvision")
}

/// The fixture's network (VGG-A at width 1/16, hidden 32, 10 classes) as a config file.
fn fixture_config(dir: &std::path::Path, batch_norm: bool) -> std::path::PathBuf {
    write_config(
        dir,
        "tv.toml",
        &format!(
            "[model]\narch = \"A\"\nwidth = 0.0625\nhidden = 32\nnum_classes = 10\nbatch_norm = {batch_norm}\n[data]\ndataset = \"image-folder\"\npath = \"/nonexistent\"\nimage_size = 32\n[run]\noutput_dir = {:?}\n",
            dir.join("out").display().to_string()
        ),
    )
}

/// The fixture's network (width 1/16, hidden 32, 10 classes).
fn vgg(batch_norm: bool) -> VggConfig {
    fixture_vgg(0.0625, 32, 10, batch_norm)
}

/// The fixture's input for 2 images of `size`² (see [`fixture_input`]).
fn input(size: usize, device: &Device) -> Tensor<4> {
    Tensor::from_data(
        TensorData::new(fixture_input(2, size), [2, 3, size, size]),
        device,
    )
}

#[test]
fn torchvision_weights_export_under_torchvisions_names_and_keep_pytorchs_logits() {
    let fixture: Value =
        serde_json::from_str(&std::fs::read_to_string(fixture_dir().join("logits.json")).unwrap())
            .unwrap();
    let device = Device::flex();
    for (file, batch_norm) in [("vgg11-w16.pth", false), ("vgg11_bn-w16.pth", true)] {
        let dir = tempfile::tempdir().unwrap();
        let cfg = fixture_config(dir.path(), batch_norm);
        let out_file = dir.path().join("vgg11.safetensors");
        let pth = fixture_dir().join(file);
        let out = vgg_train(&[
            "export",
            "--config",
            cfg.to_str().unwrap(),
            "--weights",
            pth.to_str().unwrap(),
            "--out",
            out_file.to_str().unwrap(),
        ]);
        let (stdout, stderr) = text(&out);
        assert!(out.status.success(), "{stdout}\n{stderr}");
        // Exactly the state dict's keys, num_batches_tracked included.
        let mut want = PytorchStore::from_file(&pth)
            .map_indices_contiguous(false)
            .keys()
            .unwrap();
        want.sort();
        let bytes = std::fs::read(&out_file).unwrap();
        let st = safetensors::SafeTensors::deserialize(&bytes).unwrap();
        let mut got: Vec<String> = st.names().into_iter().map(String::from).collect();
        got.sort();
        assert_eq!(got, want, "{file}");
        // Back in through the torchvision loader: PyTorch's logits, for every input size.
        let cases = fixture["cases"].as_array().unwrap();
        for case in cases.iter().filter(|c| c["file"] == file) {
            let size = case["size"].as_u64().unwrap() as usize;
            let vgg = vgg(batch_norm);
            let mut net = vgg.init(&device);
            load_torchvision(&mut net, &vgg, &out_file).unwrap();
            let logits: Vec<f32> = net
                .forward(input(size, &device))
                .into_data()
                .try_into_vec()
                .unwrap();
            let torch: Vec<f64> = case["logits"]
                .as_array()
                .unwrap()
                .iter()
                .flat_map(|row| row.as_array().unwrap().iter().map(|v| v.as_f64().unwrap()))
                .collect();
            let worst = logits
                .iter()
                .zip(&torch)
                .map(|(g, w)| (*g as f64 - w).abs())
                .fold(0.0, f64::max);
            assert!(
                worst < 1e-4,
                "{file} at {size}: max |exported - torch| = {worst}"
            );
        }
        // The description: not a torchvision class (width 1/16), the layers to rebuild it.
        let json: Value = serde_json::from_str(
            &std::fs::read_to_string(out_file.with_extension("json")).unwrap(),
        )
        .unwrap();
        assert_eq!(json["arch"], "A");
        assert!(json["torchvision"].is_null());
        assert_eq!(json["batch_norm"], batch_norm);
        let convs = json["features"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|l| l["type"] == "conv")
            .count();
        assert_eq!(convs, 8);
        assert_eq!(json["check"]["logits"].as_array().unwrap().len(), 2);
    }
}

#[test]
fn a_trained_run_exported_and_evaluated_from_safetensors_gives_the_runs_errors() {
    let tmp = tempfile::tempdir().unwrap();
    let args = tiny_quickstart_args(tmp.path(), &["data.val_limit=128", "data.test_limit=200"]);
    let out = vgg_train_owned(&args);
    assert!(out.status.success(), "{:?}", text(&out));
    let run = tmp.path().join("quickstart");
    let (header, rows) = read_csv(&run.join("results.csv"));
    let trained_err = field(&header, &rows[0], "top1_err").to_string();
    // Export the run's model.bpk (the default weights).
    let config_args: Vec<String> = args
        .iter()
        .filter(|a| a.as_str() != "--plain")
        .cloned()
        .collect();
    let st = tmp.path().join("net.safetensors");
    let mut export = vec!["export".to_string()];
    export.extend(config_args.iter().cloned());
    export.extend(["--out".to_string(), st.display().to_string()]);
    let out = vgg_train_owned(&export);
    let (stdout, stderr) = text(&out);
    assert!(out.status.success(), "{stdout}\n{stderr}");
    assert!(
        stdout.contains("model.bpk") && stdout.contains("export_check.py"),
        "{stdout}"
    );
    // Evaluate the exported file: the same test error as the run's own row.
    let mut eval = vec!["eval".to_string()];
    eval.extend(config_args);
    eval.extend(["--weights".to_string(), st.display().to_string()]);
    let out = vgg_train_owned(&eval);
    let (stdout, stderr) = text(&out);
    assert!(out.status.success(), "{stdout}\n{stderr}");
    assert!(
        stdout.contains(&format!("{trained_err}%"))
            || stdout.contains(&format!("{:.2}%", trained_err.parse::<f64>().unwrap())),
        "run's error {trained_err}%, eval of the export:\n{stdout}"
    );
}

#[test]
fn export_to_an_unwritable_place_or_from_missing_weights_is_one_line() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = fixture_config(dir.path(), false);
    let pth = fixture_dir().join("vgg11-w16.pth");
    // A directory that cannot exist: its parent is a file.
    std::fs::write(dir.path().join("file"), b"").unwrap();
    let blocked = dir.path().join("file/x.safetensors");
    let out = vgg_train(&[
        "export",
        "--config",
        cfg.to_str().unwrap(),
        "--weights",
        pth.to_str().unwrap(),
        "--out",
        blocked.to_str().unwrap(),
    ]);
    assert_clean_failure(&out, 1, &["file/x.safetensors"]);
    let out = vgg_train(&[
        "export",
        "--config",
        cfg.to_str().unwrap(),
        "--out",
        dir.path().join("x.safetensors").to_str().unwrap(),
    ]);
    assert_clean_failure(&out, 1, &["model.bpk"]);
    assert!(!dir.path().join("x.safetensors").exists());
}
