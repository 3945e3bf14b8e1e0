//! The `[data]` and `[augment]` sections: the data set, its splits and preprocessing.

use std::path::PathBuf;

use serde::{Deserialize, Serialize};

/// Which data set to read.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum DatasetKind {
    /// Zalando's Fashion-MNIST, gzipped or raw IDX files.
    FashionMnist,
    /// LeCun's MNIST, gzipped or raw IDX files.
    Mnist,
    /// CIFAR-10: the binary or python (torchvision's) version, a directory or the `.tar.gz`.
    Cifar10,
    /// CIFAR-100, either version, fine labels.
    Cifar100,
    /// `train/<class>/*` and `val/<class>/*` image folders (ImageNet layout).
    ImageFolder,
}

impl DatasetKind {
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

impl std::fmt::Display for DatasetKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.pad(self.name())
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
    /// 0 = `image_size * 8 / 7` (256 for 224); stays 0 (not used) for the other data sets.
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
    /// 0 = `data.resize`; stays 0 (not used) for the other data sets.
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_data_sets_name_is_what_serde_writes_and_reads() {
        for kind in [
            DatasetKind::FashionMnist,
            DatasetKind::Mnist,
            DatasetKind::Cifar10,
            DatasetKind::Cifar100,
            DatasetKind::ImageFolder,
        ] {
            let json = serde_json::to_string(&kind).unwrap();
            assert_eq!(json, format!("\"{kind}\""));
            assert_eq!(serde_json::from_str::<DatasetKind>(&json).unwrap(), kind);
        }
    }
}
