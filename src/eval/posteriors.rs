//! The views of §3.2 turned into softmax posteriors: each image of a chunk at each test scale
//! Q as a centre crop, as a whole image through the fully-convolutional net (mirror averaged
//! in), or as the multi-crop grid; the protocols in [`super`] average these.

use burn::prelude::*;
use burn::tensor::activation::softmax;
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

/// Posteriors of one image: `[view][scale]` → softmax over classes (empty when not needed).
pub(super) type Posteriors = [Vec<Vec<f32>>; 3];

/// Where `view` sits in [`Posteriors`].
pub(super) fn view_index(view: View) -> usize {
    match view {
        View::Center => 0,
        View::Dense => 1,
        View::Crops => 2,
    }
}

/// The element-wise mean of equally long vectors.
pub(super) fn mean<'a>(vectors: impl IntoIterator<Item = &'a Vec<f32>>) -> Vec<f32> {
    let mut out: Vec<f32> = Vec::new();
    let mut n = 0;
    for v in vectors {
        if out.is_empty() {
            out = vec![0.0; v.len()];
        }
        out.iter_mut().zip(v).for_each(|(o, x)| *o += x);
        n += 1;
    }
    out.iter_mut().for_each(|o| *o /= n.max(1) as f32);
    out
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
            let probs = dense_posteriors(model, head, &scaled, pipeline, plan.flip, device);
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

fn push(out: &mut [Posteriors], view: View, probs: Vec<Vec<f32>>) {
    for (post, p) in out.iter_mut().zip(probs) {
        post[view_index(view)].push(p);
    }
}

/// Softmax rows of a `[n, c, h, w]` input.
fn forward_softmax(model: &Vgg, input: Vec<f32>, shape: [usize; 4], device: &Device) -> Vec<f32> {
    let x = Tensor::<4>::from_data(TensorData::new(input, shape), device);
    let probs = softmax(model.forward(x), 1);
    probs
        .into_data()
        .convert::<f32>()
        .try_into_vec::<f32>()
        .expect("converted to f32")
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
) -> Vec<Vec<f32>> {
    let (s, c) = (pipeline.image_size, pipeline.channels);
    let per = c * s * s;
    let jobs: Vec<(usize, Crop)> = crops
        .iter()
        .enumerate()
        .flat_map(|(i, cs)| cs.iter().map(move |&crop| (i, crop)))
        .collect();
    let mut sums: Vec<Vec<f32>> = vec![Vec::new(); images.len()];
    for slice in jobs.chunks(batch.max(1)) {
        let mut input = vec![0f32; slice.len() * per];
        input
            .par_chunks_mut(per)
            .zip(slice.par_iter())
            .for_each(|(dst, &(i, crop))| {
                augment::write_normalized(&images[i], crop, s, &pipeline.normalize, &[], c, dst);
            });
        let probs = forward_softmax(model, input, [slice.len(), c, s, s], device);
        let k = probs.len() / slice.len();
        for (row, &(i, _)) in probs.chunks(k).zip(slice) {
            let sum = &mut sums[i];
            if sum.is_empty() {
                *sum = vec![0.0; k];
            }
            sum.iter_mut().zip(row).for_each(|(a, b)| *a += b);
        }
    }
    for (sum, cs) in sums.iter_mut().zip(crops) {
        sum.iter_mut().for_each(|v| *v /= cs.len() as f32);
    }
    sums
}

/// Dense evaluation of each image (and its mirror): the class-score map averaged, then the
/// softmax, then the two posteriors averaged. Images of equal size share a forward pass.
fn dense_posteriors(
    model: &Vgg,
    head: &DenseHead,
    images: &[Img],
    pipeline: &Pipeline,
    flip: bool,
    device: &Device,
) -> Vec<Vec<f32>> {
    let c = pipeline.channels;
    let flips: &[bool] = if flip { &[false, true] } else { &[false] };
    let mut out: Vec<Vec<f32>> = vec![Vec::new(); images.len()];
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
        let mut input = vec![0f32; jobs.len() * per];
        input
            .par_chunks_mut(per)
            .zip(jobs.par_iter())
            .for_each(|(dst, &(i, f))| {
                augment::write_normalized_full(&images[i], f, &pipeline.normalize, c, dst);
            });
        let x = Tensor::<4>::from_data(TensorData::new(input, [jobs.len(), c, h, w]), device);
        let probs = softmax(head.scores(model.forward_features(x)), 1)
            .into_data()
            .convert::<f32>()
            .try_into_vec::<f32>()
            .expect("converted to f32");
        let k = probs.len() / jobs.len();
        for (views, &i) in probs.chunks(k * flips.len()).zip(group) {
            out[i] = mean(
                views
                    .chunks(k)
                    .map(<[f32]>::to_vec)
                    .collect::<Vec<_>>()
                    .iter(),
            );
        }
    }
    out
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
        use crate::config::{Head, Init};
        use crate::model::VggConfig;
        use crate::model::arch::Arch;
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
