//! What each data set is, in one table (timm's `_cfg` for data): its classes, statistics,
//! default augmentation, location and validation split. Every default a config leaves implicit
//! is read from here, and only here.

use super::{DatasetKind, ValSplit};

/// The facts of one data set.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct DataFacts {
    /// Classes, where the data set fixes them; `None` for image folders, whose class folders
    /// decide (1000 for ImageNet).
    pub classes: Option<usize>,
    /// Per-channel mean in [0, 1] of the stored images, one value for grey ones (ImageNet's,
    /// as torchvision, for image folders).
    pub mean: &'static [f64],
    /// Per-channel standard deviation in [0, 1], likewise.
    pub std: &'static [f64],
    /// Whether training flips at random by default (not for digits and clothes, whose
    /// left-right orientation carries meaning).
    pub hflip: bool,
    /// The default pad-then-crop of training (CIFAR's pad-4 crop).
    pub crop_padding: usize,
    /// Where the data set is read from when `data.path` is empty.
    pub default_path: &'static str,
    /// Training images held out for validation when `data.val_split` is absent: 10 % of the
    /// sets without a validation split of their own, none of image folders (whose `val/` is
    /// the paper's test set).
    pub val_split: ValSplit,
}

/// Where Debian's `dataset-fashion-mnist` package puts the gzipped IDX files.
pub const DEBIAN_FASHION_MNIST: &str = "/usr/share/datasets/fashion-mnist";

impl DatasetKind {
    /// The data set's facts.
    pub fn facts(self) -> DataFacts {
        let ten_percent = ValSplit::Fraction(0.1);
        match self {
            DatasetKind::FashionMnist => DataFacts {
                classes: Some(10),
                mean: &[0.2860],
                std: &[0.3530],
                hflip: false,
                crop_padding: 0,
                default_path: DEBIAN_FASHION_MNIST,
                val_split: ten_percent,
            },
            DatasetKind::Mnist => DataFacts {
                classes: Some(10),
                mean: &[0.1307],
                std: &[0.3081],
                hflip: false,
                crop_padding: 0,
                default_path: "data/mnist",
                val_split: ten_percent,
            },
            // Either version, extracted or as the archive, in `data/` (see `cifar::locate`).
            DatasetKind::Cifar10 => DataFacts {
                classes: Some(10),
                mean: &[0.4914, 0.4822, 0.4465],
                std: &[0.2470, 0.2435, 0.2616],
                hflip: true,
                crop_padding: 4,
                default_path: "data",
                val_split: ten_percent,
            },
            DatasetKind::Cifar100 => DataFacts {
                classes: Some(100),
                mean: &[0.5071, 0.4865, 0.4409],
                std: &[0.2673, 0.2564, 0.2762],
                hflip: true,
                crop_padding: 4,
                default_path: "data",
                val_split: ten_percent,
            },
            DatasetKind::ImageFolder => DataFacts {
                classes: None,
                mean: &[0.485, 0.456, 0.406],
                std: &[0.229, 0.224, 0.225],
                hflip: true,
                crop_padding: 0,
                default_path: "data/imagenet",
                val_split: ValSplit::Count(0),
            },
        }
    }

    /// Classes of the standard data set (ImageNet's 1000 for image folders), for when the
    /// data are not read (`summary`, `bench`).
    pub fn standard_classes(self) -> usize {
        self.facts().classes.unwrap_or(1000)
    }
}

impl DataFacts {
    /// The statistics fed to `channels` network channels: the stored ones, grey statistics
    /// replicated when grey images feed three channels.
    pub fn stats_for(&self, channels: usize) -> (Vec<f64>, Vec<f64>) {
        let per_channel =
            |v: &[f64]| -> Vec<f64> { (0..channels).map(|c| v[c.min(v.len() - 1)]).collect() };
        (per_channel(self.mean), per_channel(self.std))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const ALL: [DatasetKind; 5] = [
        DatasetKind::FashionMnist,
        DatasetKind::Mnist,
        DatasetKind::Cifar10,
        DatasetKind::Cifar100,
        DatasetKind::ImageFolder,
    ];

    #[test]
    fn every_data_sets_statistics_are_grey_or_colour() {
        for kind in ALL {
            let f = kind.facts();
            assert!(matches!(f.mean.len(), 1 | 3), "{kind}");
            assert_eq!(f.std.len(), f.mean.len(), "{kind}");
            assert!(f.std.iter().all(|s| *s > 0.0), "{kind}");
        }
    }

    #[test]
    fn grey_statistics_are_replicated_for_three_channels() {
        let (mean, std) = DatasetKind::FashionMnist.facts().stats_for(3);
        assert_eq!(mean, [0.2860; 3]);
        assert_eq!(std, [0.3530; 3]);
        let (mean, _) = DatasetKind::Cifar10.facts().stats_for(3);
        assert_eq!(mean, [0.4914, 0.4822, 0.4465]);
    }
}
