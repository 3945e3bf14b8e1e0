//! Test-time evaluation (§3.2 and §4 of the paper) on the validation split: centre crop,
//! dense (FC layers as convolutions over the whole image), multi-crop (5×5 grid × 2 flips),
//! and their combinations over several test scales Q, each reported as top-1/top-5 error.
//!
//! Every image is decoded once; each needed *view* (centre crop, dense, crops) is computed at
//! every Q as softmax class posteriors, and the protocols average those posteriors.

pub mod command;
pub mod dense;
pub mod views;

use std::time::Instant;

use burn::prelude::*;
use burn::tensor::activation::softmax;
use rayon::prelude::*;

use crate::augment::{self, Crop, Img};
use crate::config::{EvalConfig, Protocol};
use crate::data::{Pipeline, Split};
use crate::error::DataError;
use crate::model::Vgg;
use dense::DenseHead;

/// Errors of one protocol at its scales.
#[derive(Debug, Clone, PartialEq)]
pub struct ProtocolScore {
    /// The protocol.
    pub protocol: Protocol,
    /// The test scales Q it averaged over.
    pub scales: Vec<usize>,
    /// Top-1 error, %.
    pub top1_err: f64,
    /// Top-5 error, %.
    pub top5_err: f64,
}

impl ProtocolScore {
    /// The scales as written in `results.csv`: `256` or `256 384 512`.
    pub fn scales_label(&self) -> String {
        scales_label(&self.scales)
    }
}

/// `[256, 384]` → `"256 384"`.
pub fn scales_label(scales: &[usize]) -> String {
    scales
        .iter()
        .map(|q| q.to_string())
        .collect::<Vec<_>>()
        .join(" ")
}

/// What [`evaluate`] measured.
#[derive(Debug, Clone, PartialEq)]
pub struct EvalReport {
    /// One score per protocol row, in the order of `eval.protocols` (per-scale protocols
    /// give one row per Q).
    pub scores: Vec<ProtocolScore>,
    /// Images evaluated.
    pub images: usize,
    /// Unreadable images skipped.
    pub bad_images: usize,
    /// Wall time, seconds.
    pub seconds: f64,
}

/// How to evaluate: the protocols, their scales and batching.
#[derive(Debug, Clone)]
pub struct EvalPlan {
    /// Protocols, each once.
    pub protocols: Vec<Protocol>,
    /// Test scales Q.
    pub scales: Vec<usize>,
    /// Average the mirrored image into dense and multi-crop.
    pub flip: bool,
    /// Images (or crops) per forward pass.
    pub batch_size: usize,
    /// Side the head pools to (7 paper, 1 compact): the kernel of dense FC-6.
    pub pool_out: usize,
    /// More unreadable images than this fail the evaluation.
    pub max_bad_images: usize,
}

impl EvalPlan {
    /// From the `[eval]` section; `default_scale` stands in for empty `scales`.
    pub fn new(
        cfg: &EvalConfig,
        default_scale: usize,
        train_batch: usize,
        pool_out: usize,
        max_bad_images: usize,
    ) -> EvalPlan {
        let mut protocols = Vec::new();
        for p in &cfg.protocols {
            if !protocols.contains(p) {
                protocols.push(*p);
            }
        }
        let mut scales = if cfg.scales.is_empty() {
            vec![default_scale]
        } else {
            cfg.scales.clone()
        };
        scales.dedup();
        EvalPlan {
            protocols,
            scales,
            flip: cfg.flip,
            batch_size: if cfg.batch_size == 0 {
                train_batch
            } else {
                cfg.batch_size
            },
            pool_out,
            max_bad_images,
        }
    }

    fn needs(&self, view: View) -> bool {
        self.protocols.iter().any(|p| match view {
            View::Center => *p == Protocol::Center,
            View::Dense => p.is_dense(),
            View::Crops => matches!(p, Protocol::MultiCrop | Protocol::MultiCropDense),
        })
    }

    /// The rows the plan produces: `(protocol, indices into scales)`.
    fn rows(&self) -> Vec<(Protocol, Vec<usize>)> {
        let all: Vec<usize> = (0..self.scales.len()).collect();
        let mut rows = Vec::new();
        for &p in &self.protocols {
            if p.per_scale() {
                rows.extend(all.iter().map(|&q| (p, vec![q])));
            } else {
                rows.push((p, all.clone()));
            }
        }
        rows
    }
}

/// A way of looking at one image at one scale, giving one softmax vector.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum View {
    /// The centre `image_size` crop.
    Center,
    /// The whole image through the fully-convolutional net (mirror averaged in).
    Dense,
    /// The 5×5 grid of crops (× 2 flips), averaged.
    Crops,
}

/// Posteriors of one image: `[view][scale]` → softmax over classes (empty when not needed).
type Posteriors = [Vec<Vec<f32>>; 3];

fn view_index(view: View) -> usize {
    match view {
        View::Center => 0,
        View::Dense => 1,
        View::Crops => 2,
    }
}

/// Hit counts of one row.
#[derive(Debug, Clone, Copy, Default)]
struct Hits {
    top1: usize,
    top5: usize,
}

/// Rank of `label` in `probs` (0 = best); ties go to the lower class index.
pub fn rank_of(probs: &[f32], label: usize) -> usize {
    let p = probs[label];
    probs
        .iter()
        .enumerate()
        .filter(|&(c, &q)| q > p || (q == p && c < label))
        .count()
}

/// Runs the plan's protocols over `split` with `model` (on a device without autodiff).
pub fn evaluate(
    model: &Vgg,
    split: &Split,
    pipeline: &Pipeline,
    plan: &EvalPlan,
    device: &Device,
) -> Result<EvalReport, DataError> {
    let start = Instant::now();
    let model = model.valid();
    let head = plan
        .needs(View::Dense)
        .then(|| DenseHead::new(&model, plan.pool_out));
    let rows = plan.rows();
    let mut hits = vec![Hits::default(); rows.len()];
    let (mut images, mut bad) = (0usize, 0usize);
    let chunk = plan.batch_size.max(1);
    let mut last_report = Instant::now();
    for indices in split.indices.chunks(chunk) {
        if last_report.elapsed().as_secs() >= 30 {
            last_report = Instant::now();
            eprintln!(
                "eval: {images}/{} images, {:.1} img/s",
                split.len(),
                images as f64 / start.elapsed().as_secs_f64()
            );
        }
        let decoded: Vec<(usize, Result<Img, DataError>)> = indices
            .par_iter()
            .map(|&i| (i, pipeline.base_image(&split.images, i)))
            .collect();
        let mut ok = Vec::with_capacity(decoded.len());
        for (i, result) in decoded {
            match result {
                Ok(img) => ok.push((i, img)),
                Err(e) if e.image_path().is_none() => return Err(e),
                Err(e) => {
                    bad += 1;
                    eprintln!("warning: skipped: {e}");
                    if bad > plan.max_bad_images {
                        return Err(DataError::TooManyBad {
                            count: bad,
                            limit: plan.max_bad_images,
                            last: e.to_string(),
                        });
                    }
                }
            }
        }
        if ok.is_empty() {
            continue;
        }
        let posteriors = posteriors_of(&model, head.as_ref(), &ok, pipeline, plan, device);
        for (k, (protocol, qs)) in rows.iter().enumerate() {
            for ((i, _), post) in ok.iter().zip(&posteriors) {
                let probs = combine(*protocol, qs, post);
                let rank = rank_of(&probs, split.images.label(*i));
                hits[k].top1 += usize::from(rank < 1);
                hits[k].top5 += usize::from(rank < 5);
            }
        }
        images += ok.len();
    }
    let err = |h: usize| {
        if images == 0 {
            f64::NAN
        } else {
            100.0 * (1.0 - h as f64 / images as f64)
        }
    };
    let scores = rows
        .iter()
        .zip(&hits)
        .map(|((protocol, qs), h)| ProtocolScore {
            protocol: *protocol,
            scales: qs.iter().map(|&q| plan.scales[q]).collect(),
            top1_err: err(h.top1),
            top5_err: err(h.top5),
        })
        .collect();
    Ok(EvalReport {
        scores,
        images,
        bad_images: bad,
        seconds: start.elapsed().as_secs_f64(),
    })
}

/// The softmax vector a protocol assigns to one image, from its views at scales `qs`.
fn combine(protocol: Protocol, qs: &[usize], post: &Posteriors) -> Vec<f32> {
    let mean_over = |view: View| mean(qs.iter().map(|&q| &post[view_index(view)][q]));
    match protocol {
        Protocol::Center => mean_over(View::Center),
        Protocol::Dense | Protocol::MultiScale => mean_over(View::Dense),
        Protocol::MultiCrop => mean_over(View::Crops),
        Protocol::MultiCropDense => mean([&mean_over(View::Crops), &mean_over(View::Dense)]),
    }
}

fn mean<'a>(vectors: impl IntoIterator<Item = &'a Vec<f32>>) -> Vec<f32> {
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
fn posteriors_of(
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
        .try_into_vec::<f32>()
        .expect("softmax output is f32")
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
            .try_into_vec::<f32>()
            .expect("softmax output is f32");
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

    #[test]
    fn rank_counts_better_classes_and_breaks_ties_by_index() {
        assert_eq!(rank_of(&[0.1, 0.7, 0.2], 1), 0);
        assert_eq!(rank_of(&[0.1, 0.7, 0.2], 0), 2);
        assert_eq!(rank_of(&[0.5, 0.5], 0), 0);
        assert_eq!(rank_of(&[0.5, 0.5], 1), 1);
    }

    #[test]
    fn per_scale_protocols_give_a_row_per_scale_and_the_others_one_row() {
        let cfg = EvalConfig {
            protocols: vec![Protocol::Center, Protocol::MultiCrop, Protocol::Center],
            scales: vec![256, 384],
            ..EvalConfig::default()
        };
        let plan = EvalPlan::new(&cfg, 256, 32, 7, 0);
        assert_eq!(
            plan.rows(),
            vec![
                (Protocol::Center, vec![0]),
                (Protocol::Center, vec![1]),
                (Protocol::MultiCrop, vec![0, 1]),
            ]
        );
        assert!(plan.needs(View::Center) && plan.needs(View::Crops));
        assert!(!plan.needs(View::Dense));
    }

    #[test]
    fn multi_crop_plus_dense_averages_the_two_multi_scale_posteriors() {
        let post: Posteriors = [
            vec![],
            vec![vec![1.0, 0.0], vec![0.0, 1.0]],
            vec![vec![0.5, 0.5], vec![1.0, 0.0]],
        ];
        assert_eq!(
            combine(Protocol::MultiScale, &[0, 1], &post),
            vec![0.5, 0.5]
        );
        assert_eq!(
            combine(Protocol::MultiCrop, &[0, 1], &post),
            vec![0.75, 0.25]
        );
        assert_eq!(
            combine(Protocol::MultiCropDense, &[0, 1], &post),
            vec![0.625, 0.375]
        );
        assert_eq!(combine(Protocol::Dense, &[1], &post), vec![0.0, 1.0]);
    }
}
