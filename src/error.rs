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

/// Why a weights file (`--weights`, torchvision's `.pth`, a run's `model.bpk`) cannot be
/// loaded into the configured network.
#[derive(Debug, Error)]
pub enum WeightsError {
    /// The file does not exist.
    #[error("{}: not found", path.display())]
    NotFound {
        /// The weights file.
        path: PathBuf,
    },
    /// The file is not a PyTorch state dict at all.
    #[error("{}: not a PyTorch state dict ({what})", path.display())]
    NotStateDict {
        /// The file.
        path: PathBuf,
        /// What the reader said.
        what: String,
    },
    /// A state dict without torchvision's `features.N` tensors.
    #[error(
        "{}: not a torchvision VGG state dict (no features.N.weight tensors); use torchvision's vgg11/13/16/19 or *_bn weights",
        path.display()
    )]
    NotTorchvisionVgg {
        /// The file.
        path: PathBuf,
    },
    /// torchvision weights of another configuration than the config's.
    #[error("{}: holds torchvision's {found}, but the config asks for {wanted}; {fix}", path.display())]
    OtherConfiguration {
        /// The file.
        path: PathBuf,
        /// What the file holds (`vgg11`, `vgg16_bn`, …).
        found: String,
        /// What the config builds.
        wanted: String,
        /// The config keys to set.
        fix: String,
    },
    /// A tensor's shape differs from the configured network's.
    #[error(
        "{}: does not fit the configured network ({what}); check model.width, model.hidden and model.num_classes",
        path.display()
    )]
    Shape {
        /// The file.
        path: PathBuf,
        /// The first mismatch.
        what: String,
    },
    /// Tensors the network needs are absent, or the file has tensors it does not know.
    #[error(
        "{}: {missing} tensors missing ({first_missing:?}…), {unexpected} unexpected ({first_unexpected:?}…); is it a torchvision VGG state dict?",
        path.display()
    )]
    Tensors {
        /// The file.
        path: PathBuf,
        /// How many tensors are missing.
        missing: usize,
        /// The first missing one.
        first_missing: Option<String>,
        /// How many are unexpected.
        unexpected: usize,
        /// The first unexpected one.
        first_unexpected: Option<String>,
    },
    /// A burnpack file (a run's `model.bpk`) that does not fit the configured network.
    #[error("{}: does not fit the configured {arch} network ({what})", path.display())]
    Burnpack {
        /// The file.
        path: PathBuf,
        /// The configuration the network was built from.
        arch: String,
        /// What does not fit.
        what: String,
    },
    /// The store failed to read the file.
    #[error("{}: {what}", path.display())]
    Read {
        /// The file.
        path: PathBuf,
        /// What the reader said.
        what: String,
    },
}

/// Why a device cannot be named or opened.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum DeviceError {
    /// A device string of none of the known forms.
    #[error("unknown device {given:?}; use cpu, flex, cuda:N, wgpu, tch:cpu or tch:cuda:N")]
    Unknown {
        /// The string as given.
        given: String,
    },
    /// `cuda:x` with an `x` that is not a number.
    #[error("bad device index {index:?} in {given:?}")]
    BadIndex {
        /// The index part.
        index: String,
        /// The whole string.
        given: String,
    },
    /// A backend this binary was built without.
    #[error(
        "device {device} needs a binary built with `--features {feature}` (this one has: {compiled})"
    )]
    NotCompiled {
        /// The device's canonical name.
        device: String,
        /// The cargo feature that provides it.
        feature: &'static str,
        /// The backends this binary has, comma-separated.
        compiled: String,
    },
    /// A float type the backend cannot run.
    #[error(
        "run.precision = \"{precision}\" on {device}: {why}; use \"f32\" (half precision needs a GPU backend that supports it, see the README)"
    )]
    Precision {
        /// `f16` or `bf16`.
        precision: &'static str,
        /// The device's canonical name.
        device: String,
        /// What the backend said.
        why: String,
    },
}
