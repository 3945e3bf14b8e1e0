//! Why `vgg-train report` could not write its report.

use std::path::PathBuf;

use thiserror::Error;

use crate::error::ConfigError;
use crate::results::ResultsError;

/// Why `vgg-train report` could not write its report.
#[derive(Debug, Error)]
pub enum ReportError {
    /// The directory holds no finished run.
    #[error(
        "{}: no finished runs (no */results.csv); run scripts/sweep.sh or vgg-train first",
        dir.display()
    )]
    NoRuns {
        /// The directory reported on.
        dir: PathBuf,
    },
    /// A directory or output file could not be read or written.
    #[error("{}: {error}", path.display())]
    Io {
        /// The file or directory.
        path: PathBuf,
        /// The I/O error.
        error: std::io::Error,
    },
    /// A run's `config.toml` no longer parses.
    #[error(transparent)]
    Config(#[from] ConfigError),
    /// A run's `results.csv` or `metrics.csv` cannot be read.
    #[error(transparent)]
    Results(#[from] ResultsError),
    /// plotters failed to draw a chart.
    #[error("{}: {what}", path.display())]
    Plot {
        /// The chart being drawn.
        path: PathBuf,
        /// What plotters said.
        what: crate::report::plots::DrawError,
    },
}

impl ReportError {
    /// An I/O error on `path`.
    pub fn io(path: impl Into<PathBuf>, error: std::io::Error) -> Self {
        ReportError::Io {
            path: path.into(),
            error,
        }
    }
}
