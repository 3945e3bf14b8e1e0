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
    failure: Mutex<Option<Arc<DataError>>>,
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
    pub fn failure(&self) -> Option<Arc<DataError>> {
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
    rx: Receiver<Result<HostBatch, Arc<DataError>>>,
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
                let err = Arc::new(DataError::ShortEpoch {
                    consumed: self.processed,
                    total: self.total,
                });
                let mut slot = self
                    .shared
                    .failure
                    .lock()
                    .unwrap_or_else(|e| e.into_inner());
                slot.get_or_insert_with(|| err.clone());
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
    tx: SyncSender<Result<HostBatch, Arc<DataError>>>,
) {
    for chunk in order.chunks(shared.batch_size) {
        // Shared: the consumer reports it to burn, the slot keeps it for the run's error.
        let batch = shared.prepare(chunk, epoch).map_err(Arc::new);
        let failed = batch.is_err();
        if let Err(e) = &batch {
            let mut slot = shared.failure.lock().unwrap_or_else(|e| e.into_inner());
            slot.get_or_insert_with(|| e.clone());
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
mod tests;
