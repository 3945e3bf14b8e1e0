//! Test-time evaluation (§3.2 and §4 of the paper) on the validation split: centre crop,
//! dense (FC layers as convolutions over the whole image), multi-crop (5×5 grid × 2 flips),
//! and their combinations over several test scales Q, each reported as top-1/top-5 error.
//!
//! Every image is decoded once; each needed *view* (centre crop, dense, crops) is computed at
//! every Q as softmax class posteriors, and the protocols average those posteriors.

pub mod dense;
mod plan;
mod posteriors;
pub mod views;

pub use plan::{adds_to_training, plan_for, rows_from};

use std::time::Instant;

use burn::prelude::*;
use rayon::prelude::*;

use crate::augment::Img;
use crate::config::{EvalConfig, Protocol};
use crate::data::{Pipeline, Split};
use crate::error::DataError;
use crate::model::Vgg;
use dense::DenseHead;
use posteriors::{Posteriors, View, mean, posteriors_of, view_index};

/// Errors of one protocol at its scales.
#[derive(Debug, Clone, PartialEq)]
pub struct ProtocolScore {
    /// The protocol.
    pub protocol: Protocol,
    /// The test scales Q it averaged over.
    pub scales: Vec<usize>,
    /// Top-1 error, %.
    pub top1_err: f64,
    /// Top-5 error, %; `None` for fewer than 5 classes.
    pub top5_err: Option<f64>,
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
    /// The centre crop at `scale` alone: a training run's own test measurement.
    pub fn center(scale: usize, batch_size: usize, pool_out: usize, max_bad_images: usize) -> Self {
        EvalPlan {
            protocols: vec![Protocol::Center],
            scales: vec![scale],
            flip: false,
            batch_size: batch_size.max(1),
            pool_out,
            max_bad_images,
        }
    }

    /// From the `[eval]` section; `default_scale` stands in for empty `scales`; `batch_size`
    /// images per forward pass ([`EvalConfig::batch_size_of`]).
    pub fn new(
        cfg: &EvalConfig,
        default_scale: usize,
        batch_size: usize,
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
            batch_size,
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

/// Hit counts of one row.
#[derive(Debug, Clone, Copy, Default)]
struct Hits {
    top1: usize,
    top5: usize,
}

/// Rank of `label` in `probs` (0 = best; log-probabilities or any increasing function of
/// them); exact ties go to the lower class index.
pub fn rank_of(probs: &[f64], label: usize) -> usize {
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
    let (mut images, mut bad, mut classes) = (0usize, 0usize, 0usize);
    let chunk = plan.batch_size.max(1);
    let mut last_report = Instant::now();
    for indices in split.indices.chunks(chunk) {
        if last_report.elapsed().as_secs() >= 30 {
            last_report = Instant::now();
            crate::console::progress(format!(
                "eval: {images}/{} images, {:.1} img/s",
                split.len(),
                images as f64 / start.elapsed().as_secs_f64()
            ));
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
                    crate::console::warning(format!("warning: skipped: {e}"));
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
        classes = posteriors
            .first()
            .and_then(|p| p.iter().flatten().next())
            .map_or(classes, Vec::len);
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
            top5_err: (classes >= 5).then(|| err(h.top5)),
        })
        .collect();
    Ok(EvalReport {
        scores,
        images,
        bad_images: bad,
        seconds: start.elapsed().as_secs_f64(),
    })
}

/// The log-posterior a protocol assigns to one image, from its views at scales `qs`.
fn combine(protocol: Protocol, qs: &[usize], post: &Posteriors) -> Vec<f64> {
    let mean_over = |view: View| mean(qs.iter().map(|&q| &post[view_index(view)][q]));
    match protocol {
        Protocol::Center => mean_over(View::Center),
        Protocol::Dense | Protocol::MultiScale => mean_over(View::Dense),
        Protocol::MultiCrop => mean_over(View::Crops),
        Protocol::MultiCropDense => mean([&mean_over(View::Crops), &mean_over(View::Dense)]),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rank_counts_better_classes_and_breaks_ties_by_index() {
        assert_eq!(rank_of(&[0.1, 0.7, 0.2], 1), 0);
        assert_eq!(rank_of(&[0.1, 0.7, 0.2], 0), 2);
        assert_eq!(rank_of(&[0.5, 0.5], 0), 0);
        assert_eq!(rank_of(&[0.5, 0.5], 1), 1);
    }

    #[test]
    fn classes_far_below_the_winner_keep_their_order() {
        // Logits 0, -120, -110: in f32 both losers' softmax values are 0 and would tie,
        // ranking class 1 (index) above class 2 (score).
        let log_p = posteriors::log_softmax(&[0.0, -120.0, -110.0]);
        assert_eq!(rank_of(&log_p, 2), 1);
        assert_eq!(rank_of(&log_p, 1), 2);
        let f32_softmax: Vec<f32> = [0.0f32, -120.0, -110.0].iter().map(|v| v.exp()).collect();
        assert_eq!(f32_softmax[1], 0.0, "the tie this guards against");
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
        let log = |p: [f64; 2]| p.iter().map(|v| v.ln()).collect::<Vec<f64>>();
        let post: Posteriors = [
            vec![],
            vec![log([1.0, 0.0]), log([0.0, 1.0])],
            vec![log([0.5, 0.5]), log([1.0, 0.0])],
        ];
        let probs = |protocol, qs: &[usize]| -> Vec<f64> {
            combine(protocol, qs, &post)
                .iter()
                .map(|v| v.exp())
                .collect()
        };
        let close = |a: Vec<f64>, b: [f64; 2]| {
            assert!(
                a.iter().zip(b).all(|(x, y)| (x - y).abs() < 1e-12),
                "{a:?} vs {b:?}"
            );
        };
        close(probs(Protocol::MultiScale, &[0, 1]), [0.5, 0.5]);
        close(probs(Protocol::MultiCrop, &[0, 1]), [0.75, 0.25]);
        close(probs(Protocol::MultiCropDense, &[0, 1]), [0.625, 0.375]);
        close(probs(Protocol::Dense, &[1]), [0.0, 1.0]);
    }
}
