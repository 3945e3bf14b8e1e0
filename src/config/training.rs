//! The `[train]`, `[eval]` and `[run]` sections: optimisation, test protocols, where to run.

use std::path::PathBuf;

use serde::{Deserialize, Serialize};

use super::DeviceSpec;

/// Learning-rate schedule.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Schedule {
    /// `lr` throughout.
    Constant,
    /// `lr × gamma^(epoch / step_epochs)`.
    Step,
    /// Cosine annealing from `lr` to `min_lr` over all iterations.
    Cosine,
    /// The paper's §3.1: ×`gamma` when val top-1 error has not improved for `patience` epochs;
    /// training stops at the plateau after the `max_drops`-th drop.
    Plateau,
}

/// Optimiser and schedule.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct TrainConfig {
    /// Maximum number of epochs.
    pub epochs: usize,
    /// Images per optimiser step.
    pub batch_size: usize,
    /// Initial learning rate.
    pub lr: f64,
    /// SGD momentum (dampening 0, as in the paper and PyTorch).
    pub momentum: f64,
    /// L2 weight decay on all parameters.
    pub weight_decay: f64,
    /// Learning-rate schedule.
    pub schedule: Schedule,
    /// Multiplier applied at each drop (step and plateau).
    pub gamma: f64,
    /// Step schedule: epochs between drops.
    pub step_epochs: usize,
    /// Plateau schedule: epochs without improvement before a drop.
    pub patience: usize,
    /// Plateau schedule: drops before training stops.
    pub max_drops: usize,
    /// Cosine schedule: final learning rate.
    pub min_lr: f64,
    /// Seed for initialisation, shuffling and augmentation.
    pub seed: u64,
}

impl Default for TrainConfig {
    fn default() -> Self {
        // The paper's §3.1 recipe.
        Self {
            epochs: 74,
            batch_size: 256,
            lr: 0.01,
            momentum: 0.9,
            weight_decay: 5e-4,
            schedule: Schedule::Plateau,
            gamma: 0.1,
            step_epochs: 30,
            patience: 2,
            max_drops: 3,
            min_lr: 0.0,
            seed: 0,
        }
    }
}

/// A test-time protocol of the paper's §3.2 and §4.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Protocol {
    /// Rescale to Q, one centre crop (one row per Q).
    Center,
    /// The FC layers applied as convolutions over the whole rescaled image, the class-score
    /// map averaged, the flipped image averaged in (one row per Q).
    Dense,
    /// Dense evaluation with the softmax averaged over every Q (Table 4; one row).
    MultiScale,
    /// A 5×5 grid of crops × 2 flips per Q, softmax averaged over crops and Q (one row).
    MultiCrop,
    /// The mean of the multi-crop and multi-scale dense softmax (Table 5's best; one row).
    #[serde(rename = "multi-crop+dense")]
    MultiCropDense,
}

impl Protocol {
    /// Every protocol, in the paper's order.
    pub const ALL: [Protocol; 5] = [
        Protocol::Center,
        Protocol::Dense,
        Protocol::MultiScale,
        Protocol::MultiCrop,
        Protocol::MultiCropDense,
    ];

    /// The name used in configs and `results.csv`.
    pub fn name(self) -> &'static str {
        match self {
            Protocol::Center => "center",
            Protocol::Dense => "dense",
            Protocol::MultiScale => "multi-scale",
            Protocol::MultiCrop => "multi-crop",
            Protocol::MultiCropDense => "multi-crop+dense",
        }
    }

    /// Whether the protocol runs the fully-convolutional (dense) network.
    pub fn is_dense(self) -> bool {
        matches!(
            self,
            Protocol::Dense | Protocol::MultiScale | Protocol::MultiCropDense
        )
    }

    /// Whether the protocol gives one row per scale (`center`, `dense`) rather than one row
    /// averaged over all scales.
    pub fn per_scale(self) -> bool {
        matches!(self, Protocol::Center | Protocol::Dense)
    }
}

impl std::fmt::Display for Protocol {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.pad(self.name())
    }
}

/// Test-time evaluation on the validation split.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct EvalConfig {
    /// Protocols to run; each adds rows with `protocol` and `scales` columns to `results.csv`.
    pub protocols: Vec<Protocol>,
    /// Test scales Q (the shorter side after rescaling); empty = `data.resize` (256 for 224
    /// crops) for image folders and `data.image_size` for in-memory data sets.
    pub scales: Vec<usize>,
    /// Average the horizontally flipped image into `dense` and `multi-crop` (the paper does).
    pub flip: bool,
    /// Images per forward pass; 0 = `train.batch_size`.
    pub batch_size: usize,
}

impl Default for EvalConfig {
    fn default() -> Self {
        Self {
            protocols: vec![Protocol::Center],
            scales: Vec::new(),
            flip: true,
            batch_size: 0,
        }
    }
}

/// Floating-point precision of training.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Precision {
    /// 32-bit floats everywhere.
    F32,
    /// Half precision (GPU backends that support it).
    F16,
    /// bfloat16 (GPU backends that support it).
    Bf16,
}

impl Precision {
    /// The name used in configs and bench CSVs.
    pub fn name(self) -> &'static str {
        match self {
            Precision::F32 => "f32",
            Precision::F16 => "f16",
            Precision::Bf16 => "bf16",
        }
    }
}

/// Which implementation runs VGG's convolutions, ReLUs and max-pools.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Kernels {
    /// vgg-train's own kernels on the flex CPU backend in f32 (burn's ops elsewhere).
    #[default]
    Own,
    /// burn's ops everywhere (for comparison).
    Burn,
}

impl Kernels {
    /// The name used in configs and bench CSVs.
    pub fn name(self) -> &'static str {
        match self {
            Kernels::Own => "own",
            Kernels::Burn => "burn",
        }
    }
}

/// Where to run and where to write.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RunConfig {
    /// `flex` (CPU) | `cuda:N` | `wgpu` | `tch:cpu` | `tch:cuda:N`.
    pub device: DeviceSpec,
    /// Several devices of one host for data-parallel training, e.g. `["cuda:0", "cuda:1"]`;
    /// empty = `[device]`. Each device takes a `train.batch_size` batch per step.
    pub devices: Vec<DeviceSpec>,
    /// Float precision: `f32`, or `f16`/`bf16` where the backend supports it.
    pub precision: Precision,
    /// `own`: vgg-train's conv/ReLU/max-pool kernels on flex (f32); `burn`: burn's ops.
    pub kernels: Kernels,
    /// Parent of the run directory.
    pub output_dir: PathBuf,
    /// Write TensorBoard event files into `<run dir>/tensorboard/` (`tensorboard --logdir`).
    pub tensorboard: bool,
}

impl Default for RunConfig {
    fn default() -> Self {
        Self {
            device: DeviceSpec::Flex,
            devices: Vec::new(),
            precision: Precision::F32,
            kernels: Kernels::Own,
            output_dir: PathBuf::from("results"),
            tensorboard: true,
        }
    }
}
