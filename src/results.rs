//! Output files of a run: their CSV schemas and atomic writes.
//!
//! Every file is written to a temporary sibling, flushed to disk and renamed over the target,
//! so a crash leaves either the old or the new file, never a torn one.

use std::io::Write;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

/// Writes `bytes` to `path` atomically: temp file in the same directory, fsync, rename.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    let dir = path
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    std::fs::create_dir_all(dir)?;
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| "out".into());
    let tmp = dir.join(format!(".{name}.{}.tmp", std::process::id()));
    let result = (|| {
        let mut f = std::fs::File::create(&tmp)?;
        f.write_all(bytes)?;
        f.sync_all()?;
        std::fs::rename(&tmp, path)?;
        // Make the rename itself durable.
        if let Ok(d) = std::fs::File::open(dir) {
            let _ = d.sync_all();
        }
        Ok(())
    })();
    if result.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    result
}

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
    pub arch: String,
    /// BN after every conv.
    pub batch_norm: bool,
    /// Channel multiplier.
    pub width: f64,
    /// Data set.
    pub dataset: String,
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
    /// `finished`, `stopped` (plateau schedule done), `stalled` or `diverged`.
    pub status: String,
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
    pub protocol: String,
    /// Test scales Q of the protocol, space-separated (`256` or `256 384 512`); empty in
    /// files written before this column existed.
    #[serde(default)]
    pub scales: String,
    /// Float precision of training (`run.precision`).
    #[serde(default = "f32")]
    pub precision: String,
    /// Commit the binary was built from (embedded at build time; `-dirty` for a modified
    /// tree), which survives an installed binary run outside the checkout.
    #[serde(default)]
    pub build_commit: String,
}

fn f32() -> String {
    "f32".into()
}

fn center() -> String {
    "center".into()
}

impl ResultRow {
    /// A row describing `exp`'s network on `dataset` (name, configuration, size, seed,
    /// precision, commit), its measurements still empty (NaN errors, zero counts): the
    /// training run and `vgg-train eval --weights` fill them in.
    pub fn describing(
        exp: &crate::config::Experiment,
        vgg: &crate::model::VggConfig,
        dataset: &str,
        device: String,
    ) -> ResultRow {
        ResultRow {
            name: exp.name.clone(),
            arch: vgg.arch.name().into(),
            batch_norm: vgg.batch_norm,
            width: vgg.width,
            dataset: dataset.into(),
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
            status: String::new(),
            final_top1_err: f64::NAN,
            final_top5_err: None,
            train_images: 0,
            val_images: 0,
            test_images: 0,
            bad_images: 0,
            protocol: center(),
            scales: String::new(),
            precision: exp.run.precision.name().into(),
            build_commit: BUILD_COMMIT.into(),
        }
    }

    /// Whether the row measures weights this run trained (not `eval --weights`).
    pub fn is_from_training(&self) -> bool {
        self.status != STATUS_PRETRAINED
    }
}

/// `status` of rows measured on weights that were not trained by this run (`--weights`).
pub const STATUS_PRETRAINED: &str = "pretrained";

/// Adds evaluation rows to a run's `rows`: each replaces the row of the same protocol and
/// scales, or is appended, except that a trained run's own row (its first) stays as training
/// wrote it, with its best epoch and last-epoch errors.
pub fn merge_eval_rows(rows: &mut Vec<ResultRow>, new: impl IntoIterator<Item = ResultRow>) {
    let training = rows
        .first()
        .filter(|r| r.is_from_training())
        .map(|r| (r.protocol.clone(), r.scales.clone()));
    for row in new {
        let key = (row.protocol.clone(), row.scales.clone());
        if training.as_ref() == Some(&key) {
            continue;
        }
        match rows
            .iter_mut()
            .find(|r| (&r.protocol, &r.scales) == (&key.0, &key.1))
        {
            Some(r) => *r = row,
            None => rows.push(row),
        }
    }
}

/// Serialises rows as CSV with a header.
pub fn to_csv<T: Serialize>(rows: &[T]) -> Result<Vec<u8>, csv::Error> {
    let mut w = csv::Writer::from_writer(Vec::new());
    for r in rows {
        w.serialize(r)?;
    }
    w.into_inner().map_err(|e| csv::Error::from(e.into_error()))
}

/// Reads CSV rows written by [`to_csv`]; a missing file is an empty list.
pub fn read_csv<T: for<'de> Deserialize<'de>>(path: &Path) -> Result<Vec<T>, String> {
    if !path.exists() {
        return Ok(Vec::new());
    }
    let mut r = csv::Reader::from_path(path).map_err(|e| format!("{}: {e}", path.display()))?;
    r.deserialize()
        .collect::<Result<Vec<T>, _>>()
        .map_err(|e| format!("{}: {e}", path.display()))
}

/// Atomically writes `rows` as CSV to `path`.
pub fn write_csv<T: Serialize>(path: &Path, rows: &[T]) -> std::io::Result<()> {
    let bytes = to_csv(rows).map_err(std::io::Error::other)?;
    write_atomic(path, &bytes)
}

/// Files of one run directory.
#[derive(Debug, Clone)]
pub struct RunPaths {
    /// The directory itself.
    pub dir: PathBuf,
}

impl RunPaths {
    /// Paths under `dir`.
    pub fn new(dir: impl Into<PathBuf>) -> Self {
        Self { dir: dir.into() }
    }
    /// The resolved config.
    pub fn config(&self) -> PathBuf {
        self.dir.join("config.toml")
    }
    /// Per-epoch metrics.
    pub fn metrics(&self) -> PathBuf {
        self.dir.join("metrics.csv")
    }
    /// The final row.
    pub fn results(&self) -> PathBuf {
        self.dir.join("results.csv")
    }
    /// Per-epoch checkpoints.
    pub fn checkpoints(&self) -> PathBuf {
        self.dir.join("checkpoint")
    }
    /// The best model's weights (burnpack).
    pub fn best_model(&self) -> PathBuf {
        self.dir.join("model.bpk")
    }
    /// burn-train's own logs.
    pub fn logs(&self) -> PathBuf {
        self.dir.join("logs")
    }
}

/// The commit this binary was built from (`git describe --always --dirty`), or `unknown`.
pub const BUILD_COMMIT: &str = env!("VGG_TRAIN_BUILD_COMMIT");

/// The commit of the working tree (`-dirty` when it has uncommitted changes), or `unknown`.
pub fn git_commit() -> String {
    std::process::Command::new("git")
        .args(["describe", "--always", "--dirty", "--abbrev=12"])
        .output()
        .ok()
        .filter(|o| o.status.success())
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string())
        .filter(|s| !s.is_empty())
        .unwrap_or_else(|| "unknown".into())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(epoch: usize) -> EpochRow {
        EpochRow {
            epoch,
            lr: 0.01,
            train_loss: 1.5,
            train_top1_err: 50.0,
            train_top5_err: Some(10.0),
            val_loss: 1.2,
            val_top1_err: 40.0,
            val_top5_err: Some(5.0),
            epoch_seconds: 3.0,
            train_img_s: 100.0,
        }
    }

    #[test]
    fn metrics_csv_has_the_documented_header_and_round_trips() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("m.csv");
        write_csv(&p, &[row(1), row(2)]).unwrap();
        let text = std::fs::read_to_string(&p).unwrap();
        assert!(text.starts_with(
            "epoch,lr,train_loss,train_top1_err,train_top5_err,val_loss,val_top1_err,val_top5_err,epoch_seconds,train_img_s\n"
        ));
        assert_eq!(read_csv::<EpochRow>(&p).unwrap(), vec![row(1), row(2)]);
    }

    #[test]
    fn floats_are_written_rounded_and_absent_top5_is_empty() {
        let r = EpochRow {
            lr: 0.001234567,
            train_loss: 1.234567891,
            train_top1_err: 16.599999999999994,
            train_top5_err: None,
            epoch_seconds: 12.345678,
            ..row(1)
        };
        let text = String::from_utf8(to_csv(&[r]).unwrap()).unwrap();
        let line = text.lines().nth(1).unwrap();
        assert_eq!(line, "1,0.00123457,1.2346,16.6,,1.2,40.0,5.0,12.35,100.0");
    }

    #[test]
    fn atomic_write_replaces_and_leaves_no_temp_file() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("f.txt");
        write_atomic(&p, b"one").unwrap();
        write_atomic(&p, b"two").unwrap();
        assert_eq!(std::fs::read(&p).unwrap(), b"two");
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 1);
    }

    fn result(protocol: &str, scales: &str, top1: f64, status: &str) -> ResultRow {
        ResultRow {
            top1_err: top1,
            protocol: protocol.into(),
            scales: scales.into(),
            status: status.into(),
            ..ResultRow::describing(
                &crate::config::Experiment::default(),
                &crate::model::VggConfig::paper(crate::model::arch::Arch::A),
                "image-folder",
                "flex".into(),
            )
        }
    }

    #[test]
    fn evaluation_rows_replace_their_own_kind_but_never_the_training_row() {
        let mut rows = vec![result("center", "256", 30.0, "finished")];
        merge_eval_rows(
            &mut rows,
            [
                result("center", "256", 29.0, "finished"),
                result("dense", "256", 28.0, "finished"),
            ],
        );
        merge_eval_rows(&mut rows, [result("dense", "256", 27.5, "finished")]);
        let got: Vec<(&str, f64)> = rows
            .iter()
            .map(|r| (r.protocol.as_str(), r.top1_err))
            .collect();
        assert_eq!(got, vec![("center", 30.0), ("dense", 27.5)]);
        // Rows of a weights file have no training row to keep.
        let mut pretrained = vec![result("center", "256", 31.0, STATUS_PRETRAINED)];
        merge_eval_rows(
            &mut pretrained,
            [result("center", "256", 30.5, STATUS_PRETRAINED)],
        );
        assert_eq!(pretrained[0].top1_err, 30.5);
    }

    #[test]
    fn missing_csv_reads_as_empty() {
        assert!(
            read_csv::<EpochRow>(Path::new("/nonexistent/x.csv"))
                .unwrap()
                .is_empty()
        );
    }
}
