//! The images of a data set and its splits: which images a run trains, validates and tests on,
//! chosen by fixed permutations so that every run and seed sees the same ones.

use std::sync::Arc;

use super::folder;
use crate::augment::Img;
use crate::util::{data_rng, shuffle};

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
    pub(super) fn image(&self, i: usize) -> Img {
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
