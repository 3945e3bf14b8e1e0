//! `vgg-train check-device`: the code path of a GPU backend checked against flex, on the machine
//! it runs on, with no cargo and no data.
//!
//! The same small VGGs (A, A-BN, A-LRN, C-BN and B-5x5 at width 1/16, 32×32 input, batch 8) get
//! the same weights and the same batch on flex (vgg-train's own kernels) and on the device
//! (burn's ops): the eval-mode logits, the cross-entropy loss, and every parameter after one SGD
//! step (momentum 0.9, weight decay 5e-4, lr 0.05) must agree to [`TOLERANCE`], measured per
//! tensor as `max |a − b| / max |b|` ([`relative_error`]). `tests/wgpu.rs` runs this code.

use std::time::Instant;

use burn::module::{Module, ModuleVisitor, Param};
use burn::optim::decay::WeightDecayConfig;
use burn::optim::momentum::MomentumConfig;
use burn::optim::{GradientsParams, ModuleOptimizer, SgdConfig};
use burn::prelude::*;
use serde::Serialize;

use crate::arch::Arch;
use crate::config::{Head, Init, Kernels, LrnConfig};
use crate::data::ImageBatch;
use crate::model::{self, Feature, Vgg, VggConfig};

/// The largest relative difference allowed per tensor.
pub const TOLERANCE: f64 = 1e-3;

/// The largest value a pre-BN conv bias may take on either side: BN subtracts the batch mean,
/// so that bias's gradient is zero in exact arithmetic and both backends hold float noise
/// (~1e-7) there, which no relative tolerance can compare.
pub const BN_BIAS_NOISE: f64 = 1e-4;

/// One network's comparison: one row of the check's table and CSV.
#[derive(Debug, Clone, Serialize)]
pub struct Comparison {
    /// Backend checked (`wgpu`, `cuda:0`, …).
    pub device: String,
    /// The device as it names itself, when the backend reports it.
    pub adapter: String,
    /// Network (`A`, `A-BN`, …).
    pub network: String,
    /// Relative difference of the eval-mode logits.
    pub logits_rel_err: f64,
    /// Relative difference of the loss.
    pub loss_rel_err: f64,
    /// Largest relative difference over the parameters after one SGD step.
    pub params_rel_err: f64,
    /// Largest absolute value of a pre-BN conv bias after the step, on either backend.
    pub bn_bias_max_abs: f64,
    /// The tolerance the three relative differences are held to.
    pub tolerance: f64,
    /// Whether every difference is within its bound.
    pub pass: bool,
    /// Seconds for both backends' steps.
    pub seconds: f64,
}

/// `max |ours − theirs| / max |theirs|`, the denominator at least 1e-3 (a tensor of near-zeros
/// is compared absolutely). Tensors of different sizes are infinitely far apart.
pub fn relative_error(ours: &[f32], theirs: &[f32]) -> f64 {
    if ours.len() != theirs.len() {
        return f64::INFINITY;
    }
    let scale = theirs.iter().fold(0f64, |m, v| m.max(v.abs() as f64));
    let worst = ours.iter().zip(theirs).fold(0f64, |m, (a, b)| {
        let d = (*a as f64 - *b as f64).abs();
        if d.is_nan() { f64::INFINITY } else { m.max(d) }
    });
    worst / scale.max(1e-3)
}

/// The networks checked, with their names: plain 3×3 convs (A), BN between conv and ReLU
/// (A-BN), LRN (A-LRN), 1×1 convs (C-BN), 5×5 convs (B-5x5).
pub fn networks() -> Vec<(String, VggConfig)> {
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
        let name = if batch_norm {
            format!("{arch}-BN")
        } else {
            arch.to_string()
        };
        (name, cfg)
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

/// Collects the values of every float tensor a module visits, in order.
struct Collect(Vec<Vec<f32>>);

impl ModuleVisitor for Collect {
    fn visit_float<const D: usize>(&mut self, param: &Param<Tensor<D>>) {
        let values = param
            .val()
            .into_data()
            .convert::<f32>()
            .try_into_vec::<f32>();
        self.0.push(values.unwrap_or_default());
    }
}

/// Every float tensor of `model` in module order, and whether it is the bias of a conv that a
/// batch norm follows (see [`BN_BIAS_NOISE`]).
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

/// What one backend computed for one network.
struct Step {
    logits: Vec<f32>,
    loss: f32,
    after: Vec<(bool, Vec<f32>)>,
}

/// Why one network's step could not be computed on one backend.
#[derive(Debug, thiserror::Error)]
#[error("{network} on {device}: {why}")]
pub struct CheckError {
    /// The network of [`networks`].
    pub network: String,
    /// The backend it ran on (`flex` for the reference).
    pub device: String,
    /// What failed.
    pub why: StepFailure,
}

/// What failed in one network's step.
#[derive(Debug, thiserror::Error)]
pub enum StepFailure {
    /// The shared weights did not load into the backend's network.
    #[error(transparent)]
    Weights(#[from] model::BurnpackError),
    /// The logits could not be read back as f32.
    #[error("reading logits: {0}")]
    Logits(String),
    /// The device did not finish its work.
    #[error("device sync failed: {0}")]
    Sync(String),
}

/// Copies `weights` into `cfg`'s network on `device`: eval-mode logits, then one SGD step
/// (momentum 0.9, weight decay 5e-4) in training mode.
fn one_step(cfg: &VggConfig, weights: &Vgg, device: &Device) -> Result<Step, StepFailure> {
    let ad = device.clone().autodiff();
    let mut net = cfg.init(&ad);
    model::copy_weights(weights, &mut net)?;
    let logits = net
        .valid()
        .forward(batch(device).images)
        .into_data()
        .convert::<f32>()
        .try_into_vec::<f32>()
        .map_err(|e| StepFailure::Logits(format!("{e:?}")))?;
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
    device
        .sync()
        .map_err(|e| StepFailure::Sync(format!("{e:?}")))?;
    Ok(Step {
        logits,
        loss,
        after: tagged_parameters(&net),
    })
}

/// Compares the steps of the reference and the device.
fn compare_steps(reference: &Step, checked: &Step) -> (f64, f64, f64, f64) {
    let logits = relative_error(&checked.logits, &reference.logits);
    let loss = relative_error(&[checked.loss], &[reference.loss]);
    let mut params = if checked.after.len() == reference.after.len() {
        0f64
    } else {
        f64::INFINITY
    };
    let mut bn_bias = 0f64;
    for ((noise, a), (_, b)) in checked.after.iter().zip(&reference.after) {
        if *noise {
            let largest = a.iter().chain(b).fold(0f64, |m, v| m.max(v.abs() as f64));
            bn_bias = bn_bias.max(if largest.is_nan() {
                f64::INFINITY
            } else {
                largest
            });
        } else {
            params = params.max(relative_error(a, b));
        }
    }
    (logits, loss, params, bn_bias)
}

/// Runs every network of [`networks`] on `reference` (with vgg-train's kernels) and on
/// `device` (with burn's ops), from the same weights, and compares them. `device_name` and
/// `adapter` label the rows.
pub fn compare(
    reference: &Device,
    device: &Device,
    device_name: &str,
    adapter: &str,
) -> Result<Vec<Comparison>, CheckError> {
    let mut rows = Vec::new();
    for (name, cfg) in networks() {
        reference.seed(7);
        let weights = cfg.init(reference);
        let started = Instant::now();
        let failed = |device: &str| {
            let (network, device) = (name.clone(), device.to_string());
            move |why| CheckError {
                network,
                device,
                why,
            }
        };
        let ours = one_step(&cfg, &weights, reference).map_err(failed("flex"))?;
        let theirs_cfg = VggConfig {
            kernels: Kernels::Burn,
            ..cfg.clone()
        };
        let theirs = one_step(&theirs_cfg, &weights, device).map_err(failed(device_name))?;
        let (logits, loss, params, bn_bias) = compare_steps(&ours, &theirs);
        rows.push(Comparison {
            device: device_name.to_string(),
            adapter: adapter.to_string(),
            network: name,
            logits_rel_err: logits,
            loss_rel_err: loss,
            params_rel_err: params,
            bn_bias_max_abs: bn_bias,
            tolerance: TOLERANCE,
            pass: logits <= TOLERANCE
                && loss <= TOLERANCE
                && params <= TOLERANCE
                && bn_bias <= BN_BIAS_NOISE,
            seconds: started.elapsed().as_secs_f64(),
        });
    }
    Ok(rows)
}

/// The rows as an aligned text table, one line per network, with PASS or FAIL.
pub fn render(rows: &[Comparison]) -> String {
    let mut out = format!(
        "{:<8} {:>12} {:>12} {:>12} {:>12} {:>8} {:>6}\n",
        "network", "logits", "loss", "params", "BN bias", "seconds", "result"
    );
    for r in rows {
        out.push_str(&format!(
            "{:<8} {:>12.2e} {:>12.2e} {:>12.2e} {:>12.2e} {:>8.1} {:>6}\n",
            r.network,
            r.logits_rel_err,
            r.loss_rel_err,
            r.params_rel_err,
            r.bn_bias_max_abs,
            r.seconds,
            if r.pass { "PASS" } else { "FAIL" }
        ));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn relative_error_is_scaled_by_the_reference_and_catches_nan() {
        assert_eq!(relative_error(&[1.0, 2.0], &[1.0, 2.0]), 0.0);
        assert!((relative_error(&[1.0, 2.002], &[1.0, 2.0]) - 1e-3).abs() < 1e-6);
        // Near-zero references are compared absolutely (denominator 1e-3).
        assert!((relative_error(&[1e-6], &[0.0]) - 1e-3).abs() < 1e-9);
        assert_eq!(relative_error(&[f32::NAN], &[1.0]), f64::INFINITY);
        assert_eq!(relative_error(&[1.0], &[1.0, 2.0]), f64::INFINITY);
    }

    #[test]
    fn the_check_covers_every_kind_of_layer() {
        let names: Vec<String> = networks().into_iter().map(|(n, _)| n).collect();
        assert_eq!(names, ["A", "A-BN", "A-LRN", "C-BN", "B-5x5"]);
    }

    /// On flex itself the check compares vgg-train's kernels with burn's ops: every row passes,
    /// and a perturbed weight makes the rows fail.
    #[test]
    fn flex_against_flex_passes_and_a_changed_step_fails() {
        let flex = Device::flex();
        let rows = compare(&flex, &flex, "flex", "cpu").unwrap();
        assert_eq!(rows.len(), 5);
        for r in &rows {
            assert!(r.pass, "{r:?}");
        }
        let (_, cfg) = networks().remove(0);
        flex.seed(7);
        let weights = cfg.init(&flex);
        let a = one_step(&cfg, &weights, &flex).unwrap();
        let mut b = one_step(&cfg, &weights, &flex).unwrap();
        b.logits[0] += 0.01 * b.logits.iter().fold(0f32, |m, v| m.max(v.abs()));
        b.after[0].1[3] *= 1.01;
        let (logits, _, params, _) = compare_steps(&a, &b);
        assert!(logits > TOLERANCE && params > 0.0, "{logits} {params}");
    }
}
