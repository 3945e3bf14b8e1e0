//! The GPU code path, executed: burn's `wgpu` backend (the CubeCL kernels the CUDA backend
//! compiles too) against `flex` on the same small VGGs, weights and batch (`vgg-train
//! check-device`, whose code these tests share). Logits, loss, and every parameter after one
//! SGD step agree to 1e-3 relative; a trained run evaluated on wgpu gives flex's error rows.
//! Compiled only with `--features wgpu`, and it needs a Vulkan (or Metal/DX12) device:
//! `scripts/check-wgpu.sh` runs it under Mesa's lavapipe on a CPU-only machine, with
//! autotuning at its minimum (`CUBECL_AUTOTUNE_LEVEL=minimal`).
#![cfg(feature = "wgpu")]

mod util;

use burn::prelude::*;
use util::*;
use vgg_train::device_check;

/// `vgg-train check-device`'s comparison, run in-process: A, A-BN, A-LRN, C-BN and B-5x5 give
/// flex's logits, loss and parameters after one SGD step to 1e-3 relative.
#[test]
fn wgpu_computes_flexs_logits_loss_and_sgd_update() {
    let wgpu = Device::wgpu(burn::tensor::DeviceKind::DefaultDevice);
    let rows = device_check::compare(&Device::flex(), &wgpu, "wgpu", "default").unwrap();
    eprint!("{}", device_check::render(&rows));
    assert_eq!(rows.len(), 5);
    for r in &rows {
        assert!(r.pass, "{r:?}");
    }
}

/// The command itself: adapters listed, a table of five PASS rows, exit status 0.
#[test]
fn check_device_command_prints_the_adapter_and_passes() {
    let tmp = tempfile::tempdir().unwrap();
    let csv = tmp.path().join("check.csv");
    let out = vgg_train(&[
        "check-device",
        "--device",
        "wgpu",
        "--out",
        csv.to_str().unwrap(),
    ]);
    let (stdout, stderr) = text(&out);
    assert!(out.status.success(), "{stdout}\n{stderr}");
    assert!(stdout.contains("wgpu adapter: "), "{stdout}");
    assert_eq!(stdout.matches(" PASS").count(), 5, "{stdout}");
    let (_, rows) = read_csv(&csv);
    assert_eq!(rows.len(), 5);
}

#[test]
fn eval_of_a_trained_run_on_wgpu_gives_flexs_error_rows() {
    let tmp = tempfile::tempdir().unwrap();
    let args = tiny_quickstart_args(tmp.path(), &["data.val_limit=64", "data.test_limit=64"]);
    let out = vgg_train_owned(&args);
    assert!(out.status.success(), "{:?}", text(&out));
    let eval_on = |device: &str| -> String {
        let mut eval = vec!["eval".to_string()];
        eval.extend(args.iter().filter(|a| a.as_str() != "--plain").cloned());
        eval.extend([
            "--set".to_string(),
            format!("run.device={device:?}"),
            "--set".to_string(),
            "eval.protocols=[\"center\", \"dense\"]".to_string(),
        ]);
        let out = vgg_train_owned(&eval);
        let (stdout, stderr) = text(&out);
        assert!(out.status.success(), "{device}: {stdout}\n{stderr}");
        // The table rows: protocol, scales, top-1, top-5.
        stdout
            .lines()
            .filter(|l| l.starts_with("center") || l.starts_with("dense"))
            .collect::<Vec<_>>()
            .join("\n")
    };
    let flex = eval_on("flex");
    let wgpu = eval_on("wgpu");
    assert!(flex.lines().count() == 2, "{flex}");
    assert_eq!(wgpu, flex, "eval on wgpu vs flex");
}
