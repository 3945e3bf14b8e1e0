//! `vgg-train eval`: load the weights, run `[eval]`'s protocols on the test split, and add one
//! `results.csv` row per protocol and scale.

use std::path::{Path, PathBuf};

use crate::config::Experiment;
use crate::data;
use crate::device::DeviceError;
use crate::error::DataError;
use crate::model::WeightsError;
use crate::model::{self, VggConfig};
use crate::results::lock::RunLock;
use crate::results::{self, ResultRow, ResultsError, RunPaths, Status, write_atomic};

use crate::eval::{evaluate, plan_for, rows_from};

/// What `vgg-train eval` did.
#[derive(Debug, Clone)]
pub struct EvalOutcome {
    /// The weights evaluated.
    pub weights: PathBuf,
    /// The rows added to (or replaced in) `results.csv`.
    pub rows: Vec<ResultRow>,
    /// Where they were written.
    pub results: PathBuf,
    /// Images evaluated.
    pub images: usize,
    /// Wall time, seconds.
    pub seconds: f64,
}

/// Where `vgg-train eval --weights W` writes: `<output_dir>/<name>@<W's stem>/`, beside the
/// run directory, so the rows of other weights never mix with a training run's.
pub fn weights_dir(exp: &Experiment, weights: &Path) -> PathBuf {
    let stem = weights
        .file_stem()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_else(|| "weights".into());
    exp.run.output_dir.join(format!("{}@{stem}", exp.name))
}

/// Evaluates the run's `model.bpk` and writes the rows after the training row of its
/// `results.csv`; or, with `weights`, evaluates that file and writes rows with status
/// `pretrained` into [`weights_dir`].
pub fn eval_run(exp: &Experiment, weights: Option<&Path>) -> Result<EvalOutcome, EvalError> {
    let trained = weights.is_none();
    let paths = RunPaths::new(match weights {
        Some(w) => weights_dir(exp, w),
        None => exp.run_dir(),
    });
    let weights = weights
        .map(Path::to_path_buf)
        .unwrap_or_else(|| paths.best_model());
    if trained && !weights.is_file() {
        return Err(EvalError::NotTrained { path: weights });
    }
    let (spec, device) = crate::device::open(&exp.run).map_err(EvalError::Device)?;
    let data = data::load_test(&exp.data, &exp.augment)?;
    let vgg = VggConfig::from_experiment(exp, data.pipeline.channels, data.num_classes);
    let mut net = vgg.init(&device);
    model::load_weights_file(&mut net, &vgg, &weights).map_err(EvalError::from)?;
    let plan = plan_for(exp, &data, &vgg);
    let report = evaluate(&net, &data.test, &data.pipeline, &plan, &device)?;

    let _lock = RunLock::acquire(&paths.dir)?;
    let mut existing: Vec<ResultRow> = results::read_csv(&paths.results())?;
    let base = if trained {
        existing
            .first()
            .cloned()
            .ok_or_else(|| EvalError::NoTrainingRow {
                path: paths.results(),
            })?
    } else {
        ResultRow {
            status: Status::Pretrained,
            name: paths
                .dir
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_else(|| exp.name.clone()),
            ..ResultRow::describing(exp, &vgg, data.kind, spec.name())
        }
    };
    if !paths.config().is_file() {
        let resolved = exp.with_classes(data.num_classes);
        write_atomic(&paths.config(), resolved.to_toml().as_bytes())
            .map_err(|e| ResultsError::io(paths.config(), e))?;
    }
    let rows = rows_from(&base, &report);
    results::merge_eval_rows(&mut existing, rows.clone());
    results::write_csv(&paths.results(), &existing)
        .map_err(|e| ResultsError::io(paths.results(), e))?;
    Ok(EvalOutcome {
        weights,
        rows,
        results: paths.results(),
        images: report.images,
        seconds: report.seconds,
    })
}

/// Why `vgg-train eval` could not evaluate.
#[derive(Debug, thiserror::Error)]
pub enum EvalError {
    /// The data set could not be read.
    #[error(transparent)]
    Data(#[from] DataError),
    /// The device is unknown or not compiled in.
    #[error("run.device: {0}")]
    Device(DeviceError),
    /// The weights file cannot be loaded into the configured network.
    #[error(transparent)]
    Weights(#[from] WeightsError),
    /// The run directory's files could not be read, locked or written.
    #[error(transparent)]
    Results(#[from] ResultsError),
    /// There is no trained model to evaluate.
    #[error(
        "{}: not found; train the run first (vgg-train --config FILE) or pass --weights FILE",
        path.display()
    )]
    NotTrained {
        /// The missing `model.bpk`.
        path: PathBuf,
    },
    /// `results.csv` has no training row to add evaluation rows after.
    #[error(
        "{}: no training row; finish the run first (vgg-train --config FILE)",
        path.display()
    )]
    NoTrainingRow {
        /// The run's `results.csv`.
        path: PathBuf,
    },
}

impl EvalError {
    /// The process's exit status for this error: 1 for a failing disk, 2 for what the user
    /// can fix.
    pub fn exit_status(&self) -> u8 {
        match self {
            EvalError::Results(r) => r.exit_status(),
            _ => 2,
        }
    }
}
