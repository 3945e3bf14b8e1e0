//! The GPU code path, executed: burn's `wgpu` backend (the CubeCL kernels the CUDA backend
//! compiles too) against `flex` on the same small VGGs, weights and batch. Logits, loss, and
//! every parameter after one SGD step agree to 1e-3 relative; a trained run evaluated on wgpu
//! gives flex's error rows. Compiled only with `--features wgpu`, and it needs a Vulkan (or
//! Metal/DX12) device: `scripts/check-wgpu.sh` runs it under Mesa's lavapipe on a CPU-only
//! machine, with autotuning at its minimum (`CUBECL_AUTOTUNE_LEVEL=minimal`).
#![cfg(feature = "wgpu")]

mod util;

use burn::module::Module;
use burn::optim::decay::WeightDecayConfig;
use burn::optim::momentum::MomentumConfig;
use burn::optim::{GradientsParams, ModuleOptimizer, SgdConfig};
use burn::prelude::*;
use util::*;
use vgg_train::arch::Arch;
use vgg_train::config::{Head, Init, Kernels, LrnConfig};
use vgg_train::data::ImageBatch;
use vgg_train::model::{self, Feature, Vgg, VggConfig};

/// A network of each kind: plain 3×3 convs (A), BN between conv and ReLU (A-BN), LRN (A-LRN),
/// 1×1 convs (C), 5×5 convs (B-5x5).
fn networks() -> Vec<(String, VggConfig)> {
    [
        (Arch::A, false),
        (Arch::A, true),
        (Arch::ALrn, false),
        (Arch::C, true),
        (Arch::B5x5, false),
    ]
    .into_iter()
    .map(|(arch, batch_norm)| {
        let cfg = VggConfig {
            arch,
            batch_norm,
            width: 1.0 / 16.0,
            in_channels: 3,
            num_classes: 10,
            head: Head::Compact,
            hidden: 16,
            hidden_layers: 2,
            dropout: 0.0,
            init: Init::Kaiming,
            lrn: LrnConfig::default(),
            kernels: Kernels::Own,
        };
        (format!("{arch} batch_norm={batch_norm}"), cfg)
    })
    .collect()
}

/// Batch 8 of 3×32×32: `sin(0.37 i)` over the flat index, labels 0..7.
fn batch(device: &Device) -> ImageBatch {
    let n = 8 * 3 * 32 * 32;
    let x: Vec<f32> = (0..n).map(|i| (0.37 * i as f64).sin() as f32).collect();
    ImageBatch {
        images: Tensor::from_data(TensorData::new(x, [8, 3, 32, 32]), device),
        targets: Tensor::from_data(TensorData::new((0..8i64).collect::<Vec<_>>(), [8]), device),
    }
}

/// Every float tensor of `model` in module order, and whether it is the bias of a conv that a
/// batch norm follows: BN subtracts the batch mean, so that bias's gradient is zero in exact
/// arithmetic and both backends hold float noise (~1e-7) there, which no relative tolerance
/// can compare.
fn tagged_parameters(model: &Vgg) -> Vec<(bool, Vec<f32>)> {
    let mut out = Vec::new();
    for (i, layer) in model.features.iter().enumerate() {
        let before_bn = matches!(model.features.get(i + 1), Some(Feature::BatchNorm(_)));
        let mut c = Collect(Vec::new());
        layer.visit(&mut c);
        for (k, t) in c.0.into_iter().enumerate() {
            // A conv visits its weight, then its bias.
            out.push((before_bn && matches!(layer, Feature::Conv(_)) && k == 1, t));
        }
    }
    let mut c = Collect(Vec::new());
    model.classifier.visit(&mut c);
    out.extend(c.0.into_iter().map(|t| (false, t)));
    out
}

/// [`assert_tensors_close`] on every tensor but the pre-BN conv biases, which must both stay
/// at noise level.
fn assert_parameters_close(ours: &[(bool, Vec<f32>)], theirs: &[(bool, Vec<f32>)], what: &str) {
    let compared: (Vec<Vec<f32>>, Vec<Vec<f32>>) = ours
        .iter()
        .zip(theirs)
        .filter(|((noise, _), _)| !noise)
        .map(|((_, a), (_, b))| (a.clone(), b.clone()))
        .unzip();
    assert_tensors_close(&compared.0, &compared.1, 1e-3, what);
    for ((noise, a), (_, b)) in ours.iter().zip(theirs) {
        if *noise {
            let largest = a.iter().chain(b).fold(0f32, |m, v| m.max(v.abs()));
            assert!(
                largest < 1e-4,
                "{what}: a pre-BN conv bias moved to {largest}"
            );
        }
    }
}

struct Step {
    logits: Vec<f32>,
    loss: f32,
    after: Vec<(bool, Vec<f32>)>,
}

/// Loads `weights` into `cfg`'s network on `device`: eval-mode logits, then one SGD step
/// (momentum 0.9, weight decay 5e-4) in training mode.
fn one_step(cfg: &VggConfig, weights: &std::path::Path, device: &Device) -> Step {
    let ad = device.clone().autodiff();
    let mut net = cfg.init(&ad);
    model::load_weights_file(&mut net, cfg, weights).unwrap();
    let logits = net
        .valid()
        .forward(batch(device).images)
        .into_data()
        .convert::<f32>()
        .try_into_vec()
        .unwrap();
    let out = net.forward_classification(batch(&ad));
    let loss = out.loss.clone().into_scalar::<f32>();
    let grads = GradientsParams::from_grads(out.loss.backward(), &net);
    let mut optim: ModuleOptimizer = SgdConfig::new()
        .with_momentum(Some(
            MomentumConfig::new().with_momentum(0.9).with_dampening(0.0),
        ))
        .with_weight_decay(Some(WeightDecayConfig::new(5e-4)))
        .init();
    let net = optim.step(0.05, net, grads);
    Step {
        logits,
        loss,
        after: tagged_parameters(&net),
    }
}

#[test]
fn wgpu_computes_flexs_logits_loss_and_sgd_update() {
    let flex = Device::flex();
    let wgpu = Device::wgpu(burn::tensor::DeviceKind::DefaultDevice);
    let dir = tempfile::tempdir().unwrap();
    for (what, cfg) in networks() {
        flex.seed(7);
        let net = cfg.init(&flex);
        // The same weights on both: through the exported (torchvision-named) file.
        let weights = dir.path().join("net.safetensors");
        std::fs::write(
            &weights,
            vgg_train::export::safetensors_bytes(&net).unwrap(),
        )
        .unwrap();
        let t = std::time::Instant::now();
        let f = one_step(&cfg, &weights, &flex);
        let g = one_step(&cfg, &weights, &wgpu);
        eprintln!(
            "{what}: one step on flex and wgpu in {:.1} s",
            t.elapsed().as_secs_f64()
        );
        assert_tensors_close(
            std::slice::from_ref(&g.logits),
            std::slice::from_ref(&f.logits),
            1e-3,
            &format!("{what}: logits"),
        );
        assert!(
            (g.loss - f.loss).abs() <= 1e-3 * f.loss.abs(),
            "{what}: loss {} on wgpu, {} on flex",
            g.loss,
            f.loss
        );
        assert_parameters_close(
            &g.after,
            &f.after,
            &format!("{what}: parameters after one step"),
        );
    }
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
