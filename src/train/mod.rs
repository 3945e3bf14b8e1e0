//! Training one experiment with burn-train's `SupervisedTraining` + `Learner`, from the resolved
//! config to `results.csv`. Rerunning the same command resumes from the last complete
//! checkpoint; a finished run is reported, not retrained.

pub mod checkpoint;
pub mod epoch_end;
mod error;
pub mod events;
mod finish;
mod fit;
pub mod health;
pub mod reporter;
mod resume;
pub mod schedule;
pub mod step;
pub mod warm_start;

use std::time::Instant;

use crate::config::Experiment;
use crate::data;
use crate::error::DataError;
use crate::model::VggConfig;
use crate::results::{self, ResultRow, RunPaths, lock::RunLock, write_atomic};
pub use error::TrainError;

/// How `train` treats an existing run directory and the terminal.
#[derive(Debug, Clone, Default)]
pub struct TrainOptions {
    /// Move an existing run directory aside and start over.
    pub fresh: bool,
    /// Never use the TUI, even on a terminal.
    pub plain: bool,
}

/// What `train` did.
#[derive(Debug, Clone)]
pub enum Outcome {
    /// The run trained (or resumed) to the end; its results row.
    Trained(ResultRow),
    /// `results.csv` already existed; nothing was trained.
    AlreadyFinished(ResultRow),
}

/// Trains `exp` (or resumes it) and writes its outputs under `exp.run_dir()`.
pub fn train(exp: &Experiment, opts: &TrainOptions) -> Result<Outcome, TrainError> {
    let session_start = Instant::now();
    // The code that trains is the code at start-up, whatever happens to the checkout later.
    let git_commit = results::git_commit();
    let paths = RunPaths::new(exp.run_dir());
    // The lock comes first: what the directory holds is read, checked and changed by one
    // process at a time (two configs of one `name` never continue each other's checkpoints).
    if opts.fresh && paths.dir.exists() {
        let old = RunLock::acquire(&paths.dir)?;
        resume::move_aside(&paths.dir)?;
        drop(old);
    }
    let _lock = RunLock::acquire(&paths.dir)?;
    resume::check_same_experiment(&paths, exp)?;
    if let Some(row) = resume::finished_row(&paths)? {
        repair_eval_rows(exp, &paths, &row)?;
        return Ok(Outcome::AlreadyFinished(row));
    }
    let specs = crate::device::run_devices(&exp.run);
    let mut devices = Vec::with_capacity(specs.len());
    for s in &specs {
        let device = s.device().map_err(TrainError::Device)?;
        crate::device::set_precision(&device, *s, exp.run.precision).map_err(TrainError::Device)?;
        devices.push(device);
    }
    let data = data::load(&exp.data, &exp.augment)?;
    check_classes(exp, &data)?;
    let exp = &exp.with_classes(data.num_classes);
    // The resolved experiment: what runs, every default written out.
    write_atomic(&paths.config(), exp.to_toml().as_bytes())
        .map_err(|e| TrainError::io(paths.config(), e))?;

    let vgg = VggConfig::from_experiment(exp, data.pipeline.channels, data.num_classes);
    let restored = resume::restore(&paths, exp, &vgg, &devices[0])?;
    let prior_seconds: f64 = restored.rows.iter().map(|r| r.epoch_seconds).sum();
    let state = restored.state.clone();
    let done = restored.epoch.unwrap_or(0) >= exp.train.epochs || state.lock().stop;
    let bad_images = if done {
        0
    } else {
        fit::fit(fit::Session {
            exp,
            paths: &paths,
            data: &data,
            vgg: &vgg,
            devices,
            restored,
            opts,
        })?
    };
    let provenance = finish::Provenance {
        device: specs.iter().map(|s| s.name()).collect::<Vec<_>>().join("+"),
        git_commit,
        wall_seconds: prior_seconds + session_start.elapsed().as_secs_f64(),
        bad_images,
    };
    let row = finish::finalize(exp, &paths, &data, &vgg, provenance, &state, specs[0])?;
    // The training row and the `[eval]` rows are written together, once: a crash before the
    // write leaves no `results.csv`, and the rerun measures both again.
    let rows = finish::evaluate_after_training(exp, &paths, &data, &vgg, &row, specs[0])?;
    results::write_csv(&paths.results(), &rows).map_err(|e| TrainError::io(paths.results(), e))?;
    Ok(Outcome::Trained(row))
}

/// Adds the `[eval]` rows a finished run should have but lacks: a `results.csv` written by a
/// version that wrote the training row first and was killed before the protocol rows. Data
/// and model are loaded only when `[eval]` asks for more than the training row's centre crop.
fn repair_eval_rows(exp: &Experiment, paths: &RunPaths, row: &ResultRow) -> Result<(), TrainError> {
    use crate::config::Protocol;
    let rows: Vec<ResultRow> = results::read_csv(&paths.results())?;
    let may_add =
        exp.eval.protocols.iter().any(|p| *p != Protocol::Center) || !exp.eval.scales.is_empty();
    if rows.len() > 1 || !may_add || row.status == results::Status::Diverged {
        return Ok(());
    }
    let data = data::load(&exp.data, &exp.augment)?;
    let vgg = VggConfig::from_experiment(exp, data.pipeline.channels, data.num_classes);
    let spec = crate::device::run_devices(&exp.run)[0];
    let rows = finish::evaluate_after_training(exp, paths, &data, &vgg, row, spec)?;
    if rows.len() > 1 {
        crate::console::warning(format!(
            "note: {}: results.csv lacked its [eval] rows (an interrupted earlier version); measured and added",
            paths.dir.display()
        ));
        results::write_csv(&paths.results(), &rows)
            .map_err(|e| TrainError::io(paths.results(), e))?;
    }
    Ok(())
}

/// Refuses a head with fewer outputs than the data has classes: a label beyond the last
/// output has no logit for the loss to pick.
fn check_classes(exp: &Experiment, data: &data::DataSet) -> Result<(), DataError> {
    let asked = exp.model.num_classes;
    if asked != 0 && asked < data.num_classes {
        return Err(DataError::Format {
            path: data.path.clone(),
            message: format!(
                "has {} classes but model.num_classes = {asked}; set model.num_classes = 0 (the data's count) or at least {}",
                data.num_classes, data.num_classes
            ),
        });
    }
    Ok(())
}
