//! Data sets: readers for each format, the train/val splits with deterministic subsets, and the
//! per-item pipeline (decode → geometry → augmentation → normalisation).

pub mod cifar;
pub mod folder;
pub mod idx;
pub mod loader;
pub mod pickle;
mod pipeline;
mod shape;
mod split;

use std::path::{Path, PathBuf};
use std::sync::Arc;

use crate::config::{AugmentConfig, DataConfig, DatasetKind};
use crate::error::DataError;
pub use loader::{BatchLoader, ImageBatch, LoaderOptions};
pub use pipeline::{Pipeline, normalization, pipeline};
pub use shape::{num_classes, shape};
pub use split::{Images, MemoryImages, Split, hold_out, subset_indices};

pub use crate::config::DEBIAN_FASHION_MNIST;

/// A data set ready for training: its splits, the pipeline, and its shape.
#[derive(Debug, Clone)]
pub struct DataSet {
    /// Which data set it is.
    pub kind: DatasetKind,
    /// Where it was read from.
    pub path: PathBuf,
    /// Training split.
    pub train: Split,
    /// Validation split, which picks the best epoch and drives the plateau schedule: held out
    /// of the training images (`data.val_split`), or the test split itself when none is held
    /// out.
    pub val: Split,
    /// Test split, which `results.csv` reports: the official test set (IDX, CIFAR), or `val/`
    /// (image folders: ILSVRC's validation set, the paper's test set).
    pub test: Split,
    /// Whether `val` is held out of the training images (false: it is `test`).
    pub held_out: bool,
    /// Number of classes.
    pub num_classes: usize,
    /// Preprocessing.
    pub pipeline: Pipeline,
}

impl DataSet {
    /// The test scale Q of the validation run during training: `data.resize` for image
    /// folders (256 for 224 crops), `data.image_size` for in-memory data sets.
    pub fn default_test_scale(&self) -> usize {
        match *self.test.images {
            Images::Folder(_) => self.pipeline.eval_resize,
            Images::Memory(_) => self.pipeline.image_size,
        }
    }
}

fn idx_hint(kind: DatasetKind) -> &'static str {
    match kind {
        DatasetKind::FashionMnist => {
            "install it with `apt-get install dataset-fashion-mnist` (Debian), or set data.path to a directory with the four *-ubyte.gz files of Zalando's Fashion-MNIST"
        }
        _ => {
            "set data.path to a directory with the four MNIST files (train-images-idx3-ubyte.gz, train-labels-idx1-ubyte.gz, t10k-images-idx3-ubyte.gz, t10k-labels-idx1-ubyte.gz)"
        }
    }
}

/// The configured data set's directory, or the error saying where to get it.
fn existing_path(cfg: &DataConfig) -> Result<PathBuf, DataError> {
    let path = cfg.resolved_path();
    if path.exists() {
        return Ok(path);
    }
    let hint = match cfg.dataset {
        DatasetKind::FashionMnist | DatasetKind::Mnist => idx_hint(cfg.dataset).to_string(),
        DatasetKind::Cifar10 | DatasetKind::Cifar100 => {
            cifar::source::hint(cifar::Cifar::of(cfg.dataset))
        }
        DatasetKind::ImageFolder => {
            "set data.path to a directory holding train/<class>/ and val/<class>/ folders"
                .to_string()
        }
    };
    Err(DataError::Missing { path, hint })
}

/// The test images of the data set at `path`, and its number of classes. Image folders are
/// not listed under `train/` (1.28 M files for ImageNet): the classes are its folder names,
/// or, for a copy that holds only `val/`, those of `val/` (its class folders, or the labels of
/// its labels file).
fn read_test(cfg: &DataConfig, path: &Path) -> Result<(Images, usize), DataError> {
    Ok(match cfg.dataset {
        DatasetKind::FashionMnist | DatasetKind::Mnist => (
            Images::Memory(idx::read_split(path, "t10k", idx_hint(cfg.dataset))?),
            10,
        ),
        DatasetKind::Cifar10 | DatasetKind::Cifar100 => {
            let which = cifar::Cifar::of(cfg.dataset);
            (
                Images::Memory(cifar::read_split(path, which, false)?),
                which.classes(),
            )
        }
        DatasetKind::ImageFolder => {
            let classes = folder::class_list(path)?;
            let n = classes.len();
            (Images::Folder(folder::list_val(path, &classes)?), n)
        }
    })
}

/// The training images of the data set at `path`.
fn read_train(cfg: &DataConfig, path: &Path) -> Result<Images, DataError> {
    Ok(match cfg.dataset {
        DatasetKind::FashionMnist | DatasetKind::Mnist => {
            Images::Memory(idx::read_split(path, "train", idx_hint(cfg.dataset))?)
        }
        DatasetKind::Cifar10 | DatasetKind::Cifar100 => Images::Memory(cifar::read_split(
            path,
            cifar::Cifar::of(cfg.dataset),
            true,
        )?),
        DatasetKind::ImageFolder => {
            let classes = folder::class_names(&path.join("train"))?;
            Images::Folder(folder::list_split(&path.join("train"), &classes)?)
        }
    })
}

/// The test split alone, for evaluation and prediction (training and validation splits
/// empty): what `vgg-train eval` needs, on a copy of the data that holds only the test images.
pub fn load_test(cfg: &DataConfig, augment: &AugmentConfig) -> Result<DataSet, DataError> {
    let path = existing_path(cfg)?;
    let (test_images, num_classes) = read_test(cfg, &path)?;
    let test = Split::new(test_images, cfg.effective_test_limit());
    Ok(DataSet {
        kind: cfg.dataset,
        path,
        train: Split::of(test.images.clone(), Vec::new(), 0),
        val: test.clone(),
        test,
        held_out: false,
        num_classes,
        pipeline: pipeline(cfg, augment),
    })
}

/// Reads the configured data set (nothing is downloaded) and builds its pipeline.
pub fn load(cfg: &DataConfig, augment: &AugmentConfig) -> Result<DataSet, DataError> {
    let path = existing_path(cfg)?;
    let train = read_train(cfg, &path)?;
    let (test_images, num_classes) = read_test(cfg, &path)?;
    let pipeline = pipeline(cfg, augment);
    let held = cfg.effective_val_split().images(train.len());
    let (train, val, test) = if held == 0 {
        // Nothing held out: the test split validates (biased; the README says so).
        let test = Split::new(test_images, cfg.effective_test_limit());
        (Split::new(train, cfg.train_limit), test.clone(), test)
    } else {
        let (train_idx, val_idx) = hold_out(train.len(), held);
        let train = Arc::new(train);
        (
            Split::of(train.clone(), train_idx, cfg.train_limit),
            Split::of(train, val_idx, cfg.val_limit),
            Split::new(test_images, cfg.test_limit),
        )
    };
    if train.is_empty() {
        return Err(DataError::Format {
            path: path.clone(),
            message: format!(
                "no training images left after holding out data.val_split = {held} for validation; lower data.val_split"
            ),
        });
    }
    Ok(DataSet {
        kind: cfg.dataset,
        path,
        train,
        val,
        test,
        held_out: held > 0,
        num_classes,
        pipeline,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn subsets_are_deterministic_sorted_and_unique() {
        let a = subset_indices(1000, 100);
        assert_eq!(a, subset_indices(1000, 100));
        assert_eq!(a.len(), 100);
        assert!(a.windows(2).all(|w| w[0] < w[1]));
        assert!(*a.last().unwrap() < 1000);
        // Not just the first 100 images.
        assert!(*a.last().unwrap() > 100);
    }

    #[test]
    fn limit_zero_or_above_the_size_keeps_everything() {
        let images = Images::Memory(MemoryImages {
            channels: 1,
            height: 1,
            width: 1,
            pixels: vec![0; 5],
            labels: vec![0; 5],
        });
        assert_eq!(Split::new(images.clone(), 0).len(), 5);
        assert_eq!(Split::new(images.clone(), 9).len(), 5);
        assert_eq!(Split::new(images, 3).len(), 3);
    }

    #[test]
    fn missing_fashion_mnist_says_how_to_install_it() {
        let cfg = DataConfig {
            dataset: DatasetKind::FashionMnist,
            path: PathBuf::from("/nonexistent/fmnist"),
            ..DataConfig::default()
        };
        let err = load(&cfg, &AugmentConfig::default())
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("/nonexistent/fmnist") && err.contains("dataset-fashion-mnist"),
            "{err}"
        );
    }
}
