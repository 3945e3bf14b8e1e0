//! The rows of `metrics.csv` and `results.csv`, with floats written to a fixed precision so that
//! the files diff cleanly.

use serde::{Deserialize, Serialize};

use super::{BUILD_COMMIT, Scales, Status, git_commit};
use crate::arch::Arch;
use crate::config::{DatasetKind, Precision, Protocol};

/// Serialises a float rounded to 4 decimals (errors, losses), so that files diff cleanly.
fn round4<S: serde::Serializer>(v: &f64, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_f64(round_to(*v, 4))
}

/// [`round4`] for an optional value (empty when absent).
fn round4_opt<S: serde::Serializer>(v: &Option<f64>, s: S) -> Result<S::Ok, S::Error> {
    match v {
        Some(v) => s.serialize_some(&round_to(*v, 4)),
        None => s.serialize_none(),
    }
}

/// Serialises a float rounded to 2 decimals (seconds, images per second).
fn round2<S: serde::Serializer>(v: &f64, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_f64(round_to(*v, 2))
}

/// Serialises a float to 6 significant digits (learning rates, which span decades).
fn significant6<S: serde::Serializer>(v: &f64, s: S) -> Result<S::Ok, S::Error> {
    let v = if *v == 0.0 || !v.is_finite() {
        *v
    } else {
        let digits = 5 - v.abs().log10().floor() as i32;
        round_to(*v, digits)
    };
    s.serialize_f64(v)
}

/// `v` rounded to `decimals` decimal places (negative: to tens, hundreds, …).
fn round_to(v: f64, decimals: i32) -> f64 {
    if !v.is_finite() {
        return v;
    }
    let scale = 10f64.powi(decimals);
    let r = (v * scale).round() / scale;
    // Parse the shortest form back so that, say, 16.6 is stored as the float nearest 16.6.
    format!("{r:.prec$}", prec = decimals.max(0) as usize)
        .parse()
        .unwrap_or(r)
}

/// One row of `metrics.csv`: one epoch. Errors are percentages; top-5 columns are empty for
/// data sets of fewer than 5 classes.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EpochRow {
    /// Epoch, from 1.
    pub epoch: usize,
    /// Mean learning rate over the epoch's steps.
    #[serde(serialize_with = "significant6")]
    pub lr: f64,
    /// Mean training loss.
    #[serde(serialize_with = "round4")]
    pub train_loss: f64,
    /// Training top-1 error, %.
    #[serde(serialize_with = "round4")]
    pub train_top1_err: f64,
    /// Training top-5 error, %.
    #[serde(serialize_with = "round4_opt", default)]
    pub train_top5_err: Option<f64>,
    /// Mean validation loss.
    #[serde(serialize_with = "round4")]
    pub val_loss: f64,
    /// Validation top-1 error, %.
    #[serde(serialize_with = "round4")]
    pub val_top1_err: f64,
    /// Validation top-5 error, %.
    #[serde(serialize_with = "round4_opt", default)]
    pub val_top5_err: Option<f64>,
    /// Wall time of the epoch (training and validation), seconds.
    #[serde(serialize_with = "round2")]
    pub epoch_seconds: f64,
    /// Training throughput, images per second.
    #[serde(serialize_with = "round2")]
    pub train_img_s: f64,
}

/// One row of `results.csv`: one finished run (its first row), or one test protocol.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ResultRow {
    /// Run name.
    pub name: String,
    /// Paper configuration.
    pub arch: Arch,
    /// BN after every conv.
    pub batch_norm: bool,
    /// Channel multiplier.
    pub width: f64,
    /// Data set.
    pub dataset: DatasetKind,
    /// Network input side.
    pub image_size: usize,
    /// Epochs run.
    pub epochs: usize,
    /// Seed.
    pub seed: u64,
    /// Trainable parameters.
    pub params: usize,
    /// **Test** top-1 error of the model chosen on validation (the best epoch), %.
    #[serde(serialize_with = "round4")]
    pub top1_err: f64,
    /// Test top-5 error of that model, %; empty for fewer than 5 classes.
    #[serde(serialize_with = "round4_opt", default)]
    pub top5_err: Option<f64>,
    /// Validation top-1 error at the best epoch, %; empty on evaluation rows.
    #[serde(serialize_with = "round4_opt", default)]
    pub val_top1_err: Option<f64>,
    /// Validation top-5 error at the best epoch, %.
    #[serde(serialize_with = "round4_opt", default)]
    pub val_top5_err: Option<f64>,
    /// Epoch with the lowest validation top-1 error.
    pub best_epoch: usize,
    /// Wall time of the whole run (all sessions, when resumed), seconds.
    #[serde(serialize_with = "round2")]
    pub wall_seconds: f64,
    /// Device the run trained on.
    pub device: String,
    /// Commit of the checkout that ran (`git describe` at start-up; `unknown` outside a git
    /// checkout).
    pub git_commit: String,
    /// How the run ended: `finished`, `stopped` (plateau schedule done), `stalled` or
    /// `diverged`; `pretrained` for rows of weights the run did not train.
    pub status: Status,
    /// Validation top-1 error after the last epoch, %.
    #[serde(serialize_with = "round4")]
    pub final_top1_err: f64,
    /// Validation top-5 error after the last epoch, %.
    #[serde(serialize_with = "round4_opt", default)]
    pub final_top5_err: Option<f64>,
    /// Training images used.
    pub train_images: usize,
    /// Validation images used (held out of the training set, or the test images).
    pub val_images: usize,
    /// Test images the error columns are measured on.
    #[serde(default)]
    pub test_images: usize,
    /// Distinct unreadable images skipped (image folders).
    #[serde(default)]
    pub bad_images: usize,
    /// Test protocol of the error columns: `center` for the training run's own row, or one of
    /// `eval.protocols` (`dense`, `multi-scale`, `multi-crop`, `multi-crop+dense`).
    #[serde(default = "center")]
    pub protocol: Protocol,
    /// Test scales Q of the protocol, space-separated (`256` or `256 384 512`); empty in
    /// files written before this column existed.
    #[serde(default)]
    pub scales: Scales,
    /// Float precision of training (`run.precision`).
    #[serde(default = "f32")]
    pub precision: Precision,
    /// Commit the binary was built from (embedded at build time; `-dirty` for a modified
    /// tree), which survives an installed binary run outside the checkout.
    #[serde(default)]
    pub build_commit: String,
    /// The CPU's model name (the CPU backends' results depend on it, and so does the speed);
    /// empty in files written before this column existed.
    #[serde(default)]
    pub cpu: String,
    /// The vector instructions vgg-train's flex kernels chose on that CPU (`avx512`, `avx2`,
    /// `x86_64`): runs reproduce bit for bit only on the same build and ISA.
    #[serde(default)]
    pub isa: String,
}

fn f32() -> Precision {
    Precision::F32
}

fn center() -> Protocol {
    Protocol::Center
}

impl ResultRow {
    /// A row describing `exp`'s network on `dataset` (name, configuration, size, seed,
    /// precision, commit), its measurements still empty (NaN errors, zero counts, status
    /// `finished`): the training run and `vgg-train eval --weights` fill them in.
    pub fn describing(
        exp: &crate::config::Experiment,
        vgg: &crate::model::VggConfig,
        dataset: DatasetKind,
        device: String,
    ) -> ResultRow {
        ResultRow {
            name: exp.name.clone(),
            arch: vgg.arch,
            batch_norm: vgg.batch_norm,
            width: vgg.width,
            dataset,
            image_size: exp.data.image_size,
            epochs: 0,
            seed: exp.train.seed,
            params: crate::model::summary::param_count(vgg),
            top1_err: f64::NAN,
            top5_err: None,
            val_top1_err: None,
            val_top5_err: None,
            best_epoch: 0,
            wall_seconds: 0.0,
            device,
            git_commit: git_commit(),
            status: Status::Finished,
            final_top1_err: f64::NAN,
            final_top5_err: None,
            train_images: 0,
            val_images: 0,
            test_images: 0,
            bad_images: 0,
            protocol: center(),
            scales: Scales::default(),
            precision: exp.run.precision,
            build_commit: BUILD_COMMIT.into(),
            cpu: crate::util::cpu_model(),
            isa: vgg_kernels::isa().into(),
        }
    }

    /// Whether the row measures weights this run trained (not `eval --weights`).
    pub fn is_from_training(&self) -> bool {
        self.status != Status::Pretrained
    }

    /// Whether the run failed to train (stalled at chance or diverged): its error is no
    /// sample of what the recipe reaches, so reports count it apart instead of averaging it.
    pub fn failed_to_train(&self) -> bool {
        self.status.failed()
    }
}
