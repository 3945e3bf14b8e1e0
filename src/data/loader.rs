//! A burn [`DataLoader`] that prepares batches off the training thread.
//!
//! Each epoch's order is a permutation drawn from (seed, epoch), and each image's augmentation
//! from (seed, epoch, image index), so a run is reproducible whatever the thread timing, and a
//! resumed run continues the same sequence ([`BatchLoader::set_epoch`]). A producer thread fills
//! a bounded queue; within a batch, images are decoded and augmented in parallel with rayon.

use std::collections::BTreeSet;
use std::path::PathBuf;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::mpsc::{Receiver, SyncSender, sync_channel};
use std::sync::{Arc, Mutex, OnceLock};

use burn::data::dataloader::{DataLoader, DataLoaderIterator, Progress};
use burn::data::dataset::DatasetError;
use burn::prelude::*;
use burn::tensor::TensorData;
use rand::SeedableRng;
use rand::rngs::StdRng;
use rand::seq::SliceRandom;
use rayon::prelude::*;

use super::{Pipeline, Split};
use crate::error::DataError;

/// Batches prepared ahead of the training step.
const PREFETCH: usize = 3;

/// A batch on the training device.
#[derive(Debug, Clone)]
pub struct ImageBatch {
    /// Normalised images, `[N, C, S, S]`.
    pub images: Tensor<4>,
    /// Class indices, `[N]`.
    pub targets: Tensor<1, Int>,
}

/// A batch on the host, before it reaches the device.
#[derive(Debug)]
struct HostBatch {
    pixels: Vec<f32>,
    labels: Vec<i64>,
    /// Images of the epoch this batch accounts for (skipped unreadable ones included).
    consumed: usize,
}

struct Shared {
    split: Split,
    pipeline: Pipeline,
    batch_size: usize,
    train: bool,
    seed: u64,
    pool: OnceLock<Option<Arc<rayon::ThreadPool>>>,
    workers: usize,
    /// The first data error met by the producer (the training loop only sees a generic
    /// interruption).
    failure: Mutex<Option<String>>,
    /// Unreadable images skipped so far (distinct files).
    bad: Mutex<BTreeSet<PathBuf>>,
    /// More distinct unreadable images than this fail the run.
    max_bad: usize,
}

/// How a [`BatchLoader`] reads its split.
#[derive(Debug, Clone, Copy)]
pub struct LoaderOptions {
    /// Images per batch.
    pub batch_size: usize,
    /// Shuffle and augment (training); otherwise keep the order, eval transform only.
    pub train: bool,
    /// Seed of the epoch orders and augmentations.
    pub seed: u64,
    /// Decode/augment threads; 0 = rayon's global pool.
    pub workers: usize,
    /// Unreadable images are logged, skipped and counted; more distinct ones than this fail
    /// the epoch.
    pub max_bad_images: usize,
}

/// The loader: a view `[start, end)` of a split, on a device.
#[derive(Clone)]
pub struct BatchLoader {
    shared: Arc<Shared>,
    /// Epochs started so far (the next `iter()` runs epoch `epoch + 1`); each slice counts
    /// its own, so the slices of a multi-device run stay in step.
    epoch: Arc<AtomicUsize>,
    device: Device,
    start: usize,
    end: usize,
}

/// Mixes numbers into one well-spread seed (splitmix64 finaliser).
pub fn mix_seed(parts: &[u64]) -> u64 {
    let mut h: u64 = 0x9E37_79B9_7F4A_7C15;
    for p in parts {
        h ^= p
            .wrapping_add(0x9E37_79B9_7F4A_7C15)
            .wrapping_add(h << 6)
            .wrapping_add(h >> 2);
        let mut z = h;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        h = z ^ (z >> 31);
    }
    h
}

impl BatchLoader {
    /// A loader over `split` on `device`.
    pub fn new(split: Split, pipeline: Pipeline, opts: LoaderOptions, device: Device) -> Self {
        let LoaderOptions {
            batch_size,
            train,
            seed,
            workers,
            max_bad_images: max_bad,
        } = opts;
        let end = split.len();
        BatchLoader {
            shared: Arc::new(Shared {
                split,
                pipeline,
                batch_size,
                train,
                seed,
                pool: OnceLock::new(),
                workers,
                failure: Mutex::new(None),
                bad: Mutex::new(BTreeSet::new()),
                max_bad,
            }),
            epoch: Arc::new(AtomicUsize::new(0)),
            device,
            start: 0,
            end,
        }
    }

    /// Sets the number of epochs already run, so that the next `iter()` produces epoch
    /// `epochs_done + 1` exactly as an uninterrupted run would.
    pub fn set_epoch(&self, epochs_done: usize) {
        self.epoch.store(epochs_done, Ordering::SeqCst);
    }

    /// The data error that stopped an epoch, if one did.
    pub fn failure(&self) -> Option<String> {
        self.shared
            .failure
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    /// Distinct unreadable images skipped so far.
    pub fn bad_images(&self) -> usize {
        self.shared
            .bad
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .len()
    }

    /// Number of batches per epoch.
    pub fn num_batches(&self) -> usize {
        (self.end - self.start).div_ceil(self.shared.batch_size)
    }

    /// Optimiser steps per epoch when burn-train splits the loader over `devices` devices
    /// (`split_dataloader`: equal slices, the remainder to the last): the last slice's batches.
    pub fn steps_per_epoch(&self, devices: usize) -> usize {
        let n = self.end - self.start;
        let devices = devices.max(1);
        let last = n - (devices - 1) * (n / devices);
        last.div_ceil(self.shared.batch_size)
    }

    /// The order of positions (into the split's indices) for `epoch` (1-based).
    fn order(&self, epoch: usize) -> Vec<usize> {
        let mut order: Vec<usize> = (self.start..self.end).collect();
        if self.shared.train {
            order.shuffle(&mut StdRng::seed_from_u64(mix_seed(&[
                self.shared.seed,
                epoch as u64,
                0x5348_5546, // "SHUF"
            ])));
        }
        order
    }
}

impl Shared {
    fn pool(&self) -> Option<Arc<rayon::ThreadPool>> {
        self.pool
            .get_or_init(|| {
                (self.workers > 0).then(|| {
                    Arc::new(
                        rayon::ThreadPoolBuilder::new()
                            .num_threads(self.workers)
                            .thread_name(|i| format!("vgg-data-{i}"))
                            .build()
                            .expect("a rayon pool with a positive thread count builds"),
                    )
                })
            })
            .clone()
    }

    /// Records an unreadable image; fails past the limit.
    fn skip_bad(&self, err: DataError) -> Result<(), DataError> {
        let Some(path) = err.image_path().map(PathBuf::from) else {
            return Err(err);
        };
        let mut bad = self.bad.lock().unwrap_or_else(|e| e.into_inner());
        if bad.insert(path.clone()) {
            eprintln!("warning: skipping unreadable image: {err}");
        }
        if bad.len() > self.max_bad {
            return Err(DataError::Format {
                path,
                message: format!(
                    "{} unreadable images, more than data.max_bad_images = {}; fix or remove them (the last: {err}), or raise data.max_bad_images",
                    bad.len(),
                    self.max_bad
                ),
            });
        }
        Ok(())
    }

    /// Decodes and augments the images at `positions` into one host batch, leaving out
    /// unreadable images (within the limit).
    fn prepare(&self, positions: &[usize], epoch: usize) -> Result<HostBatch, DataError> {
        let p = &self.pipeline;
        let per_image = p.channels * p.image_size * p.image_size;
        let mut pixels = vec![0f32; positions.len() * per_image];
        let fill = |pixels: &mut [f32]| -> Vec<Result<(), DataError>> {
            pixels
                .par_chunks_mut(per_image)
                .zip(positions.par_iter())
                .map(|(dst, pos)| {
                    let index = self.split.indices[*pos];
                    let mut rng =
                        StdRng::seed_from_u64(mix_seed(&[self.seed, epoch as u64, index as u64]));
                    p.apply(&self.split.images, index, self.train, &mut rng, dst)
                })
                .collect()
        };
        let statuses = match self.pool() {
            Some(pool) => pool.install(|| fill(&mut pixels)),
            None => fill(&mut pixels),
        };
        let mut kept = Vec::with_capacity(positions.len());
        for (k, status) in statuses.into_iter().enumerate() {
            match status {
                Ok(()) => kept.push(k),
                Err(e) => self.skip_bad(e)?,
            }
        }
        if kept.len() < positions.len() {
            for (slot, k) in kept.iter().enumerate() {
                pixels.copy_within(k * per_image..(k + 1) * per_image, slot * per_image);
            }
            pixels.truncate(kept.len() * per_image);
        }
        let labels = kept
            .iter()
            .map(|k| self.split.images.label(self.split.indices[positions[*k]]) as i64)
            .collect();
        Ok(HostBatch {
            pixels,
            labels,
            consumed: positions.len(),
        })
    }
}

struct BatchIter {
    rx: Receiver<Result<HostBatch, DataError>>,
    device: Device,
    shape: [usize; 3],
    processed: usize,
    total: usize,
}

impl Iterator for BatchIter {
    type Item = Result<ImageBatch, DatasetError>;

    fn next(&mut self) -> Option<Self::Item> {
        let host = match self.rx.recv().ok()? {
            Ok(host) => host,
            Err(e) => return Some(Err(DatasetError::new(e))),
        };
        let n = host.labels.len();
        self.processed += host.consumed;
        let [c, h, w] = self.shape;
        let images = Tensor::from_data(TensorData::new(host.pixels, [n, c, h, w]), &self.device);
        let targets = Tensor::from_data(TensorData::new(host.labels, [n]), &self.device);
        Some(Ok(ImageBatch { images, targets }))
    }
}

impl DataLoaderIterator<ImageBatch> for BatchIter {
    fn progress(&self) -> Progress {
        Progress::new(self.processed, self.total, Some("images".into()))
    }
}

fn produce(
    shared: Arc<Shared>,
    order: Vec<usize>,
    epoch: usize,
    tx: SyncSender<Result<HostBatch, DataError>>,
) {
    for chunk in order.chunks(shared.batch_size) {
        let batch = shared.prepare(chunk, epoch);
        if matches!(&batch, Ok(b) if b.labels.is_empty()) {
            continue; // every image of the batch was unreadable
        }
        let failed = batch.is_err();
        if let Err(e) = &batch {
            let mut slot = shared.failure.lock().unwrap_or_else(|e| e.into_inner());
            slot.get_or_insert_with(|| e.to_string());
        }
        // A closed channel means the consumer stopped early: nothing left to do.
        if tx.send(batch).is_err() || failed {
            return;
        }
    }
}

impl DataLoader<ImageBatch> for BatchLoader {
    fn iter<'a>(&'a self) -> Box<dyn DataLoaderIterator<ImageBatch> + 'a> {
        let epoch = self.epoch.fetch_add(1, Ordering::SeqCst) + 1;
        if self.shared.train {
            // Dropout draws from the device's generator: seeding it per epoch makes a resumed
            // run draw the same masks as an uninterrupted one.
            self.device
                .seed(mix_seed(&[self.shared.seed, epoch as u64, 0x4452_4f50]));
        }
        let order = self.order(epoch);
        let total = order.len();
        let (tx, rx) = sync_channel(PREFETCH);
        let shared = self.shared.clone();
        std::thread::Builder::new()
            .name("vgg-batches".into())
            .spawn(move || produce(shared, order, epoch, tx))
            .expect("spawning the batch producer thread");
        let p = &self.shared.pipeline;
        Box::new(BatchIter {
            rx,
            device: self.device.clone(),
            shape: [p.channels, p.image_size, p.image_size],
            processed: 0,
            total,
        })
    }

    fn num_items(&self) -> usize {
        self.end - self.start
    }

    fn to_device(&self, device: &Device) -> Arc<dyn DataLoader<ImageBatch>> {
        Arc::new(BatchLoader {
            device: device.clone(),
            ..self.clone()
        })
    }

    fn slice(&self, start: usize, end: usize) -> Arc<dyn DataLoader<ImageBatch>> {
        Arc::new(BatchLoader {
            epoch: Arc::new(AtomicUsize::new(self.epoch.load(Ordering::SeqCst))),
            start: self.start + start,
            end: (self.start + end).min(self.end),
            ..self.clone()
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::augment::Normalize;
    use crate::config::Fit;
    use crate::data::{Images, MemoryImages};

    fn loader(n: usize, train: bool) -> BatchLoader {
        let images = Images::Memory(MemoryImages {
            channels: 1,
            height: 32,
            width: 32,
            pixels: (0..n * 32 * 32).map(|i| (i / (32 * 32)) as u8).collect(),
            labels: (0..n).map(|i| (i % 10) as u16).collect(),
        });
        let pipeline = Pipeline {
            image_size: 32,
            channels: 1,
            fit: Fit::Pad,
            eval_resize: 32,
            train_scale: (32, 32),
            color_shift: 0.0,
            crop_padding: 4,
            hflip: true,
            normalize: Normalize {
                mean: vec![0.0],
                std: vec![1.0],
            },
        };
        let opts = LoaderOptions {
            batch_size: 4,
            train,
            seed: 7,
            workers: 0,
            max_bad_images: 0,
        };
        BatchLoader::new(Split::new(images, 0), pipeline, opts, Device::flex())
    }

    fn epoch_labels(l: &BatchLoader) -> Vec<i64> {
        l.iter()
            .flat_map(|b| {
                let b = b.unwrap();
                b.targets
                    .into_data()
                    .convert::<i64>()
                    .try_into_vec::<i64>()
                    .unwrap()
            })
            .collect()
    }

    #[test]
    fn eval_loader_keeps_order_and_covers_every_image_once() {
        let l = loader(10, false);
        assert_eq!(epoch_labels(&l), vec![0, 1, 2, 3, 4, 5, 6, 7, 8, 9]);
        assert_eq!(l.num_batches(), 3);
    }

    #[test]
    fn train_loader_reshuffles_each_epoch_reproducibly() {
        let l = loader(40, true);
        let e1 = epoch_labels(&l);
        let e2 = epoch_labels(&l);
        assert_ne!(e1, e2);
        let mut sorted = e1.clone();
        sorted.sort();
        assert_eq!(sorted.len(), 40);
        // A fresh loader told that one epoch is done produces epoch 2 again.
        let resumed = loader(40, true);
        resumed.set_epoch(1);
        assert_eq!(epoch_labels(&resumed), e2);
    }

    #[test]
    fn augmented_pixels_depend_on_seed_epoch_and_index_only() {
        let a = loader(8, true);
        let b = loader(8, true);
        let pa: Vec<f32> = a
            .iter()
            .next()
            .unwrap()
            .unwrap()
            .images
            .into_data()
            .try_into_vec()
            .unwrap();
        let pb: Vec<f32> = b
            .iter()
            .next()
            .unwrap()
            .unwrap()
            .images
            .into_data()
            .try_into_vec()
            .unwrap();
        assert_eq!(pa, pb);
    }

    #[test]
    fn slices_cover_disjoint_ranges() {
        let l = loader(10, false);
        let s = l.slice(4, 10);
        assert_eq!(s.num_items(), 6);
        let labels: Vec<i64> = s
            .iter()
            .flat_map(|b| {
                b.unwrap()
                    .targets
                    .into_data()
                    .convert::<i64>()
                    .try_into_vec::<i64>()
                    .unwrap()
            })
            .collect();
        assert_eq!(labels, vec![4, 5, 6, 7, 8, 9]);
    }
}
