//! The views of §3.2 turned into class posteriors: each image of a chunk at each test scale
//! Q as a centre crop, as a whole image through the fully-convolutional net (mirror averaged
//! in), or as the multi-crop grid; the protocols in [`super`] average these.
//!
//! Posteriors are kept as f64 log-probabilities computed from the logits, and averaged in that
//! form (the log of the mean probability): f32 softmax values of unlikely classes round to 0
//! and would tie, and ties would favour low class indices.

use burn::prelude::*;
use rayon::prelude::*;

use super::EvalPlan;
use super::dense::DenseHead;
use super::views;
use crate::augment::{self, Crop, Img};
use crate::data::Pipeline;
use crate::model::Vgg;

/// A way of looking at one image at one scale, giving one softmax vector.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum View {
    /// The centre `image_size` crop.
    Center,
    /// The whole image through the fully-convolutional net (mirror averaged in).
    Dense,
    /// The 5×5 grid of crops (× 2 flips), averaged.
    Crops,
}

/// Posteriors of one image: `[view][scale]` → log-probabilities over classes (empty when not
/// needed).
pub(super) type Posteriors = [Vec<Vec<f64>>; 3];

/// Where `view` sits in [`Posteriors`].
pub(super) fn view_index(view: View) -> usize {
    match view {
        View::Center => 0,
        View::Dense => 1,
        View::Crops => 2,
    }
}

/// The log of the element-wise mean probability of equally long log-probability vectors
/// (computed stably: `m + ln(mean(exp(l - m)))` per class).
pub(super) fn mean<'a>(vectors: impl IntoIterator<Item = &'a Vec<f64>>) -> Vec<f64> {
    let vectors: Vec<&Vec<f64>> = vectors.into_iter().collect();
    let Some(first) = vectors.first() else {
        return Vec::new();
    };
    (0..first.len())
        .map(|c| {
            let m = vectors
                .iter()
                .map(|v| v[c])
                .fold(f64::NEG_INFINITY, f64::max);
            if m == f64::NEG_INFINITY {
                return m;
            }
            let s: f64 = vectors.iter().map(|v| (v[c] - m).exp()).sum();
            m + (s / vectors.len() as f64).ln()
        })
        .collect()
}

/// Log-softmax of one row of logits, in f64.
pub(super) fn log_softmax(logits: &[f32]) -> Vec<f64> {
    let m = logits
        .iter()
        .map(|&v| v as f64)
        .fold(f64::NEG_INFINITY, f64::max);
    let lse = m + logits
        .iter()
        .map(|&v| (v as f64 - m).exp())
        .sum::<f64>()
        .ln();
    logits.iter().map(|&v| v as f64 - lse).collect()
}

/// Softmax posteriors of every needed view at every scale, for a chunk of images.
pub(super) fn posteriors_of(
    model: &Vgg,
    head: Option<&DenseHead>,
    images: &[(usize, Img)],
    pipeline: &Pipeline,
    plan: &EvalPlan,
    device: &Device,
) -> Vec<Posteriors> {
    let mut out: Vec<Posteriors> = vec![Default::default(); images.len()];
    for &q in &plan.scales {
        let scaled: Vec<Img> = images
            .par_iter()
            .map(|(_, img)| img.resize_shorter(q))
            .collect();
        if plan.needs(View::Center) {
            let crops: Vec<Vec<Crop>> = scaled
                .iter()
                .map(|img| vec![Crop::center(img.height, img.width, pipeline.image_size)])
                .collect();
            let probs = crop_posteriors(model, &scaled, &crops, pipeline, plan.batch_size, device);
            push(&mut out, View::Center, probs);
        }
        if let Some(head) = head {
            let probs = dense_posteriors(
                model,
                head,
                &scaled,
                pipeline,
                plan.flip,
                plan.batch_size,
                device,
            );
            push(&mut out, View::Dense, probs);
        }
        if plan.needs(View::Crops) {
            let crops: Vec<Vec<Crop>> = scaled
                .iter()
                .map(|img| views::grid_crops(img.height, img.width, pipeline.image_size, plan.flip))
                .collect();
            let probs = crop_posteriors(model, &scaled, &crops, pipeline, plan.batch_size, device);
            push(&mut out, View::Crops, probs);
        }
    }
    out
}

fn push(out: &mut [Posteriors], view: View, probs: Vec<Vec<f64>>) {
    for (post, p) in out.iter_mut().zip(probs) {
        post[view_index(view)].push(p);
    }
}

/// Log-probability rows of a `[n, c, h, w]` input.
fn forward_log_probs(
    model: &Vgg,
    input: Vec<f32>,
    shape: [usize; 4],
    device: &Device,
) -> Vec<Vec<f64>> {
    let x = Tensor::<4>::from_data(TensorData::new(input, shape), device);
    rows_of(model.forward(x))
}

/// The log-softmax of each row of `[n, classes]` logits.
fn rows_of(logits: Tensor<2>) -> Vec<Vec<f64>> {
    let [_, k] = logits.dims();
    let values = logits
        .into_data()
        .convert::<f32>()
        .try_into_vec::<f32>()
        .expect("converted to f32");
    values.chunks(k.max(1)).map(log_softmax).collect()
}

/// Each image's crops through the standard network, their posteriors averaged per image;
/// crops are batched across images, at most `batch` per forward pass.
fn crop_posteriors(
    model: &Vgg,
    images: &[Img],
    crops: &[Vec<Crop>],
    pipeline: &Pipeline,
    batch: usize,
    device: &Device,
) -> Vec<Vec<f64>> {
    let (s, c) = (pipeline.image_size, pipeline.channels);
    let per = c * s * s;
    let jobs: Vec<(usize, Crop)> = crops
        .iter()
        .enumerate()
        .flat_map(|(i, cs)| cs.iter().map(move |&crop| (i, crop)))
        .collect();
    let mut per_image: Vec<Vec<Vec<f64>>> = vec![Vec::new(); images.len()];
    for slice in jobs.chunks(batch.max(1)) {
        let mut input = vec![0f32; slice.len() * per];
        input
            .par_chunks_mut(per)
            .zip(slice.par_iter())
            .for_each(|(dst, &(i, crop))| {
                augment::write_normalized(&images[i], crop, s, &pipeline.normalize, &[], c, dst);
            });
        let rows = forward_log_probs(model, input, [slice.len(), c, s, s], device);
        for (row, &(i, _)) in rows.into_iter().zip(slice) {
            per_image[i].push(row);
        }
    }
    per_image.iter().map(|views| mean(views.iter())).collect()
}

/// Dense evaluation of each image (and its mirror): the class-score map averaged, then the
/// softmax, then the two posteriors averaged. Images of equal size share forward passes of at
/// most `batch` images (a mirror counts as one).
fn dense_posteriors(
    model: &Vgg,
    head: &DenseHead,
    images: &[Img],
    pipeline: &Pipeline,
    flip: bool,
    batch: usize,
    device: &Device,
) -> Vec<Vec<f64>> {
    let c = pipeline.channels;
    let flips: &[bool] = if flip { &[false, true] } else { &[false] };
    let mut views: Vec<Vec<Vec<f64>>> = vec![Vec::new(); images.len()];
    let mut order: Vec<usize> = (0..images.len()).collect();
    order.sort_by_key(|&i| (images[i].height, images[i].width));
    for group in order.chunk_by(|&a, &b| {
        (images[a].height, images[a].width) == (images[b].height, images[b].width)
    }) {
        let (h, w) = (images[group[0]].height, images[group[0]].width);
        let per = c * h * w;
        let jobs: Vec<(usize, bool)> = group
            .iter()
            .flat_map(|&i| flips.iter().map(move |&f| (i, f)))
            .collect();
        for slice in jobs.chunks(batch.max(1)) {
            let mut input = vec![0f32; slice.len() * per];
            input
                .par_chunks_mut(per)
                .zip(slice.par_iter())
                .for_each(|(dst, &(i, f))| {
                    augment::write_normalized_full(&images[i], f, &pipeline.normalize, c, dst);
                });
            let x = Tensor::<4>::from_data(TensorData::new(input, [slice.len(), c, h, w]), device);
            let rows = rows_of(head.scores(model.forward_features(x)));
            for (row, &(i, _)) in rows.into_iter().zip(slice) {
                views[i].push(row);
            }
        }
    }
    views.iter().map(|v| mean(v.iter())).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::{EvalConfig, Protocol};
    use crate::data::Split;

    fn memory_split(n: usize, side: usize) -> (Split, Pipeline) {
        use crate::augment::Normalize;
        use crate::config::Fit;
        use crate::data::{Images, MemoryImages};
        let per = 3 * side * side;
        let pixels = (0..n * per).map(|i| (i * 37 % 251) as u8).collect();
        let images = Images::Memory(MemoryImages {
            channels: 3,
            height: side,
            width: side,
            pixels,
            labels: (0..n as u16).map(|i| i % 3).collect(),
        });
        let pipeline = Pipeline {
            image_size: side,
            channels: 3,
            fit: Fit::Pad,
            eval_resize: side,
            train_scale: (side, side),
            color_shift: 0.0,
            crop_padding: 0,
            hflip: false,
            normalize: Normalize {
                mean: vec![0.5; 3],
                std: vec![0.25; 3],
            },
        };
        (Split::new(images, 0), pipeline)
    }

    #[test]
    fn dense_posteriors_equal_the_centre_crop_at_the_crop_size() {
        use crate::arch::Arch;
        use crate::config::{Head, Init};
        use crate::model::VggConfig;
        let device = Device::flex();
        let vgg = VggConfig {
            width: 1.0 / 16.0,
            hidden: 16,
            num_classes: 3,
            head: Head::Compact,
            init: Init::Kaiming,
            ..VggConfig::paper(Arch::B)
        };
        let model = vgg.init(&device);
        let (split, pipeline) = memory_split(5, 32);
        let cfg = EvalConfig {
            protocols: vec![Protocol::Center, Protocol::Dense],
            flip: false,
            ..EvalConfig::default()
        };
        let plan = EvalPlan::new(&cfg, 32, 4, 1, 0);
        let images: Vec<(usize, Img)> = (0..5)
            .map(|i| (i, pipeline.base_image(&split.images, i).unwrap()))
            .collect();
        let head = DenseHead::new(&model, 1);
        let post = posteriors_of(&model, Some(&head), &images, &pipeline, &plan, &device);
        for p in &post {
            let (center, dense) = (&p[0][0], &p[1][0]);
            assert_eq!(center.len(), 3);
            for (a, b) in center.iter().zip(dense) {
                assert!((a - b).abs() < 1e-5, "{center:?} vs {dense:?}");
            }
        }
        // Posteriors differ between images, so the comparison is not vacuous.
        assert!((post[0][0][0][0] - post[1][0][0][0]).abs() > 1e-6);
    }
}
