//! Unit tests of the parent module.

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
    assert!(
        l.failure()
            .unwrap()
            .to_string()
            .contains("4 of the epoch's 10")
    );
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
