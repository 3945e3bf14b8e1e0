//! Typed errors of the library. Each carries the file, key or index that failed and, where
//! one exists, the fix; the binary prints them on one line and exits with the status their
//! `exit_status` gives. The errors of the commands and of run directories live beside them.

use std::path::PathBuf;
use thiserror::Error;

/// A problem with an experiment file or a `--set` override.
#[derive(Debug, Error)]
pub enum ConfigError {
    /// The file could not be read.
    #[error("cannot read config {path}: {error}")]
    Read {
        /// The config file.
        path: PathBuf,
        /// The I/O error.
        error: std::io::Error,
    },
    /// TOML syntax, an unknown key or a wrong type.
    #[error("{path}{location}: {message}")]
    Parse {
        /// The config file.
        path: PathBuf,
        /// ` line N` where known.
        location: String,
        /// What the parser said, on one line.
        message: String,
    },
    /// No `--config FILE` was given.
    #[error("--config: no config file given; use --config FILE (e.g. configs/quickstart.toml)")]
    NoConfigFile,
    /// A `--set key=value` that is malformed or names no key.
    #[error("--set {assignment}: {message}")]
    Override {
        /// The override as given.
        assignment: String,
        /// What is wrong with it.
        message: String,
    },
    /// A value that parses but makes no sense (`train.batch_size = 0`).
    #[error("{path}: {key} = {value}: {message}")]
    Invalid {
        /// The config file.
        path: PathBuf,
        /// Dotted key, e.g. `train.lr`.
        key: String,
        /// The offending value.
        value: String,
        /// Why it is rejected and what to use instead.
        message: String,
    },
}

/// A problem with a data set on disk.
#[derive(Debug, Error)]
pub enum DataError {
    /// A required file or directory does not exist.
    #[error("{path}: not found; {hint}")]
    Missing {
        /// What was looked for.
        path: PathBuf,
        /// Where to get the data.
        hint: String,
    },
    /// An I/O error while reading.
    #[error("{path}: {error}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The I/O error.
        error: std::io::Error,
    },
    /// The file exists but its content is not in the expected format.
    #[error("{path}: {message}")]
    Format {
        /// The file.
        path: PathBuf,
        /// What is wrong, with the byte offset where it helps.
        message: String,
    },
    /// An image that cannot be decoded.
    #[error("{path}: cannot decode image: {message}")]
    Decode {
        /// The image file.
        path: PathBuf,
        /// The decoder's message.
        message: String,
    },
    /// More unreadable images than `data.max_bad_images`.
    #[error(
        "{count} unreadable images, more than data.max_bad_images = {limit}; fix or remove them (the last: {last}), or raise data.max_bad_images"
    )]
    TooManyBad {
        /// Unreadable images met.
        count: usize,
        /// The configured limit.
        limit: usize,
        /// The last error.
        last: String,
    },
    /// The batches of an epoch stopped before its last image (the producing thread died).
    #[error(
        "the batch producer stopped after {consumed} of the epoch's {total} images; the run stops rather than count a partial epoch (rerun to resume from the last checkpoint)"
    )]
    ShortEpoch {
        /// Images the epoch delivered.
        consumed: usize,
        /// Images it should have delivered.
        total: usize,
    },
}

impl ConfigError {
    /// The process's exit status for this error: 2, the config is the user's to fix.
    pub fn exit_status(&self) -> u8 {
        2
    }
}

impl DataError {
    /// The process's exit status for this error: 2, the data set is the user's to fix.
    pub fn exit_status(&self) -> u8 {
        2
    }

    /// An I/O error on `path`.
    pub fn io(path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        DataError::Io {
            path: path.into(),
            error: source,
        }
    }

    /// The image file behind a decode or read error, if this is one (such an image can be
    /// skipped).
    pub fn image_path(&self) -> Option<&std::path::Path> {
        match self {
            DataError::Decode { path, .. } | DataError::Io { path, .. } => Some(path),
            _ => None,
        }
    }

    /// A format error on `path`.
    pub fn format(path: impl Into<PathBuf>, message: impl Into<String>) -> Self {
        DataError::Format {
            path: path.into(),
            message: message.into(),
        }
    }
}
