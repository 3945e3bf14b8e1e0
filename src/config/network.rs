//! The `[model]` section: the network.

use std::path::PathBuf;

use serde::{Deserialize, Serialize};

use crate::arch::Arch;

/// Classifier head.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Head {
    /// The paper's head: adaptive average pool to 7×7, FC-4096, FC-4096, FC-classes.
    Paper,
    /// For 32×32 inputs: the 1×1 map flattened, `hidden`-unit FC layers, FC-classes.
    Compact,
}

/// Weight initialisation scheme.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Init {
    /// The paper's §3.1: weights N(0, 0.01), biases 0. Stalls small networks at chance.
    Paper,
    /// torchvision's VGG: convs He-normal (fan-out), FC N(0, 0.01), biases 0.
    Torchvision,
    /// He-normal (fan-in, gain √2) for convs and FC layers, biases 0.
    Kaiming,
    /// Glorot-uniform for convs and FC layers, biases 0 (the paper's §3.1 remark).
    Xavier,
}

/// Local response normalisation in the convention of Krizhevsky et al. (2012):
/// `b = a / (k + alpha * Σ a²)^beta` over `size` neighbouring channels, with `alpha` **not**
/// divided by `size`. Used by A-LRN right after its first conv.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct LrnConfig {
    /// Number of neighbouring channels summed over (n).
    pub size: usize,
    /// Scale of the sum of squares, not divided by `size`.
    pub alpha: f64,
    /// Exponent.
    pub beta: f64,
    /// Additive constant.
    pub k: f64,
}

impl Default for LrnConfig {
    fn default() -> Self {
        // Krizhevsky et al. §3.3, which the VGG paper's A-LRN refers to.
        Self {
            size: 5,
            alpha: 1e-4,
            beta: 0.75,
            k: 2.0,
        }
    }
}

/// The network.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ModelConfig {
    /// Paper configuration: "A", "A-LRN", "B", "B-5x5", "C", "D" or "E".
    pub arch: Arch,
    /// Batch normalisation after every conv (torchvision's `vgg*_bn`).
    pub batch_norm: bool,
    /// Channel multiplier applied to every conv (1.0 = the paper's 64…512).
    pub width: f64,
    /// Classifier head.
    pub head: Head,
    /// Units of each hidden FC layer (4096 in the paper).
    pub hidden: usize,
    /// Number of hidden FC layers (2 in the paper; 0 gives a single linear classifier).
    pub hidden_layers: usize,
    /// Dropout after the hidden FC layers.
    pub dropout: f64,
    /// Weight initialisation.
    pub init: Init,
    /// Number of classes; 0 takes it from the data set.
    pub num_classes: usize,
    /// Input channels; 0 takes it from the data set.
    pub in_channels: usize,
    /// LRN constants (A-LRN only).
    pub lrn: LrnConfig,
    /// Run directory of a trained net (configuration A in the paper) whose first four conv
    /// layers and three FC layers initialise this one (§3.1); empty = none.
    pub init_from: PathBuf,
}

impl Default for ModelConfig {
    fn default() -> Self {
        Self {
            arch: Arch::D,
            batch_norm: false,
            width: 1.0,
            head: Head::Paper,
            hidden: 4096,
            hidden_layers: 2,
            dropout: 0.5,
            init: Init::Paper,
            num_classes: 0,
            in_channels: 0,
            lrn: LrnConfig::default(),
            init_from: PathBuf::new(),
        }
    }
}
