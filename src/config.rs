//! The experiment file: one TOML file is one experiment.
//!
//! The file is deserialised into our own serde structs with `deny_unknown_fields`, so a typo is
//! an error naming the key and the line. Every key has a default (the paper's ImageNet recipe
//! where one exists), so a config file reads as a diff against the paper. `--set key=value`
//! overrides any key; [`Experiment::validate`] then rejects values that parse but make no sense.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::error::ConfigError;
use crate::model::arch::Arch;
use crate::util::one_line;

/// One experiment: model, data, augmentation, optimisation and where to run it.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Experiment {
    /// Run name; the run directory is `<run.output_dir>/<name>`. Defaults to the file stem.
    pub name: String,
    /// Network.
    pub model: ModelConfig,
    /// Data set and preprocessing.
    pub data: DataConfig,
    /// Training-time augmentation.
    pub augment: AugmentConfig,
    /// Optimiser and schedule.
    pub train: TrainConfig,
    /// Test-time protocols (paper §3.2): after training and in `vgg-train eval`.
    pub eval: EvalConfig,
    /// Device and outputs.
    pub run: RunConfig,
}

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

/// Which data set to read.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum DatasetKind {
    /// Zalando's Fashion-MNIST, gzipped or raw IDX files.
    FashionMnist,
    /// LeCun's MNIST, gzipped or raw IDX files.
    Mnist,
    /// CIFAR-10, binary version.
    Cifar10,
    /// CIFAR-100, binary version, fine labels.
    Cifar100,
    /// `train/<class>/*` and `val/<class>/*` image folders (ImageNet layout).
    ImageFolder,
}

impl DatasetKind {
    /// Classes of the standard data set (ImageNet's 1000 for image folders), for when the
    /// data are not read (`summary`, `bench`).
    pub fn standard_classes(self) -> usize {
        match self {
            DatasetKind::FashionMnist | DatasetKind::Mnist | DatasetKind::Cifar10 => 10,
            DatasetKind::Cifar100 => 100,
            DatasetKind::ImageFolder => 1000,
        }
    }

    /// The name used in configs and results.
    pub fn name(self) -> &'static str {
        match self {
            DatasetKind::FashionMnist => "fashion-mnist",
            DatasetKind::Mnist => "mnist",
            DatasetKind::Cifar10 => "cifar10",
            DatasetKind::Cifar100 => "cifar100",
            DatasetKind::ImageFolder => "image-folder",
        }
    }
}

/// How a 28×28 MNIST-style image reaches `image_size`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Fit {
    /// Zero-pad around the centre (28 → 32 adds 2 pixels each side).
    Pad,
    /// Bilinear resize.
    Resize,
}

/// The data set and its preprocessing.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct DataConfig {
    /// Which data set.
    pub dataset: DatasetKind,
    /// Where it lives; empty means the data set's default location.
    pub path: PathBuf,
    /// Side of the square network input (224 in the paper).
    pub image_size: usize,
    /// Use only this many training images (a deterministic subset); 0 = all.
    pub train_limit: usize,
    /// Images held out of the training set for validation (best epoch, plateau schedule,
    /// stall check): a fraction (`0.1`) or a count (`5000`), chosen by a fixed permutation
    /// and the same for every run; `0` = none, the test split validates (biased: the reported
    /// error is then the best over epochs of the test error). Absent = 10 % for Fashion-MNIST,
    /// MNIST and CIFAR, 0 for image folders (whose `val/` is the paper's test set).
    pub val_split: Option<ValSplit>,
    /// Use only this many validation images (a deterministic subset); 0 = all.
    pub val_limit: usize,
    /// Use only this many test images (a deterministic subset); 0 = all. With `val_split = 0`
    /// the test split is the validation split and `val_limit` applies.
    pub test_limit: usize,
    /// Channels fed to the network for grey data sets: 1, or 3 (grey replicated).
    pub channels: usize,
    /// Grey 28×28 data sets: pad or resize to `image_size`.
    pub fit: Fit,
    /// Image folders: shorter side rescaled to this before the centre crop at evaluation;
    /// 0 = `image_size * 8 / 7` (256 for 224).
    pub resize: usize,
    /// Per-channel mean in [0, 1]; empty = the data set's own statistics.
    pub mean: Vec<f64>,
    /// Per-channel standard deviation in [0, 1]; empty = the data set's own statistics.
    pub std: Vec<f64>,
    /// Threads that decode and augment batches; 0 = all cores.
    pub workers: usize,
    /// Unreadable images (image folders) are logged, skipped and counted; more distinct ones
    /// than this fail the run.
    pub max_bad_images: usize,
}

impl Default for DataConfig {
    fn default() -> Self {
        Self {
            dataset: DatasetKind::ImageFolder,
            path: PathBuf::new(),
            image_size: 224,
            train_limit: 0,
            val_split: None,
            val_limit: 0,
            test_limit: 0,
            channels: 3,
            fit: Fit::Pad,
            resize: 0,
            mean: Vec::new(),
            std: Vec::new(),
            workers: 0,
            max_bad_images: 10,
        }
    }
}

/// How many training images `data.val_split` holds out.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum ValSplit {
    /// This many images.
    Count(usize),
    /// This fraction of the training images, in [0, 1).
    Fraction(f64),
}

impl ValSplit {
    /// Images held out of `train_images`.
    pub fn images(self, train_images: usize) -> usize {
        match self {
            ValSplit::Count(n) => n.min(train_images),
            ValSplit::Fraction(f) => ((train_images as f64 * f).round() as usize).min(train_images),
        }
    }

    /// Whether nothing is held out.
    pub fn is_none(self) -> bool {
        self.images(usize::MAX / 2) == 0
    }
}

impl DataConfig {
    /// The subset size of the test split: `test_limit`, or `val_limit` when the test split is
    /// also the validation split (`val_split = 0`).
    pub fn effective_test_limit(&self) -> usize {
        if self.effective_val_split().is_none() {
            self.val_limit
        } else {
            self.test_limit
        }
    }

    /// `val_split`, or the data set's default: 10 % held out of Fashion-MNIST, MNIST and
    /// CIFAR, none of image folders.
    pub fn effective_val_split(&self) -> ValSplit {
        self.val_split.unwrap_or(match self.dataset {
            DatasetKind::ImageFolder => ValSplit::Count(0),
            _ => ValSplit::Fraction(0.1),
        })
    }
}

/// Training-time augmentation. Evaluation never augments.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct AugmentConfig {
    /// Random horizontal flip; absent = on for CIFAR and image folders, off for (Fashion-)MNIST.
    pub hflip: Option<bool>,
    /// Zero-pad by this many pixels, then crop `image_size` at random (CIFAR's pad-4 crop);
    /// absent = 4 for CIFAR, 0 otherwise.
    pub crop_padding: Option<usize>,
    /// Image folders: the training scale S, the shorter side before the random crop: a fixed
    /// `256`, or `[256, 512]` for a new S drawn per image (scale jittering, §3.1);
    /// 0 = `data.resize`.
    pub scale: Scale,
    /// Standard deviation of AlexNet's PCA colour shift (0.1 in the paper); 0 = off. Needs 3
    /// channels.
    pub color_shift: f64,
}

/// The training scale S.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum Scale {
    /// One S for every image.
    Fixed(usize),
    /// S drawn uniformly from `[min, max]` per image.
    Jitter([usize; 2]),
}

impl Default for Scale {
    fn default() -> Self {
        Scale::Fixed(0)
    }
}

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
        f.write_str(self.name())
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
    pub device: String,
    /// Several devices of one host for data-parallel training, e.g. `["cuda:0", "cuda:1"]`;
    /// empty = `[device]`. Each device takes a `train.batch_size` batch per step.
    pub devices: Vec<String>,
    /// Float precision: `f32`, or `f16`/`bf16` where the backend supports it.
    pub precision: Precision,
    /// `own`: vgg-train's conv/ReLU/max-pool kernels on flex (f32); `burn`: burn's ops.
    pub kernels: Kernels,
    /// Parent of the run directory.
    pub output_dir: PathBuf,
}

impl Default for RunConfig {
    fn default() -> Self {
        Self {
            device: "flex".into(),
            devices: Vec::new(),
            precision: Precision::F32,
            kernels: Kernels::Own,
            output_dir: PathBuf::from("results"),
        }
    }
}

/// The smallest input side that survives the five 2×2 max-pools.
pub const MIN_IMAGE_SIZE: usize = 32;

impl Experiment {
    /// Reads `path`, applies the `key=value` overrides and validates the result.
    pub fn load(path: &Path, overrides: &[String]) -> Result<Experiment, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|error| ConfigError::Read {
            path: path.to_path_buf(),
            error,
        })?;
        Self::from_toml_str(&text, path, overrides)
    }

    /// Parses TOML `text` (named `path` in errors), applies overrides, validates.
    pub fn from_toml_str(
        text: &str,
        path: &Path,
        overrides: &[String],
    ) -> Result<Experiment, ConfigError> {
        // First pass on the file alone, so that errors point at its lines.
        let mut exp = parse_experiment(path, text)?;
        if !overrides.is_empty() {
            let mut table: toml::Table =
                toml::from_str(text).map_err(|e| parse_error(path, text, &e))?;
            for assignment in overrides {
                apply_override(&mut table, assignment)?;
                exp = serde_path_to_error::deserialize(toml::Value::Table(table.clone())).map_err(
                    |e| ConfigError::Override {
                        assignment: assignment.clone(),
                        message: format!("{}: {}", e.path(), one_line(e.inner().message())),
                    },
                )?;
            }
        }
        // The resolved config says what ran, whatever the defaults of a later version.
        exp.data.val_split = Some(exp.data.effective_val_split());
        if exp.name.is_empty() {
            exp.name = path
                .file_stem()
                .map(|s| s.to_string_lossy().into_owned())
                .unwrap_or_else(|| "run".into());
        }
        exp.validate(path)?;
        Ok(exp)
    }

    /// Rejects values that parse but cannot work; the error names the key and the fix.
    pub fn validate(&self, path: &Path) -> Result<(), ConfigError> {
        let bad = |key: &str, value: String, message: &str| {
            Err(ConfigError::Invalid {
                path: path.to_path_buf(),
                key: key.into(),
                value,
                message: message.into(),
            })
        };
        if self.name.is_empty()
            || self
                .name
                .chars()
                .any(|c| c == '/' || c == '\\' || c.is_control())
            || self.name == "."
            || self.name == ".."
        {
            return bad(
                "name",
                format!("{:?}", self.name),
                "use a plain directory name (letters, digits, '-', '_', '.')",
            );
        }
        let m = &self.model;
        if !(m.width > 0.0 && m.width.is_finite()) {
            return bad(
                "model.width",
                m.width.to_string(),
                "must be > 0 (1.0 = the paper's widths)",
            );
        }
        if !(0.0..1.0).contains(&m.dropout) {
            return bad("model.dropout", m.dropout.to_string(), "must be in [0, 1)");
        }
        if m.hidden_layers > 0 && m.hidden == 0 {
            return bad(
                "model.hidden",
                "0".into(),
                "must be > 0 when model.hidden_layers > 0",
            );
        }
        if m.lrn.size == 0 || m.lrn.alpha < 0.0 || m.lrn.k <= 0.0 {
            return bad(
                "model.lrn",
                format!("{:?}", m.lrn),
                "needs size >= 1, alpha >= 0 and k > 0 (the paper: size 5, alpha 1e-4, beta 0.75, k 2)",
            );
        }
        if m.in_channels != 0 && m.in_channels != self.data.channels {
            return bad(
                "model.in_channels",
                m.in_channels.to_string(),
                "must equal data.channels (or be left out)",
            );
        }
        let d = &self.data;
        if d.image_size < MIN_IMAGE_SIZE {
            return bad(
                "data.image_size",
                d.image_size.to_string(),
                "too small for the five 2x2 max-pools; use at least 32",
            );
        }
        if d.channels != 1 && d.channels != 3 {
            return bad("data.channels", d.channels.to_string(), "must be 1 or 3");
        }
        if matches!(
            d.dataset,
            DatasetKind::Cifar10 | DatasetKind::Cifar100 | DatasetKind::ImageFolder
        ) && d.channels != 3
        {
            return bad(
                "data.channels",
                d.channels.to_string(),
                "colour data sets need 3",
            );
        }
        for (key, v) in [("data.mean", &d.mean), ("data.std", &d.std)] {
            if !v.is_empty() && v.len() != d.channels {
                return bad(
                    key,
                    format!("{v:?}"),
                    "give one value per channel (data.channels)",
                );
            }
        }
        if d.std.iter().any(|s| *s <= 0.0) {
            return bad("data.std", format!("{:?}", d.std), "every std must be > 0");
        }
        if d.resize != 0 && d.resize < d.image_size {
            return bad(
                "data.resize",
                d.resize.to_string(),
                &format!(
                    "must be at least data.image_size ({}): the evaluation crop is cut from the image rescaled to it (0 = image_size * 8 / 7)",
                    d.image_size
                ),
            );
        }
        match d.val_split {
            Some(ValSplit::Fraction(f)) if !(0.0..1.0).contains(&f) => {
                return bad(
                    "data.val_split",
                    f.to_string(),
                    "a fraction must be in [0, 1), e.g. 0.1; or give a count of images",
                );
            }
            _ => {}
        }
        if d.effective_val_split().is_none() && d.test_limit != 0 && d.test_limit != d.val_limit {
            return bad(
                "data.test_limit",
                d.test_limit.to_string(),
                "with data.val_split = 0 the test split is the validation split: set data.val_limit",
            );
        }
        let t = &self.train;
        let a = &self.augment;
        if let Scale::Jitter([lo, hi]) = a.scale
            && (lo > hi || lo < d.image_size)
        {
            return bad(
                "augment.scale",
                format!("[{lo}, {hi}]"),
                "needs image_size <= min <= max, e.g. [256, 512] for 224 crops",
            );
        }
        if let Scale::Fixed(s) = a.scale
            && s != 0
            && s < d.image_size
        {
            return bad(
                "augment.scale",
                s.to_string(),
                "must be at least data.image_size (the crop must fit)",
            );
        }
        if !(a.color_shift >= 0.0 && a.color_shift.is_finite()) {
            return bad(
                "augment.color_shift",
                a.color_shift.to_string(),
                "must be >= 0 (the paper: 0.1)",
            );
        }
        if a.color_shift > 0.0 && d.channels != 3 {
            return bad(
                "augment.color_shift",
                a.color_shift.to_string(),
                "needs 3 channels",
            );
        }
        if t.epochs == 0 {
            return bad("train.epochs", "0".into(), "must be >= 1");
        }
        if t.batch_size == 0 {
            return bad("train.batch_size", "0".into(), "must be >= 1");
        }
        if !(t.lr > 0.0 && t.lr.is_finite()) {
            return bad(
                "train.lr",
                t.lr.to_string(),
                "must be > 0 (the paper: 0.01)",
            );
        }
        if !(0.0..1.0).contains(&t.momentum) {
            return bad(
                "train.momentum",
                t.momentum.to_string(),
                "must be in [0, 1)",
            );
        }
        if !(t.weight_decay >= 0.0 && t.weight_decay.is_finite()) {
            return bad(
                "train.weight_decay",
                t.weight_decay.to_string(),
                "must be >= 0",
            );
        }
        if !(t.gamma > 0.0 && t.gamma <= 1.0) {
            return bad("train.gamma", t.gamma.to_string(), "must be in (0, 1]");
        }
        if t.schedule == Schedule::Step && t.step_epochs == 0 {
            return bad(
                "train.step_epochs",
                "0".into(),
                "must be >= 1 for the step schedule",
            );
        }
        if t.schedule == Schedule::Plateau && t.patience == 0 {
            return bad(
                "train.patience",
                "0".into(),
                "must be >= 1 for the plateau schedule",
            );
        }
        if t.min_lr < 0.0 || t.min_lr > t.lr {
            return bad(
                "train.min_lr",
                t.min_lr.to_string(),
                "must be in [0, train.lr]",
            );
        }
        if let Err(message) = crate::device::DeviceSpec::parse(&self.run.device) {
            return bad("run.device", format!("{:?}", self.run.device), &message);
        }
        for device in &self.run.devices {
            if let Err(message) = crate::device::DeviceSpec::parse(device) {
                return bad("run.devices", format!("{device:?}"), &message);
            }
        }
        self.validate_eval(path)
    }

    fn validate_eval(&self, path: &Path) -> Result<(), ConfigError> {
        let bad = |key: &str, value: String, message: String| {
            Err(ConfigError::Invalid {
                path: path.to_path_buf(),
                key: key.into(),
                value,
                message,
            })
        };
        let e = &self.eval;
        let size = self.data.image_size;
        if let Some(q) = e.scales.iter().find(|q| **q < size) {
            return bad(
                "eval.scales",
                format!("{:?}", e.scales),
                format!("every Q must be at least data.image_size ({size}); {q} is smaller"),
            );
        }
        let paper_head = self.model.head == Head::Paper;
        if paper_head && size < 224 && e.protocols.iter().any(|p| p.is_dense()) {
            return bad(
                "eval.protocols",
                format!("{:?}", e.protocols.iter().map(|p| p.name()).collect::<Vec<_>>()),
                "dense evaluation turns FC-6 into a 7x7 conv, which needs data.image_size >= 224 with the paper head; use center or multi-crop".into(),
            );
        }
        Ok(())
    }

    /// The resolved experiment as TOML, as saved in the run directory.
    pub fn to_toml(&self) -> String {
        toml::to_string_pretty(self).expect("an Experiment always serialises to TOML")
    }

    /// The run directory: `<run.output_dir>/<name>`.
    pub fn run_dir(&self) -> PathBuf {
        self.run.output_dir.join(&self.name)
    }

    /// A short hash of the recipe: everything but the name, the seed, where it ran and how
    /// many data threads it used. Runs with equal hashes differ only in their seed, so a
    /// report averages them, and only them.
    pub fn recipe_hash(&self) -> String {
        let recipe = Experiment {
            name: String::new(),
            train: TrainConfig {
                seed: 0,
                ..self.train.clone()
            },
            data: DataConfig {
                workers: 0,
                ..self.data.clone()
            },
            run: RunConfig {
                precision: self.run.precision,
                ..RunConfig::default()
            },
            ..self.clone()
        };
        // FNV-1a over the canonical TOML: stable across builds and platforms.
        let hash = recipe
            .to_toml()
            .bytes()
            .fold(0xcbf2_9ce4_8422_2325u64, |h, b| {
                (h ^ b as u64).wrapping_mul(0x0000_0100_0000_01b3)
            });
        format!("{:08x}", hash >> 32)
    }
}

/// Deserialises the experiment, naming the dotted key of a value of the wrong type.
fn parse_experiment(path: &Path, text: &str) -> Result<Experiment, ConfigError> {
    let de = toml::Deserializer::parse(text).map_err(|e| parse_error(path, text, &e))?;
    serde_path_to_error::deserialize(de).map_err(|e| {
        let key = e.path().to_string();
        let mut err = parse_error(path, text, e.inner());
        if let ConfigError::Parse { message, .. } = &mut err
            && key != "."
            && !key.is_empty()
        {
            *message = format!("{key}: {message}");
        }
        err
    })
}

fn parse_error(path: &Path, text: &str, e: &toml::de::Error) -> ConfigError {
    let location = e
        .span()
        .map(|span| {
            let line = text[..span.start.min(text.len())].matches('\n').count() + 1;
            format!(" line {line}")
        })
        .unwrap_or_default();
    ConfigError::Parse {
        path: path.to_path_buf(),
        location,
        message: one_line(e.message()),
    }
}

/// Applies `a.b.c=value` to `table`. The value is read as TOML (`2`, `0.1`, `true`,
/// `[256, 512]`, `"x"`); anything that is not valid TOML is taken as a string.
fn apply_override(table: &mut toml::Table, assignment: &str) -> Result<(), ConfigError> {
    let err = |message: &str| ConfigError::Override {
        assignment: assignment.into(),
        message: message.into(),
    };
    let (key, raw) = assignment
        .split_once('=')
        .ok_or_else(|| err("expected key=value, e.g. train.epochs=2"))?;
    let key = key.trim();
    let raw = raw.trim();
    if key.is_empty() || key.split('.').any(str::is_empty) {
        return Err(err("expected a dotted key such as train.epochs"));
    }
    let value = toml::from_str::<toml::Table>(&format!("v = {raw}"))
        .ok()
        .and_then(|mut t| t.remove("v"))
        .unwrap_or_else(|| toml::Value::String(raw.to_string()));
    let parts: Vec<&str> = key.split('.').collect();
    let mut node = table;
    for part in &parts[..parts.len() - 1] {
        let entry = node
            .entry(part.to_string())
            .or_insert_with(|| toml::Value::Table(toml::Table::new()));
        node = entry
            .as_table_mut()
            .ok_or_else(|| err(&format!("`{part}` is not a table")))?;
    }
    node.insert(parts[parts.len() - 1].to_string(), value);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str, overrides: &[&str]) -> Result<Experiment, ConfigError> {
        let o: Vec<String> = overrides.iter().map(|s| s.to_string()).collect();
        Experiment::from_toml_str(text, Path::new("configs/test.toml"), &o)
    }

    #[test]
    fn empty_file_gives_the_paper_recipe_named_after_the_file() {
        let e = parse("", &[]).unwrap();
        assert_eq!(e.name, "test");
        assert_eq!(e.model.arch, Arch::D);
        assert_eq!(e.train.batch_size, 256);
        assert_eq!(e.train.lr, 0.01);
        assert_eq!(e.train.momentum, 0.9);
        assert_eq!(e.train.weight_decay, 5e-4);
        assert_eq!(e.train.schedule, Schedule::Plateau);
        assert_eq!(e.train.max_drops, 3);
        assert_eq!(e.train.epochs, 74);
        assert_eq!(e.model.dropout, 0.5);
        assert_eq!(e.data.image_size, 224);
    }

    #[test]
    fn all_documented_keys_parse() {
        let e = parse(
            r#"
name = "x"
[model]
arch = "A-LRN"
batch_norm = true
width = 0.25
head = "compact"
hidden = 128
dropout = 0.1
init = "kaiming"
num_classes = 10
[model.lrn]
size = 5
alpha = 1e-4
beta = 0.75
k = 2.0
[data]
dataset = "fashion-mnist"
path = "/tmp/x"
image_size = 32
train_limit = 100
val_limit = 50
[train]
epochs = 2
batch_size = 64
lr = 0.05
momentum = 0.9
weight_decay = 0.0
schedule = "cosine"
seed = 3
[run]
device = "flex"
output_dir = "out"
"#,
            &[],
        )
        .unwrap();
        assert_eq!(e.model.arch, Arch::ALrn);
        assert_eq!(e.model.head, Head::Compact);
        assert_eq!(e.data.dataset, DatasetKind::FashionMnist);
        assert_eq!(e.train.schedule, Schedule::Cosine);
        assert_eq!(e.run_dir(), PathBuf::from("out/x"));
    }

    #[test]
    fn unknown_key_is_an_error_naming_key_file_and_line() {
        let err = parse("[model]\narch = \"A\"\ndepth = 3\n", &[])
            .unwrap_err()
            .to_string();
        assert!(err.contains("configs/test.toml line 3"), "{err}");
        assert!(err.contains("depth"), "{err}");
    }

    #[test]
    fn wrong_type_is_an_error_naming_the_file() {
        let err = parse("[train]\nbatch_size = \"big\"\n", &[])
            .unwrap_err()
            .to_string();
        assert!(err.contains("configs/test.toml line 2"), "{err}");
    }

    #[test]
    fn unknown_arch_lists_the_valid_ones() {
        let err = parse("[model]\narch = \"F\"\n", &[])
            .unwrap_err()
            .to_string();
        assert!(err.contains("A-LRN"), "{err}");
    }

    #[test]
    fn bad_values_name_their_key() {
        for (text, key) in [
            ("[train]\nbatch_size = 0", "train.batch_size"),
            ("[train]\nlr = 0.0", "train.lr"),
            ("[train]\nlr = -1.0", "train.lr"),
            ("[train]\nepochs = 0", "train.epochs"),
            ("[data]\nimage_size = 28", "data.image_size"),
            ("[model]\nwidth = 0.0", "model.width"),
            ("[model]\ndropout = 1.0", "model.dropout"),
            ("[data]\nchannels = 2", "data.channels"),
            ("[run]\ndevice = \"tpu\"", "run.device"),
            ("name = \"a/b\"", "name"),
        ] {
            let err = parse(text, &[]).unwrap_err().to_string();
            assert!(err.contains(key), "{text}: {err}");
        }
    }

    #[test]
    fn overrides_replace_nested_keys_with_typed_values() {
        let e = parse(
            "[train]\nepochs = 10\n",
            &[
                "train.epochs=2",
                "model.arch=A",
                "data.path=/x/y",
                "model.width=0.5",
            ],
        )
        .unwrap();
        assert_eq!(e.train.epochs, 2);
        assert_eq!(e.model.arch, Arch::A);
        assert_eq!(e.data.path, PathBuf::from("/x/y"));
        assert_eq!(e.model.width, 0.5);
    }

    #[test]
    fn override_of_an_unknown_key_is_an_error() {
        let err = parse("", &["train.epoch=2"]).unwrap_err().to_string();
        assert!(err.starts_with("--set train.epoch=2"), "{err}");
        let err = parse("", &["nonsense"]).unwrap_err().to_string();
        assert!(err.contains("key=value"), "{err}");
    }

    #[test]
    fn scale_is_a_number_or_a_jitter_range() {
        let e = parse("[augment]\nscale = 256\n", &[]).unwrap();
        assert_eq!(e.augment.scale, Scale::Fixed(256));
        let e = parse("[augment]\nscale = [256, 512]\ncolor_shift = 0.1\n", &[]).unwrap();
        assert_eq!(e.augment.scale, Scale::Jitter([256, 512]));
        let err = parse("[augment]\nscale = [512, 256]\n", &[])
            .unwrap_err()
            .to_string();
        assert!(err.contains("augment.scale"), "{err}");
        let again = parse(&e.to_toml(), &[]).unwrap();
        assert_eq!(again.augment.scale, Scale::Jitter([256, 512]));
    }

    #[test]
    fn resolved_toml_round_trips() {
        let e = parse("[model]\narch = \"C\"\nwidth = 0.5\n", &["train.seed=7"]).unwrap();
        let again = parse(&e.to_toml(), &[]).unwrap();
        assert_eq!(e, again);
    }
}
