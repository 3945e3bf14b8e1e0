//! The end of a run: the best epoch's weights as `model.bpk`, their test error, `results.csv`,
//! and the `[eval]` protocols.

use super::TrainError;
use super::checkpoint;
use super::health;
use super::schedule::SharedState;
use crate::config::Experiment;
use crate::data::DataSet;
use crate::device::DeviceSpec;
use crate::model::{Vgg, VggConfig};
use crate::results::{self, EpochRow, ResultRow, RunPaths, Scales, Status, write_atomic};

/// Loads the run's `model.bpk` into `net`.
fn load_best(net: &mut Vgg, paths: &RunPaths, vgg: &VggConfig) -> Result<(), TrainError> {
    crate::model::load_burnpack(net, &paths.best_model()).map_err(|what| TrainError::Checkpoint {
        path: paths.best_model(),
        arch: vgg.arch,
        what,
    })
}

/// Where and how a run was made, for its results row.
pub(super) struct Provenance {
    /// `flex`, `cuda:0`, or `cuda:0+cuda:1` on several devices.
    pub device: String,
    pub git_commit: String,
    pub wall_seconds: f64,
    pub bad_images: usize,
}

/// `12.34%`, or `-` for a top-5 error not measured (fewer than 5 classes).
pub(super) fn percent(v: Option<f64>) -> String {
    v.map(|v| format!("{v:.2}%")).unwrap_or_else(|| "-".into())
}

/// Test errors of the run's `model.bpk` (the epoch chosen on validation): the centre crop at
/// the training scale, over the test split.
fn test_errors(
    paths: &RunPaths,
    data: &DataSet,
    vgg: &VggConfig,
    exp: &Experiment,
    spec: DeviceSpec,
) -> Result<(f64, Option<f64>), TrainError> {
    if !paths.best_model().is_file() {
        return Ok((f64::NAN, None));
    }
    let device = spec.device().map_err(TrainError::Device)?;
    let mut net = vgg.init(&device);
    load_best(&mut net, paths, vgg)?;
    let plan = crate::eval::EvalPlan::center(
        data.default_test_scale(),
        exp.train.batch_size,
        vgg.pool_out(),
        exp.data.max_bad_images,
    );
    let report = crate::eval::evaluate(&net, &data.test, &data.pipeline, &plan, &device)?;
    let score = &report.scores[0];
    Ok((score.top1_err, score.top5_err))
}

/// Copies the best checkpoint to `model.bpk` and measures its test error: the training row of
/// `results.csv` (which the caller writes), never with a test error that is not a number.
pub(super) fn finalize(
    exp: &Experiment,
    paths: &RunPaths,
    data: &DataSet,
    vgg: &VggConfig,
    provenance: Provenance,
    state: &SharedState,
    spec: DeviceSpec,
) -> Result<ResultRow, TrainError> {
    let Provenance {
        device,
        git_commit,
        wall_seconds,
        bad_images,
    } = provenance;
    let rows: Vec<EpochRow> = results::read_csv(&paths.metrics())?;
    let last = rows
        .last()
        .ok_or_else(|| TrainError::Training("no epoch was recorded in metrics.csv".into()))?;
    let best = rows
        .iter()
        .filter(|r| r.val_top1_err.is_finite() && r.train_loss.is_finite())
        .min_by(|a, b| a.val_top1_err.total_cmp(&b.val_top1_err))
        .unwrap_or(last);
    let best_ckpt = checkpoint::part_path(&paths.checkpoints(), "model", best.epoch);
    if best_ckpt.is_file() {
        let bytes = std::fs::read(&best_ckpt).map_err(|e| TrainError::io(&best_ckpt, e))?;
        write_atomic(&paths.best_model(), &bytes)
            .map_err(|e| TrainError::io(paths.best_model(), e))?;
    }
    let s = state.lock().clone();
    let status = if s.diverged {
        Status::Diverged
    } else if health::stalled_epochs(&rows, data.num_classes) >= health::STALL_EPOCHS {
        Status::Stalled
    } else if s.stop {
        Status::Stopped
    } else {
        Status::Finished
    };
    // Without a held-out split the best epoch's validation errors are the test errors.
    let (top1_err, top5_err) = if data.held_out {
        test_errors(paths, data, vgg, exp, spec)?
    } else {
        (best.val_top1_err, best.val_top5_err)
    };
    let row = ResultRow {
        epochs: last.epoch,
        top1_err,
        top5_err,
        val_top1_err: Some(best.val_top1_err),
        val_top5_err: best.val_top5_err,
        best_epoch: best.epoch,
        wall_seconds,
        git_commit,
        status,
        final_top1_err: last.val_top1_err,
        final_top5_err: last.val_top5_err,
        train_images: data.train.len(),
        val_images: data.val.len(),
        test_images: data.test.len(),
        bad_images,
        scales: Scales::from(&[data.default_test_scale()][..]),
        ..ResultRow::describing(exp, vgg, data.kind, device)
    };
    // A diverged run reports its NaN as such; a run that ends normally never does.
    if !row.top1_err.is_finite() && status != Status::Diverged {
        return Err(TrainError::Training(format!(
            "the test top-1 error of the chosen model (epoch {}) is not a number ({} test images); {} is not written: check the test split of {}",
            best.epoch,
            data.test.len(),
            paths.results().display(),
            data.path.display()
        )));
    }
    if exp.run.tensorboard {
        let written = super::events::EventLog::open(&paths.dir, &exp.to_toml(), &rows)
            .and_then(|mut log| log.test(best.epoch, row.top1_err, row.top5_err));
        if let Err(e) = written {
            crate::console::warning(format!(
                "warning: {e}; the test errors are not in the TensorBoard events"
            ));
        }
    }
    Ok(row)
}
/// The rows of `results.csv`: the training row, then `[eval]`'s protocols run on the best
/// model, unless they measure nothing beyond it.
pub(super) fn evaluate_after_training(
    exp: &Experiment,
    paths: &RunPaths,
    data: &DataSet,
    vgg: &VggConfig,
    row: &ResultRow,
    spec: DeviceSpec,
) -> Result<Vec<ResultRow>, TrainError> {
    use crate::eval::{adds_to_training, plan_for, rows_from};
    let plan = plan_for(exp, data, vgg);
    let mut rows = vec![row.clone()];
    if !adds_to_training(&plan, data)
        || row.status == Status::Diverged
        || !paths.best_model().is_file()
    {
        return Ok(rows);
    }
    let device = spec.device().map_err(TrainError::Device)?;
    let mut net = vgg.init(&device);
    load_best(&mut net, paths, vgg)?;
    let report = crate::eval::evaluate(&net, &data.test, &data.pipeline, &plan, &device)?;
    let measured = rows_from(row, &report);
    for r in &measured {
        crate::console::out(format!(
            "{}: {} at Q = {}: test top-1 error {:.2}%  top-5 error {}",
            exp.name,
            r.protocol,
            r.scales,
            r.top1_err,
            percent(r.top5_err)
        ));
    }
    results::merge_eval_rows(&mut rows, measured);
    Ok(rows)
}
