//! A burn [`DataLoader`] that prepares batches off the training thread.
//!
//! Each epoch's order is a permutation drawn from (seed, epoch), and each image's augmentation
//! from (seed, epoch, image index), so a run is reproducible whatever the thread timing, and a
//! resumed run continues the same sequence ([`BatchLoader::set_epoch`]). A producer thread fills
//! a bounded queue; within a batch, images are decoded and augmented in parallel with rayon.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::mpsc::{Receiver, SyncSender, sync_channel};
use std::sync::{Arc, Mutex, OnceLock};

use burn::data::dataloader::{DataLoader, DataLoaderIterator, Progress};
use burn::data::dataset::DatasetError;
use burn::prelude::*;
use burn::tensor::TensorData;
use rayon::prelude::*;

use super::{Pipeline, Split};
use crate::error::DataError;
use crate::util::{data_rng, mix_seed, shuffle};

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

/// The loader: a view `[start, end)` of a split, on a device; on several devices, one strided
/// share of it.
#[derive(Clone)]
pub struct BatchLoader {
    shared: Arc<Shared>,
    /// Epochs started so far (the next `iter()` runs epoch `epoch + 1`); each share counts
    /// its own, so the shares of a multi-device run stay in step.
    epoch: Arc<AtomicUsize>,
    device: Device,
    start: usize,
    end: usize,
    /// Devices the loader is shared out to ([`BatchLoader::for_devices`]).
    devices: usize,
    /// This loader's share: images `i, i + n, i + 2n, …` of each epoch's order, `(i, n)`.
    share: Option<(usize, usize)>,
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
            devices: 1,
            share: None,
        }
    }

    /// Prepares the loader for burn-train's split over `devices` devices: each device's slice
    /// becomes a strided share of one global order per epoch (images `i, i + n, …`), so every
    /// device sees the whole split, every class included, and together the n batches of a step
    /// are the n·b images one device would take in one step of n·b. Each share gets
    /// `len / devices` images an epoch (the remainder, fewer than n, sits the epoch out).
    pub fn for_devices(mut self, devices: usize) -> Self {
        self.devices = devices.max(1);
        self
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
        self.images_per_epoch().div_ceil(self.shared.batch_size)
    }

    /// Images of an epoch of this loader (of its share, on several devices).
    fn images_per_epoch(&self) -> usize {
        let n = self.end - self.start;
        match self.share {
            Some((_, devices)) => n / devices,
            None => n,
        }
    }

    /// Optimiser steps per epoch (on several devices, each step takes one batch per device).
    pub fn steps_per_epoch(&self) -> usize {
        ((self.end - self.start) / self.devices.max(1)).div_ceil(self.shared.batch_size)
    }

    /// The order of positions (into the split's indices) for `epoch` (1-based): one
    /// permutation of the whole range per epoch, of which a share takes every n-th.
    fn order(&self, epoch: usize) -> Vec<usize> {
        let mut order: Vec<usize> = (self.start..self.end).collect();
        if self.shared.train {
            let seed = mix_seed(&[self.shared.seed, epoch as u64, 0x5348_5546]); // "SHUF"
            shuffle(&mut order, &mut data_rng(seed));
        }
        match self.share {
            Some((i, devices)) => order
                .into_iter()
                .skip(i)
                .step_by(devices)
                .take(self.images_per_epoch())
                .collect(),
            None => order,
        }
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
            crate::console::warning(format!("warning: skipping unreadable image: {err}"));
        }
        let total = self.split.len();
        if bad.len() >= total {
            let folder = path.parent().and_then(Path::parent).unwrap_or(&path);
            return Err(DataError::Format {
                path: folder.to_path_buf(),
                message: format!(
                    "every one of the split's {total} images is unreadable (the last: {err}); nothing to train or measure on: fix the images or set data.path to readable ones"
                ),
            });
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
                    let mut rng = data_rng(mix_seed(&[self.seed, epoch as u64, index as u64]));
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
    shared: Arc<Shared>,
    device: Device,
    shape: [usize; 3],
    processed: usize,
    total: usize,
    /// The epoch ended (normally or not): the iterator stays exhausted.
    finished: bool,
}

impl Iterator for BatchIter {
    type Item = Result<ImageBatch, DatasetError>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.finished {
            return None;
        }
        let host = match self.rx.recv() {
            // Every image of the batch was unreadable (and skipped): count them, go on.
            Ok(Ok(host)) if host.labels.is_empty() => {
                self.processed += host.consumed;
                return self.next();
            }
            Ok(Ok(host)) => host,
            Ok(Err(e)) => {
                self.finished = true;
                return Some(Err(DatasetError::new(e)));
            }
            Err(_) if self.processed < self.total => {
                // The producer is gone before the end of the epoch: never let a partial epoch
                // pass for a whole one.
                self.finished = true;
                let err = DataError::ShortEpoch {
                    consumed: self.processed,
                    total: self.total,
                };
                let mut slot = self
                    .shared
                    .failure
                    .lock()
                    .unwrap_or_else(|e| e.into_inner());
                slot.get_or_insert_with(|| err.to_string());
                return Some(Err(DatasetError::new(err)));
            }
            Err(_) => {
                self.finished = true;
                return None;
            }
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
            shared: self.shared.clone(),
            device: self.device.clone(),
            shape: [p.channels, p.image_size, p.image_size],
            processed: 0,
            total,
            finished: false,
        })
    }

    fn num_items(&self) -> usize {
        self.images_per_epoch()
    }

    fn to_device(&self, device: &Device) -> Arc<dyn DataLoader<ImageBatch>> {
        Arc::new(BatchLoader {
            device: device.clone(),
            ..self.clone()
        })
    }

    fn slice(&self, start: usize, end: usize) -> Arc<dyn DataLoader<ImageBatch>> {
        let epoch = Arc::new(AtomicUsize::new(self.epoch.load(Ordering::SeqCst)));
        if self.devices > 1 && self.share.is_none() {
            // burn-train's `split_dataloader` asks device i for [i·(n/d), (i+1)·(n/d)): give it
            // share i of the whole range instead.
            let step = ((self.end - self.start) / self.devices).max(1);
            let i = (start / step).min(self.devices - 1);
            return Arc::new(BatchLoader {
                epoch,
                share: Some((i, self.devices)),
                ..self.clone()
            });
        }
        Arc::new(BatchLoader {
            epoch,
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

    fn labels_of(l: &dyn DataLoader<ImageBatch>) -> Vec<i64> {
        l.iter()
            .flat_map(|b| {
                b.unwrap()
                    .targets
                    .into_data()
                    .convert::<i64>()
                    .try_into_vec::<i64>()
                    .unwrap()
            })
            .collect()
    }

    /// Images listed class by class (as image folders are): every device must still see every
    /// class, and the devices together one epoch of the one-device order.
    #[test]
    fn device_shares_are_strided_over_one_order_and_span_every_class() {
        let n = 400;
        let images = Images::Memory(MemoryImages {
            channels: 1,
            height: 32,
            width: 32,
            pixels: vec![0; n * 32 * 32],
            labels: (0..n).map(|i| (i / 40) as u16).collect(), // 10 classes, sorted
        });
        let mk = || {
            let base = loader(1, true);
            BatchLoader::new(
                Split::new(images.clone(), 0),
                base.shared.pipeline.clone(),
                LoaderOptions {
                    batch_size: 4,
                    train: true,
                    seed: 3,
                    workers: 0,
                    max_bad_images: 0,
                },
                Device::flex(),
            )
        };
        let one = labels_of(&mk());
        let two = mk().for_devices(2);
        assert_eq!(two.steps_per_epoch(), 50);
        // burn-train's split_dataloader asks for [0, 200) and [200, 400): contiguous halves
        // would give each device five classes.
        let (a, b) = (two.slice(0, 200), two.slice(200, 400));
        assert_eq!((a.num_items(), b.num_items()), (200, 200));
        let (la, lb) = (labels_of(a.as_ref()), labels_of(b.as_ref()));
        for share in [&la, &lb] {
            let mut classes = share.clone();
            classes.sort();
            classes.dedup();
            assert_eq!(classes.len(), 10, "{share:?}");
        }
        // Step k of the pair is batch k of one device at twice the batch size.
        for k in 0..50 {
            let mut pair: Vec<i64> = [&la[4 * k..4 * k + 4], &lb[4 * k..4 * k + 4]].concat();
            let mut single = one[8 * k..8 * k + 8].to_vec();
            pair.sort();
            single.sort();
            assert_eq!(pair, single, "step {k}");
        }
    }

    #[test]
    fn an_epoch_cut_short_by_the_producer_is_an_error_not_an_end() {
        let l = loader(10, false);
        let (tx, rx) = sync_channel(1);
        // A producer that delivers one batch of 4 images and dies.
        tx.send(Ok(HostBatch {
            pixels: vec![0.0; 4 * 32 * 32],
            labels: vec![0; 4],
            consumed: 4,
        }))
        .unwrap();
        drop(tx);
        let mut it = BatchIter {
            rx,
            shared: l.shared.clone(),
            device: Device::flex(),
            shape: [1, 32, 32],
            processed: 0,
            total: 10,
            finished: false,
        };
        assert!(it.next().unwrap().is_ok());
        let err = it.next().unwrap().unwrap_err().to_string();
        assert!(err.contains("after 4 of the epoch's 10 images"), "{err}");
        assert!(it.next().is_none());
        assert!(l.failure().unwrap().contains("4 of the epoch's 10"));
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
