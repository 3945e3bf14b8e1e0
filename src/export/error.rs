//! Why `vgg-train export` could not write the weights.

use std::path::PathBuf;

use thiserror::Error;

use crate::device::DeviceError;
use crate::model::WeightsError;

/// Why `vgg-train export` could not write the weights.
#[derive(Debug, Error)]
pub enum ExportError {
    /// The device of `run.device` is not available.
    #[error("run.device: {0}")]
    Device(DeviceError),
    /// The weights could not be loaded into the network.
    #[error(transparent)]
    Weights(#[from] WeightsError),
    /// A tensor could not be read back or serialised.
    #[error("{name}: {what}")]
    Tensor {
        /// The tensor's exported name.
        name: String,
        /// What went wrong.
        what: String,
    },
    /// `--out` names a file the export must not write.
    #[error("{}: {why}", path.display())]
    Out {
        /// The `--out` path.
        path: PathBuf,
        /// Why it is refused, and the fix.
        why: String,
    },
    /// An output file could not be written.
    #[error("{}: {error}; check that its directory exists and is writable", path.display())]
    Write {
        /// The file.
        path: PathBuf,
        /// The I/O error.
        error: std::io::Error,
    },
}

impl ExportError {
    /// The process's exit status for this error: 2 for an `--out` the user must change, 1
    /// for the rest.
    pub fn exit_status(&self) -> u8 {
        match self {
            ExportError::Out { .. } => 2,
            _ => 1,
        }
    }
}
