//! Output files of a run: their CSV schemas and atomic writes.
//!
//! Every file is written to a temporary sibling, flushed to disk and renamed over the target,
//! so a crash leaves either the old or the new file, never a torn one.

mod error;
pub mod lock;
mod rows;
mod scales;
mod status;

use std::io::Write;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

pub use error::ResultsError;
pub use rows::{EpochRow, ResultRow};
pub use scales::{BadScales, Scales};
pub use status::Status;

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

/// Adds evaluation rows to a run's `rows`: each replaces the row of the same protocol and
/// scales, or is appended, except that a trained run's own row (its first) stays as training
/// wrote it, with its best epoch and last-epoch errors.
pub fn merge_eval_rows(rows: &mut Vec<ResultRow>, new: impl IntoIterator<Item = ResultRow>) {
    let training = rows
        .first()
        .filter(|r| r.is_from_training())
        .map(|r| (r.protocol, r.scales.clone()));
    for row in new {
        let key = (row.protocol, row.scales.clone());
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
pub fn read_csv<T: for<'de> Deserialize<'de>>(path: &Path) -> Result<Vec<T>, ResultsError> {
    if !path.exists() {
        return Ok(Vec::new());
    }
    let fail = |e: csv::Error| ResultsError::Csv {
        path: path.to_path_buf(),
        message: e.to_string(),
    };
    let mut r = csv::Reader::from_path(path).map_err(fail)?;
    r.deserialize().collect::<Result<Vec<T>, _>>().map_err(fail)
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

/// The commit of the working tree (`-dirty` when it has uncommitted changes), or `unknown`:
/// asked of `git` once per process (the first call, at start-up), so that what a run records
/// is the checkout that started it and a results row costs no process spawn.
pub fn git_commit() -> String {
    static COMMIT: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    COMMIT
        .get_or_init(|| {
            std::process::Command::new("git")
                .args(["describe", "--always", "--dirty", "--abbrev=12"])
                .output()
                .ok()
                .filter(|o| o.status.success())
                .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string())
                .filter(|s| !s.is_empty())
                .unwrap_or_else(|| "unknown".into())
        })
        .clone()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Protocol;

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

    fn result(protocol: Protocol, scales: &str, top1: f64, status: Status) -> ResultRow {
        ResultRow {
            top1_err: top1,
            protocol,
            scales: Scales::parse(scales).unwrap(),
            status,
            ..ResultRow::describing(
                &crate::config::Experiment::default(),
                &crate::model::VggConfig::paper(crate::arch::Arch::A),
                crate::config::DatasetKind::ImageFolder,
                "flex".into(),
            )
        }
    }

    #[test]
    fn evaluation_rows_replace_their_own_kind_but_never_the_training_row() {
        let mut rows = vec![result(Protocol::Center, "256", 30.0, Status::Finished)];
        merge_eval_rows(
            &mut rows,
            [
                result(Protocol::Center, "256", 29.0, Status::Finished),
                result(Protocol::Dense, "256", 28.0, Status::Finished),
            ],
        );
        merge_eval_rows(
            &mut rows,
            [result(Protocol::Dense, "256", 27.5, Status::Finished)],
        );
        let got: Vec<(&str, f64)> = rows
            .iter()
            .map(|r| (r.protocol.name(), r.top1_err))
            .collect();
        assert_eq!(got, vec![("center", 30.0), ("dense", 27.5)]);
        // Rows of a weights file have no training row to keep.
        let mut pretrained = vec![result(Protocol::Center, "256", 31.0, Status::Pretrained)];
        merge_eval_rows(
            &mut pretrained,
            [result(Protocol::Center, "256", 30.5, Status::Pretrained)],
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
