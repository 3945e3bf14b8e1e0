//! Why a run directory's files could not be read, locked or written.

use std::path::PathBuf;

use thiserror::Error;

/// Why a run directory's files could not be read, locked or written.
#[derive(Debug, Error)]
pub enum ResultsError {
    /// A file or directory could not be read or written.
    #[error("{}: {error}", path.display())]
    Io {
        /// The file or directory.
        path: PathBuf,
        /// The I/O error.
        error: std::io::Error,
    },
    /// A CSV file of the run cannot be read.
    #[error("{}: {message}", path.display())]
    Csv {
        /// The file.
        path: PathBuf,
        /// What the CSV reader said (the row, the column and why).
        message: String,
    },
    /// Another live process holds the run directory's lock.
    #[error(
        "{}: another vgg-train process (pid {pid}) is training this run; wait for it, stop it, or change `name`",
        dir.display()
    )]
    Locked {
        /// The run directory.
        dir: PathBuf,
        /// The holder's pid, as written in the lock file (`unknown` when empty).
        pid: String,
    },
}

impl ResultsError {
    /// An I/O error on `path`.
    pub fn io(path: impl Into<PathBuf>, error: std::io::Error) -> Self {
        ResultsError::Io {
            path: path.into(),
            error,
        }
    }

    /// The process's exit status for this error: 1 for a failing disk, 2 for what the user can
    /// fix (a corrupt file, a run another process holds).
    pub fn exit_status(&self) -> u8 {
        match self {
            ResultsError::Io { .. } => 1,
            ResultsError::Csv { .. } | ResultsError::Locked { .. } => 2,
        }
    }
}
