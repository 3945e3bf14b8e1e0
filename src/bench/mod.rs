//! `vgg-train bench`: training-step and inference throughput of a config's network on its
//! device, on synthetic data (no loader), timed step by step after a warm-up.
//!
//! A training step is what the Learner does per batch: forward, cross-entropy, backward, SGD
//! with momentum and weight decay. Each step ends with a device sync, so asynchronous backends
//! are timed fully.

pub mod data;
pub mod peak;

use std::time::Instant;

use burn::optim::decay::WeightDecayConfig;
use burn::optim::momentum::MomentumConfig;
use burn::optim::{GradientsParams, SgdConfig};
use burn::prelude::*;
use burn::tensor::{Distribution, TensorData};
use serde::Serialize;

use crate::arch::Arch;
use crate::config::Experiment;
use crate::data::ImageBatch;
use crate::model::{VggConfig, summary};
use crate::util::mean_std;

/// How long to measure.
#[derive(Debug, Clone, Copy)]
pub struct BenchOptions {
    /// Untimed steps first (allocator, autotune, caches).
    pub warmup: usize,
    /// Timed steps.
    pub steps: usize,
}

/// One CSV row of `vgg-train bench`.
#[derive(Debug, Clone, Serialize)]
pub struct BenchRow {
    /// Configuration.
    pub arch: String,
    /// Channel multiplier.
    pub width: f64,
    /// Input side.
    pub image_size: usize,
    /// Images per step.
    pub batch: usize,
    /// Device.
    pub device: String,
    /// Float precision.
    pub precision: String,
    /// Training images/s, mean over timed steps.
    pub train_img_s: f64,
    /// Standard deviation of the per-step training images/s.
    pub train_img_s_std: f64,
    /// Inference images/s, mean over timed steps.
    pub infer_img_s: f64,
    /// Standard deviation of the per-step inference images/s.
    pub infer_img_s_std: f64,
    /// Trainable parameters.
    pub params: usize,
    /// Multiply-accumulates per image (forward), in billions.
    pub gmacs: f64,
    /// Achieved training GFLOP/s, counting a step as 3 forward passes of 2 FLOPs per MAC.
    pub train_gflop_s: f64,
    /// The device as it names itself (`NVIDIA H200`, a lavapipe build), or the device string.
    pub adapter: String,
    /// Seconds of the untimed warm-up steps, training and inference together: kernel
    /// compilation and autotuning on a GPU backend.
    pub warmup_s: f64,
    /// Compute threads (rayon pool) of the CPU backends.
    pub threads: usize,
    /// Host and CPU.
    pub host: String,
    /// Conv/ReLU/pool implementation (`run.kernels`: `own` or `burn`).
    pub kernels: String,
}

/// The host name and CPU model, for the `host` column.
pub fn host_description() -> String {
    let host = std::fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|s| s.trim().to_string())
        .unwrap_or_else(|_| "unknown".into());
    let cpu = crate::util::cpu_model();
    format!(
        "{host} ({cpu}, {} cores)",
        std::thread::available_parallelism()
            .map(|n| n.get())
            .unwrap_or(1)
    )
}

fn synthetic_batch(n: usize, c: usize, s: usize, classes: usize, device: &Device) -> ImageBatch {
    let images = Tensor::random([n, c, s, s], Distribution::Normal(0.0, 1.0), device);
    let labels: Vec<i64> = (0..n).map(|i| (i % classes) as i64).collect();
    let targets = Tensor::from_data(TensorData::new(labels, [n]), device);
    ImageBatch { images, targets }
}

/// Why a benchmark could not run.
#[derive(Debug, thiserror::Error)]
pub enum BenchError {
    /// The device of `run.device` could not be opened.
    #[error("run.device: {0}")]
    Device(#[from] crate::device::DeviceError),
    /// The device failed to finish its queued work.
    #[error("device sync failed: {0}")]
    Sync(String),
}

fn sync(device: &Device) -> Result<(), BenchError> {
    device
        .sync()
        .map_err(|e| BenchError::Sync(format!("{e:?}")))
}

/// The seconds of the warm-up steps, and the images/s of each timed step of `step`.
fn time_steps(
    opts: BenchOptions,
    batch: usize,
    device: &Device,
    mut step: impl FnMut(),
) -> Result<(f64, Vec<f64>), BenchError> {
    let warm = Instant::now();
    for _ in 0..opts.warmup {
        step();
        sync(device)?;
    }
    let warmup_s = warm.elapsed().as_secs_f64();
    let mut rates = Vec::with_capacity(opts.steps);
    for _ in 0..opts.steps {
        let t = Instant::now();
        step();
        sync(device)?;
        rates.push(batch as f64 / t.elapsed().as_secs_f64());
    }
    Ok((warmup_s, rates))
}

/// Benchmarks `exp`'s network (with `arch` instead of the configured one, when given).
pub fn bench(
    exp: &Experiment,
    arch: Option<Arch>,
    opts: BenchOptions,
) -> Result<BenchRow, BenchError> {
    let (spec, device) = crate::device::open(&exp.run)?;
    let mut vgg = VggConfig::from_experiment(exp, exp.data.channels, crate::data::num_classes(exp));
    let classes = vgg.num_classes;
    if let Some(a) = arch {
        vgg.arch = a;
    }
    let (n, s, c) = (exp.train.batch_size, exp.data.image_size, exp.data.channels);
    device.seed(exp.train.seed);

    // Training: forward, loss, backward, SGD step.
    let ad = device.clone().autodiff();
    let mut model = vgg.init(&ad);
    let t = &exp.train;
    let mut optim = SgdConfig::new()
        .with_momentum((t.momentum > 0.0).then(|| {
            MomentumConfig::new()
                .with_momentum(t.momentum)
                .with_dampening(0.0)
        }))
        .with_weight_decay(
            (t.weight_decay > 0.0).then(|| WeightDecayConfig::new(t.weight_decay as f32)),
        )
        .init();
    let batch = synthetic_batch(n, c, s, classes, &ad);
    let (train_warmup, train) = time_steps(opts, n, &device, || {
        let item = model.forward_classification(batch.clone());
        let grads = GradientsParams::from_grads(item.loss.backward(), &model);
        model = optim.step(t.lr, model.clone(), grads);
    })?;

    // Inference: the same network in eval mode, no autodiff.
    let eval = model.valid();
    let images = synthetic_batch(n, c, s, classes, &device).images;
    let (infer_warmup, infer) = time_steps(opts, n, &device, || {
        let _ = eval.forward(images.clone());
    })?;

    let (train_img_s, train_std) = mean_std(&train);
    let (infer_img_s, infer_std) = mean_std(&infer);
    let macs = summary::macs(&vgg, s) as f64;
    Ok(BenchRow {
        arch: vgg.arch.name().into(),
        width: vgg.width,
        image_size: s,
        batch: n,
        device: spec.name(),
        precision: exp.run.precision.name().into(),
        kernels: exp.run.kernels.name().into(),
        train_img_s,
        train_img_s_std: train_std.unwrap_or(0.0),
        infer_img_s,
        infer_img_s_std: infer_std.unwrap_or(0.0),
        params: summary::param_count(&vgg),
        gmacs: macs / 1e9,
        train_gflop_s: train_img_s * macs * 2.0 * 3.0 / 1e9,
        adapter: crate::device::adapter_name(spec, &device),
        warmup_s: train_warmup + infer_warmup,
        threads: rayon::current_num_threads(),
        host: host_description(),
    })
}
