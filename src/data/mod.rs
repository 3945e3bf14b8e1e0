//! Data sets: readers for each format, the train/val splits with deterministic subsets, and the
//! per-item pipeline (decode → geometry → augmentation → normalisation).

pub mod cifar;
pub mod folder;
pub mod idx;
pub mod loader;

use std::path::{Path, PathBuf};
use std::sync::Arc;

use rand::RngExt;

use crate::augment::{self, Crop, Img, Normalize};
use crate::config::{AugmentConfig, DataConfig, DatasetKind, Fit, Scale};
use crate::error::DataError;
use crate::util::{DataRng, data_rng, shuffle};
pub use loader::{BatchLoader, ImageBatch, LoaderOptions};

/// Where Debian's `dataset-fashion-mnist` package puts the gzipped IDX files.
pub const DEBIAN_FASHION_MNIST: &str = "/usr/share/datasets/fashion-mnist";

/// Images held in memory, planar 8-bit, all of one size.
#[derive(Debug, Clone, PartialEq)]
pub struct MemoryImages {
    /// Channels per image.
    pub channels: usize,
    /// Rows per image.
    pub height: usize,
    /// Columns per image.
    pub width: usize,
    /// `len * channels * height * width` bytes, image after image.
    pub pixels: Vec<u8>,
    /// Class index per image.
    pub labels: Vec<u16>,
}

impl MemoryImages {
    fn image(&self, i: usize) -> Img {
        let n = self.channels * self.height * self.width;
        Img {
            channels: self.channels,
            height: self.height,
            width: self.width,
            data: self.pixels[i * n..(i + 1) * n].to_vec(),
        }
    }
}

/// The images of one split.
#[derive(Debug, Clone, PartialEq)]
pub enum Images {
    /// Decoded once, kept in memory (IDX, CIFAR).
    Memory(MemoryImages),
    /// Decoded on demand in the loader's workers (image folders).
    Folder(folder::FolderImages),
}

impl Images {
    /// Number of images.
    pub fn len(&self) -> usize {
        match self {
            Images::Memory(m) => m.labels.len(),
            Images::Folder(f) => f.items.len(),
        }
    }

    /// Whether there are no images.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Class index of image `i`.
    pub fn label(&self, i: usize) -> usize {
        match self {
            Images::Memory(m) => m.labels[i] as usize,
            Images::Folder(f) => f.items[i].1,
        }
    }
}

/// One split after subset selection: shared images and the indices in use.
#[derive(Debug, Clone)]
pub struct Split {
    /// All images the split draws from (the whole training set for a held-out split).
    pub images: Arc<Images>,
    /// Indices of the images in use, ascending.
    pub indices: Vec<usize>,
}

impl Split {
    /// Uses every image, or a deterministic subset of `limit` images when `limit > 0`.
    pub fn new(images: Images, limit: usize) -> Split {
        let all = (0..images.len()).collect();
        Split::of(Arc::new(images), all, limit)
    }

    /// The images `indices` of `images`, or a deterministic subset of `limit` of them when
    /// `limit > 0`: the first `limit` of a fixed permutation (seed 0), sorted. The same for
    /// every run and seed, so configurations are compared on the same images.
    pub fn of(images: Arc<Images>, indices: Vec<usize>, limit: usize) -> Split {
        let indices = if limit == 0 || limit >= indices.len() {
            indices
        } else {
            subset_indices(indices.len(), limit)
                .into_iter()
                .map(|k| indices[k])
                .collect()
        };
        Split { images, indices }
    }

    /// Number of images in use.
    pub fn len(&self) -> usize {
        self.indices.len()
    }

    /// Whether no image is in use.
    pub fn is_empty(&self) -> bool {
        self.indices.is_empty()
    }
}

/// `limit` positions out of `0..n`, chosen by a fixed permutation and returned sorted.
pub fn subset_indices(n: usize, limit: usize) -> Vec<usize> {
    let mut all: Vec<usize> = (0..n).collect();
    shuffle(&mut all, &mut data_rng(0));
    let mut chosen = all[..limit.min(n)].to_vec();
    chosen.sort_unstable();
    chosen
}

/// The training images cut in two by a fixed permutation (independent of the run's seed):
/// `held` of them for validation, the rest for training; both sorted.
pub fn hold_out(n: usize, held: usize) -> (Vec<usize>, Vec<usize>) {
    let mut all: Vec<usize> = (0..n).collect();
    // A stream of its own, so that a held-out split never lines up with a `train_limit` subset.
    shuffle(&mut all, &mut data_rng(0x5641_4C00)); // "VAL"
    let held = held.min(n);
    let mut val = all[..held].to_vec();
    let mut train = all[held..].to_vec();
    val.sort_unstable();
    train.sort_unstable();
    (train, val)
}

/// Everything the pipeline needs to turn one stored image into network input.
#[derive(Debug, Clone)]
pub struct Pipeline {
    /// Side of the square output.
    pub image_size: usize,
    /// Channels of the output (1 or 3).
    pub channels: usize,
    /// Grey 28×28 sources: pad or resize to `image_size`.
    pub fit: Fit,
    /// Image folders: shorter side at evaluation before the centre crop.
    pub eval_resize: usize,
    /// Image folders: shorter side before the random crop at training, drawn from
    /// `[min, max]` per image (min = max for a fixed scale).
    pub train_scale: (usize, usize),
    /// Training: standard deviation of the PCA colour shift (0 = off).
    pub color_shift: f64,
    /// Training: zero padding before the random crop.
    pub crop_padding: usize,
    /// Training: random horizontal flips.
    pub hflip: bool,
    /// Normalisation.
    pub normalize: Normalize,
}

impl Pipeline {
    /// Image `i` before any test-time rescale: decoded (image folders), or brought to
    /// `image_size` by `fit` (in-memory data sets).
    pub fn base_image(&self, images: &Images, i: usize) -> Result<Img, DataError> {
        match images {
            Images::Memory(m) => Ok(augment::fit_to(m.image(i), self.image_size, self.fit)),
            Images::Folder(f) => Ok(Img::from_rgb(&folder::decode_rgb(&f.items[i].0)?)),
        }
    }

    /// Loads image `i` of `images` and writes it into `dst`, augmented when `train`.
    pub fn apply(
        &self,
        images: &Images,
        i: usize,
        train: bool,
        rng: &mut DataRng,
        dst: &mut [f32],
    ) -> Result<(), DataError> {
        let s = self.image_size;
        let mut offset = vec![0f32; self.channels];
        let (img, crop) = match images {
            Images::Memory(m) => {
                let img = augment::fit_to(m.image(i), s, self.fit);
                let crop = if train {
                    Crop::random(s, s, s, self.crop_padding, self.hflip, rng)
                } else {
                    Crop::center(s, s, s)
                };
                (img, crop)
            }
            Images::Folder(f) => {
                // Straight from the decoder's interleaved pixels into the batch buffer.
                let rgb = folder::decode_rgb(&f.items[i].0)?;
                let shorter = match (train, self.train_scale) {
                    (false, _) => self.eval_resize,
                    (true, (lo, hi)) if lo < hi => rng.random_range(lo..=hi),
                    (true, (lo, _)) => lo,
                };
                let (w, h) = augment::shorter_side_dims(
                    rgb.width() as usize,
                    rgb.height() as usize,
                    shorter,
                );
                let crop = if train {
                    Crop::random(h, w, s, 0, self.hflip, rng)
                } else {
                    Crop::center(h, w, s)
                };
                if train && self.color_shift > 0.0 {
                    offset = augment::pca_color_shift(self.color_shift, rng).to_vec();
                }
                // Only the crop's window is rescaled.
                let window = augment::resize_shorter_crop(&rgb, shorter, crop.top, crop.left, s);
                let at_origin = Crop {
                    top: 0,
                    left: 0,
                    ..crop
                };
                augment::write_normalized_rgb(&window, at_origin, s, &self.normalize, &offset, dst);
                return Ok(());
            }
        };
        if train && self.color_shift > 0.0 && self.channels == 3 {
            offset = augment::pca_color_shift(self.color_shift, rng).to_vec();
        }
        augment::write_normalized(&img, crop, s, &self.normalize, &offset, self.channels, dst);
        Ok(())
    }
}

/// A data set ready for training: its splits, the pipeline, and its shape.
#[derive(Debug, Clone)]
pub struct DataSet {
    /// Name, e.g. `fashion-mnist`.
    pub name: &'static str,
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

/// Mean and std per channel of the standard data sets (in [0, 1]).
fn default_stats(kind: DatasetKind) -> (Vec<f64>, Vec<f64>) {
    match kind {
        DatasetKind::FashionMnist => (vec![0.2860], vec![0.3530]),
        DatasetKind::Mnist => (vec![0.1307], vec![0.3081]),
        DatasetKind::Cifar10 => (vec![0.4914, 0.4822, 0.4465], vec![0.2470, 0.2435, 0.2616]),
        DatasetKind::Cifar100 => (vec![0.5071, 0.4865, 0.4409], vec![0.2673, 0.2564, 0.2762]),
        // ImageNet's, as torchvision.
        DatasetKind::ImageFolder => (vec![0.485, 0.456, 0.406], vec![0.229, 0.224, 0.225]),
    }
}

/// The per-channel normalisation of `cfg` (the data set's statistics unless `data.mean`/`data.std`).
pub fn normalization(cfg: &DataConfig) -> Normalize {
    let (mut mean, mut std) = default_stats(cfg.dataset);
    if !cfg.mean.is_empty() {
        mean = cfg.mean.clone();
    }
    if !cfg.std.is_empty() {
        std = cfg.std.clone();
    }
    // Grey statistics serve all three replicated channels.
    let per_channel = |v: Vec<f64>| -> Vec<f32> {
        (0..cfg.channels)
            .map(|c| v[c.min(v.len() - 1)] as f32)
            .collect()
    };
    Normalize {
        mean: per_channel(mean),
        std: per_channel(std),
    }
}

/// The configured data set's path, or its default location.
pub fn data_path(cfg: &DataConfig) -> PathBuf {
    if !cfg.path.as_os_str().is_empty() {
        return cfg.path.clone();
    }
    match cfg.dataset {
        DatasetKind::FashionMnist => PathBuf::from(DEBIAN_FASHION_MNIST),
        DatasetKind::Mnist => PathBuf::from("data/mnist"),
        DatasetKind::Cifar10 => PathBuf::from("data/cifar-10-batches-bin"),
        DatasetKind::Cifar100 => PathBuf::from("data/cifar-100-binary"),
        DatasetKind::ImageFolder => PathBuf::from("data/imagenet"),
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
    let path = data_path(cfg);
    if path.exists() {
        return Ok(path);
    }
    let hint = match cfg.dataset {
        DatasetKind::FashionMnist | DatasetKind::Mnist => idx_hint(cfg.dataset).to_string(),
        DatasetKind::Cifar10 | DatasetKind::Cifar100 => {
            "download the binary version from https://www.cs.toronto.edu/~kriz/cifar.html and set data.path to its extracted directory".to_string()
        }
        DatasetKind::ImageFolder => {
            "set data.path to a directory holding train/<class>/ and val/<class>/ folders".to_string()
        }
    };
    Err(DataError::Missing { path, hint })
}

/// The default eval rescale of image folders: `data.resize`, or 8/7 of the crop (256 for 224).
pub fn eval_resize(cfg: &DataConfig) -> usize {
    if cfg.resize == 0 {
        cfg.image_size * 8 / 7
    } else {
        cfg.resize
    }
}

/// The preprocessing of `cfg` and `augment`.
pub fn pipeline(cfg: &DataConfig, augment: &AugmentConfig) -> Pipeline {
    let colour = matches!(
        cfg.dataset,
        DatasetKind::Cifar10 | DatasetKind::Cifar100 | DatasetKind::ImageFolder
    );
    let cifar = matches!(cfg.dataset, DatasetKind::Cifar10 | DatasetKind::Cifar100);
    let eval_resize = eval_resize(cfg);
    Pipeline {
        image_size: cfg.image_size,
        channels: cfg.channels,
        fit: cfg.fit,
        eval_resize,
        train_scale: match augment.scale {
            Scale::Fixed(0) => (eval_resize, eval_resize),
            Scale::Fixed(s) => (s, s),
            Scale::Jitter([lo, hi]) => (lo, hi),
        },
        color_shift: augment.color_shift,
        crop_padding: augment.crop_padding.unwrap_or(if cifar { 4 } else { 0 }),
        hflip: augment.hflip.unwrap_or(colour),
        normalize: normalization(cfg),
    }
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
        name: cfg.dataset.name(),
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
        name: cfg.dataset.name(),
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
