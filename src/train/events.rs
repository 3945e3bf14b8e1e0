//! The run's TensorBoard event files (`<run dir>/tensorboard/`, `run.tensorboard`): the
//! resolved config as text at step 0, every epoch's `metrics.csv` values as scalars (step =
//! epoch), the training loss of every [`BATCH_LOSS_POINTS`]-th of an epoch's batches
//! (`train/batch_loss`, step = global batch), and the test errors of the chosen epoch's model
//! at the end.
//!
//! Each session writes a new file (a killed one may have cut its last record) and first writes
//! whatever the run's files lack of the epochs `metrics.csv` already holds, so a killed and
//! resumed run ends with every value exactly once, as an uninterrupted run does. Values are
//! written as `metrics.csv` rounds them, so the two always agree.

use std::collections::HashSet;
use std::path::Path;

use crate::results::EpochRow;
use crate::tensorboard::{self, EventWriter, TENSORBOARD_DIR, TensorBoardError, wall_time_now};

/// About this many points per epoch of `train/batch_loss`: a long run stays small (the paper's
/// 74 epochs give about 1,500 points), a short one still shows the curve within an epoch.
pub const BATCH_LOSS_POINTS: usize = 20;

/// The text tag of the resolved config.
const CONFIG_TAG: &str = "config";

/// The scalars of one epoch: TensorBoard tag and value (`None`: not measured, such as top-5
/// error with fewer than 5 classes).
fn epoch_scalars(row: &EpochRow) -> [(&'static str, Option<f64>); 8] {
    [
        ("train/loss", Some(row.train_loss)),
        ("train/top1_err", Some(row.train_top1_err)),
        ("train/top5_err", row.train_top5_err),
        ("val/loss", Some(row.val_loss)),
        ("val/top1_err", Some(row.val_top1_err)),
        ("val/top5_err", row.val_top5_err),
        ("lr", Some(row.lr)),
        ("train/images_per_s", Some(row.train_img_s)),
    ]
}

/// `row` as `metrics.csv` holds it (its columns are rounded when written).
fn as_written(row: &EpochRow) -> EpochRow {
    let round_trip = || -> Option<EpochRow> {
        let bytes = crate::results::to_csv(std::slice::from_ref(row)).ok()?;
        csv::Reader::from_reader(bytes.as_slice())
            .deserialize()
            .next()?
            .ok()
    };
    round_trip().unwrap_or_else(|| row.clone())
}

/// The run's events directory, the file this session writes (created at its first value), and
/// the (tag, step) pairs the directory already holds.
pub struct EventLog {
    dir: std::path::PathBuf,
    writer: Option<EventWriter>,
    present: HashSet<(String, i64)>,
}

impl EventLog {
    /// Reads what `run_dir`'s events hold and writes, into a new file, what they lack: the
    /// config text, and the scalars of `rows` (the epochs `metrics.csv` holds as the session
    /// starts). No file is made while there is nothing to write.
    pub(super) fn open(
        run_dir: &Path,
        config_toml: &str,
        rows: &[EpochRow],
    ) -> Result<Self, TensorBoardError> {
        let dir = run_dir.join(TENSORBOARD_DIR);
        let mut present: HashSet<(String, i64)> = if dir.is_dir() {
            tensorboard::read_scalars(&dir)?
                .into_iter()
                .map(|s| (s.tag, s.step))
                .collect()
        } else {
            HashSet::new()
        };
        let config_written = dir.is_dir() && tensorboard::last_step(&dir, CONFIG_TAG)?.is_some();
        if config_written {
            present.insert((CONFIG_TAG.into(), 0));
        }
        let mut log = EventLog {
            dir,
            writer: None,
            present,
        };
        if !config_written {
            let text = format!("```toml\n{config_toml}```");
            log.writer()?.text(CONFIG_TAG, 0, &text, wall_time_now())?;
            log.present.insert((CONFIG_TAG.into(), 0));
        }
        for row in rows {
            log.write_epoch(row)?;
        }
        log.flush()?;
        Ok(log)
    }

    /// The session's file, created at its first use.
    fn writer(&mut self) -> Result<&mut EventWriter, TensorBoardError> {
        if self.writer.is_none() {
            self.writer = Some(EventWriter::create(&self.dir)?);
        }
        Ok(self.writer.as_mut().expect("created above"))
    }

    fn flush(&mut self) -> Result<(), TensorBoardError> {
        match &mut self.writer {
            Some(w) => w.flush(),
            None => Ok(()),
        }
    }

    fn scalar(&mut self, tag: &str, step: i64, value: f64) -> Result<(), TensorBoardError> {
        if self.present.insert((tag.to_string(), step)) {
            self.writer()?
                .scalar(tag, step, value as f32, wall_time_now())?;
        }
        Ok(())
    }

    fn write_epoch(&mut self, row: &EpochRow) -> Result<(), TensorBoardError> {
        let row = as_written(row);
        for (tag, value) in epoch_scalars(&row) {
            if let Some(v) = value {
                self.scalar(tag, row.epoch as i64, v)?;
            }
        }
        Ok(())
    }

    /// Writes the loss of the batch at global `step` if it is one of the epoch's
    /// [`BATCH_LOSS_POINTS`] (every `steps_per_epoch / BATCH_LOSS_POINTS`-th batch). Buffered:
    /// the epoch's end makes it durable.
    pub(super) fn batch_loss(
        &mut self,
        step: i64,
        steps_per_epoch: usize,
        loss: f64,
    ) -> Result<(), TensorBoardError> {
        let every = (steps_per_epoch / BATCH_LOSS_POINTS).max(1) as i64;
        if step % every == 0 {
            self.scalar("train/batch_loss", step, loss)?;
        }
        Ok(())
    }

    /// Writes one epoch's values (those not yet in the directory) and makes them durable.
    pub(super) fn epoch(&mut self, row: &EpochRow) -> Result<(), TensorBoardError> {
        self.write_epoch(row)?;
        self.flush()
    }

    /// Writes the test errors of the model of epoch `step` (results.csv's first row).
    pub(super) fn test(
        &mut self,
        step: usize,
        top1_err: f64,
        top5_err: Option<f64>,
    ) -> Result<(), TensorBoardError> {
        // As results.csv rounds them.
        let round4 = |v: f64| format!("{v:.4}").parse().unwrap_or(v);
        self.scalar("test/top1_err", step as i64, round4(top1_err))?;
        if let Some(v) = top5_err {
            self.scalar("test/top5_err", step as i64, round4(v))?;
        }
        self.flush()
    }
}

/// Why [`backfill`] could not write a run's events.
#[derive(Debug, thiserror::Error)]
pub enum BackfillError {
    /// Reading the run's config, metrics.csv or results.csv failed.
    #[error(transparent)]
    Read(#[from] crate::results::ResultsError),
    /// Writing the events failed.
    #[error(transparent)]
    Write(#[from] TensorBoardError),
}

/// Writes the event files of a run trained before it had them (or with `run.tensorboard =
/// false`) from its `config.toml`, `metrics.csv` and `results.csv`: what the training run
/// would have written, no value twice (what the directory holds is kept). Returns the epochs.
pub fn backfill(run_dir: &Path) -> Result<usize, BackfillError> {
    use crate::results::{ResultRow, ResultsError, RunPaths, read_csv};
    let paths = RunPaths::new(run_dir);
    let config = paths.config();
    let toml = std::fs::read_to_string(&config).map_err(|e| ResultsError::io(&config, e))?;
    let rows: Vec<EpochRow> = read_csv(&paths.metrics())?;
    let results: Vec<ResultRow> = read_csv(&paths.results())?;
    let mut log = EventLog::open(run_dir, &toml, &rows)?;
    if let Some(r) = results.first().filter(|r| r.is_from_training()) {
        log.test(r.best_epoch, r.top1_err, r.top5_err)?;
    }
    Ok(rows.len())
}
