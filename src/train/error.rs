//! Why a training run could not start, continue or finish.

use std::path::PathBuf;

use thiserror::Error;

use crate::arch::Arch;
use crate::device::DeviceError;
use crate::error::{ConfigError, DataError};
use crate::model::{BurnpackError, WeightsError};
use crate::results::ResultsError;

/// Why a training run could not finish.
#[derive(Debug, Error)]
pub enum TrainError {
    /// The data set could not be read.
    #[error(transparent)]
    Data(#[from] DataError),
    /// The device is unknown or not compiled in.
    #[error("run.device: {0}")]
    Device(DeviceError),
    /// Writing an output file failed.
    #[error("{path}: {error}")]
    Io {
        /// The file or directory.
        path: PathBuf,
        /// The I/O error.
        error: std::io::Error,
    },
    /// The run directory holds a run of another experiment.
    #[error(
        "{} holds a run of a different experiment ({} differ from its {}); rerun with --fresh to move it aside, or change `name`",
        dir.display(),
        keys.join(", "),
        config.display()
    )]
    DifferentExperiment {
        /// The run directory.
        dir: PathBuf,
        /// The dotted keys that differ.
        keys: Vec<String>,
        /// The run's saved config.
        config: PathBuf,
    },
    /// A key a continued run may change, changed in a way this run would misread.
    #[error(
        "{}: {key} changed from {was} to {now} since the run started, but {why}; set it back to continue the run, or rerun with --fresh to move it aside and start over",
        dir.display()
    )]
    ChangedOnResume {
        /// The run directory.
        dir: PathBuf,
        /// The dotted key.
        key: String,
        /// Its value in the run's saved config.
        was: String,
        /// Its value now.
        now: String,
        /// Why the change cannot be carried over.
        why: String,
    },
    /// The run's saved config no longer parses.
    #[error("{error}; rerun with --fresh to move the old run aside")]
    SavedConfig {
        /// What the config parser said (it names the file).
        error: ConfigError,
    },
    /// A run file could not be read, locked or written.
    #[error(transparent)]
    Results(#[from] ResultsError),
    /// A checkpoint's scheduler record cannot be read.
    #[error("checkpoint {epoch}: {message}")]
    CheckpointRecord {
        /// The checkpoint's epoch.
        epoch: usize,
        /// What the reader said.
        message: String,
    },
    /// A checkpoint does not fit the configured model or cannot be read.
    #[error(
        "{}: checkpoint does not fit the configured {arch} model ({what}); rerun with --fresh to move the old run aside",
        path.display()
    )]
    Checkpoint {
        /// The checkpoint file.
        path: PathBuf,
        /// The configuration of the model it was loaded into.
        arch: Arch,
        /// What does not fit.
        what: BurnpackError,
    },
    /// A weights file cannot be loaded into the configured network.
    #[error(transparent)]
    Weights(#[from] WeightsError),
    /// `model.init_from` cannot start this run.
    #[error("model.init_from = {:?}: {why}", dir.display().to_string())]
    WarmStart {
        /// The run directory named by `model.init_from`.
        dir: PathBuf,
        /// Why not.
        why: super::warm_start::WarmStartFailure,
    },
    /// A data file failed while training (an unreadable image): the loader's first failure.
    #[error("{0}")]
    DataRead(std::sync::Arc<DataError>),
    /// Training stopped with an error (a device error).
    #[error("training failed: {0}")]
    Training(String),
}

impl TrainError {
    /// The process's exit status for this error: 1 for a failing disk or device, 2 for what
    /// the user can fix (a config, a data set, a run directory).
    pub fn exit_status(&self) -> u8 {
        match self {
            TrainError::Io { .. } | TrainError::Training(_) => 1,
            TrainError::Results(r) => r.exit_status(),
            _ => 2,
        }
    }

    /// An I/O error on `path`.
    pub fn io(path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        TrainError::Io {
            path: path.into(),
            error: source,
        }
    }
}
