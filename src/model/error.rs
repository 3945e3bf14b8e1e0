//! Why a weights file cannot be loaded into the configured network.

use std::path::PathBuf;

use thiserror::Error;

use crate::arch::Arch;

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
        arch: Arch,
        /// What does not fit.
        what: super::BurnpackError,
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
