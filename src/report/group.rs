//! Runs grouped by recipe: mean, std and 95 % interval over seeds (the comparisons between
//! groups are in `compare.rs`).

use std::collections::BTreeMap;

use serde::Serialize;

use super::PAPER_TABLE3;
use super::collect::Run;
use super::stats;
use crate::arch::Arch;
use crate::config::{DatasetKind, Protocol};
use crate::results::{EpochRow, Scales};
use crate::util::mean_std;

/// Epochs a run spent at its first learning rate (before the schedule's first drop or decay
/// below 99 % of it).
pub fn epochs_at_initial_lr(metrics: &[EpochRow]) -> usize {
    let Some(first) = metrics.first() else {
        return 0;
    };
    metrics
        .iter()
        .take_while(|r| r.lr >= 0.99 * first.lr)
        .count()
}

/// Mean and sample standard deviation of values that may be absent: `None` unless every run
/// has one (top-5 errors of data sets with fewer than 5 classes).
fn mean_std_all(values: &[Option<f64>]) -> (Option<f64>, Option<f64>) {
    let present: Vec<f64> = values.iter().flatten().copied().collect();
    if present.is_empty() || present.len() < values.len() {
        return (None, None);
    }
    let (m, s) = mean_std(&present);
    (Some(m), s)
}

/// Whose weights a group's rows measure.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Weights {
    /// Weights the runs trained.
    Trained,
    /// Weights `vgg-train eval --weights` read (status `pretrained`).
    Pretrained,
}

impl std::fmt::Display for Weights {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.pad(match self {
            Weights::Trained => "trained",
            Weights::Pretrained => "pretrained",
        })
    }
}

/// Runs that differ only in their seed.
#[derive(Debug, Clone, Serialize)]
pub struct Group {
    /// Short hash of the runs' common recipe (their config without name, seed and `[run]`).
    pub recipe: String,
    /// Data set.
    pub dataset: DatasetKind,
    /// Configuration.
    pub arch: Arch,
    /// Weight layers (convs + 3 FC).
    pub weight_layers: usize,
    /// BN after every conv.
    pub batch_norm: bool,
    /// Channel multiplier.
    pub width: f64,
    /// Input side.
    pub image_size: usize,
    /// Test protocol (`center` for the training runs' own validation).
    pub protocol: Protocol,
    /// Test scales Q.
    pub scales: Scales,
    /// Whether these are the training runs' own rows (the depth table, plots and
    /// comparisons); the others are `[eval]` / `vgg-train eval` rows.
    pub primary: bool,
    /// Whether the rows measure weights the runs trained or `vgg-train eval --weights`.
    pub weights: Weights,
    /// Trainable parameters.
    pub params: usize,
    /// Seeds (runs) averaged: those that trained, or every run if none did.
    pub seeds: usize,
    /// Runs that failed to train (stalled or diverged): listed, not averaged, unless every
    /// run of the group failed.
    pub failed: usize,
    /// Epochs run: the fewest over seeds.
    pub epochs_min: usize,
    /// Epochs run: the most over seeds.
    pub epochs: usize,
    /// Mean test top-1 error, %.
    pub top1_err: f64,
    /// Standard deviation of test top-1 error over seeds (empty with one seed).
    pub top1_std: Option<f64>,
    /// Lower end of the 95 % t-interval of the mean test top-1 error (empty with one seed).
    pub top1_ci_low: Option<f64>,
    /// Upper end of that interval.
    pub top1_ci_high: Option<f64>,
    /// Mean test top-5 error, % (empty for fewer than 5 classes).
    pub top5_err: Option<f64>,
    /// Standard deviation of test top-5 error over seeds.
    pub top5_std: Option<f64>,
    /// Mean validation top-1 error at the best epoch, % (training rows).
    pub val_top1_err: Option<f64>,
    /// Its standard deviation over seeds.
    pub val_top1_std: Option<f64>,
    /// The paper's Table 3 top-1 error, beside ImageNet rows of its protocol (dense).
    pub paper_top1_err: Option<f64>,
    /// The paper's Table 3 top-5 error, likewise.
    pub paper_top5_err: Option<f64>,
    #[serde(skip)]
    curves: Vec<Vec<f64>>,
    #[serde(skip)]
    top1: Vec<f64>,
    #[serde(skip)]
    seeds_list: Vec<u64>,
    #[serde(skip)]
    builds: Vec<String>,
    /// No run trained: the averaged runs are the failed ones.
    #[serde(skip)]
    all_failed: bool,
}

impl Group {
    /// Each seed's validation top-1 error per epoch, in the order of [`Group::seed_top1`].
    pub fn seed_curves(&self) -> &[Vec<f64>] {
        &self.curves
    }

    /// Whether every run failed to train (then the averaged runs are the failed ones).
    pub fn all_failed(&self) -> bool {
        self.all_failed
    }

    /// Each seed's test top-1 error, %.
    pub fn seed_top1(&self) -> &[f64] {
        &self.top1
    }

    /// The build (`build_commit`) of each seed's run, in the order of [`Group::seed_top1`].
    pub fn seed_builds(&self) -> &[String] {
        &self.builds
    }

    /// (seed, test top-1 error) of each seed, for tests paired by seed.
    pub fn by_seed(&self) -> Vec<(u64, f64)> {
        self.seeds_list
            .iter()
            .copied()
            .zip(self.top1.iter().copied())
            .collect()
    }

    /// The label used in tables and plots: `D`, `D-bn`.
    pub fn label(&self) -> String {
        if self.batch_norm {
            format!("{}-bn", self.arch)
        } else {
            self.arch.to_string()
        }
    }
}

/// Groups the runs by recipe (their config without the seed) and test protocol, in the
/// paper's order, the training runs' own rows first. Only runs of one recipe are averaged.
pub fn group(runs: &[Run]) -> Vec<Group> {
    group_by_recipe(runs)
}

/// What runs of one group share, in the report's row order (fields compared in this order):
/// data set, protocol and scales by name, as they sorted before they were typed.
#[derive(Debug, PartialEq, Eq, PartialOrd, Ord)]
struct GroupKey {
    dataset: &'static str,
    /// Evaluation rows after the training runs' own.
    secondary: bool,
    arch: Arch,
    batch_norm: bool,
    /// The width's bits (f64 is not `Ord`; equal widths have equal bits).
    width: u64,
    image_size: usize,
    recipe: String,
    protocol: &'static str,
    scales: String,
    trained: bool,
}

fn group_by_recipe(runs: &[Run]) -> Vec<Group> {
    let mut groups: BTreeMap<GroupKey, Vec<&Run>> = BTreeMap::new();
    for run in runs {
        let r = &run.result;
        let key = GroupKey {
            dataset: r.dataset.name(),
            secondary: !run.primary,
            arch: r.arch,
            batch_norm: r.batch_norm,
            width: r.width.to_bits(),
            image_size: r.image_size,
            recipe: run.recipe.clone(),
            protocol: r.protocol.name(),
            scales: r.scales.to_string(),
            trained: r.is_from_training(),
        };
        groups.entry(key).or_default().push(run);
    }
    groups
        .into_values()
        .map(|all| {
            let trained: Vec<&Run> = all
                .iter()
                .copied()
                .filter(|m| !m.result.failed_to_train())
                .collect();
            let failed = all.len() - trained.len();
            let all_failed = trained.is_empty();
            let members = if all_failed { all } else { trained };
            let first = &members[0].result;
            let top1: Vec<f64> = members.iter().map(|m| m.result.top1_err).collect();
            let top5: Vec<Option<f64>> = members.iter().map(|m| m.result.top5_err).collect();
            let val: Vec<Option<f64>> = members.iter().map(|m| m.result.val_top1_err).collect();
            let (top1_err, top1_std) = mean_std(&top1);
            let (top5_err, top5_std) = mean_std_all(&top5);
            let (val_top1_err, val_top1_std) = mean_std_all(&val);
            let summary = stats::summarize(&top1);
            // Table 3 is dense evaluation on ImageNet: its numbers stand beside dense rows of
            // image folders only.
            let paper = PAPER_TABLE3.iter().find(|p| {
                p.0 == first.arch
                    && first.dataset == DatasetKind::ImageFolder
                    && first.protocol == Protocol::Dense
            });
            Group {
                recipe: members[0].recipe.clone(),
                dataset: first.dataset,
                arch: first.arch,
                weight_layers: first.arch.weight_layers(),
                batch_norm: first.batch_norm,
                width: first.width,
                image_size: first.image_size,
                protocol: first.protocol,
                scales: first.scales.clone(),
                primary: members[0].primary,
                weights: if first.is_from_training() {
                    Weights::Trained
                } else {
                    Weights::Pretrained
                },
                params: first.params,
                seeds: members.len(),
                failed,
                epochs_min: members.iter().map(|m| m.result.epochs).min().unwrap_or(0),
                epochs: members.iter().map(|m| m.result.epochs).max().unwrap_or(0),
                top1_err,
                top1_std,
                top1_ci_low: summary.ci.map(|c| c.0),
                top1_ci_high: summary.ci.map(|c| c.1),
                top5_err,
                top5_std,
                val_top1_err,
                val_top1_std,
                paper_top1_err: paper.map(|p| p.1),
                paper_top5_err: paper.map(|p| p.2),
                curves: members
                    .iter()
                    .map(|m| m.metrics.iter().map(|r| r.val_top1_err).collect())
                    .collect(),
                seeds_list: members.iter().map(|m| m.result.seed).collect(),
                builds: members
                    .iter()
                    .map(|m| m.result.build_commit.clone())
                    .collect(),
                top1,
                all_failed,
            }
        })
        .collect()
}
