//! Runs grouped by recipe (mean, std and 95 % interval over seeds) and the paper's comparisons
//! between groups, tested by the rule of `experiments/depth-fashion-mnist-plan.md`: Welch's
//! t-test, Holm's correction over the comparisons of a data set, a verdict against the paper's
//! direction; paired-by-seed and pooled-variance tests beside it as secondary analyses.

use std::collections::BTreeMap;

use serde::Serialize;

use super::PAPER_TABLE3;
use super::collect::Run;
use super::stats::{self, TTest};
use crate::arch::Arch;
use crate::config::Protocol;
use crate::results::EpochRow;
use crate::util::mean_std;

/// The family-wise error rate of the comparisons' verdicts (Holm over each data set's family).
pub const ALPHA: f64 = 0.05;

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

/// Runs that differ only in their seed.
#[derive(Debug, Clone, Serialize)]
pub struct Group {
    /// Short hash of the runs' common recipe (their config without name, seed and `[run]`).
    pub recipe: String,
    /// Data set.
    pub dataset: String,
    /// Configuration.
    pub arch: String,
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
    pub scales: String,
    /// Whether these are the training runs' own rows (the depth table, plots and
    /// comparisons); the others are `[eval]` / `vgg-train eval` rows.
    pub primary: bool,
    /// `pretrained` for rows of `vgg-train eval --weights`, `trained` otherwise.
    pub weights: String,
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
            self.arch.clone()
        }
    }
}

fn is_imagenet(dataset: &str) -> bool {
    dataset == "image-folder" || dataset.contains("imagenet")
}

/// Groups the runs by recipe (their config without the seed) and test protocol, in the
/// paper's order, the training runs' own rows first. Only runs of one recipe are averaged.
pub fn group(runs: &[Run]) -> Vec<Group> {
    group_by_recipe(runs)
}

fn group_by_recipe(runs: &[Run]) -> Vec<Group> {
    type Key = (
        String,
        bool,
        usize,
        bool,
        u64,
        usize,
        String,
        String,
        String,
        bool,
    );
    let order = |arch: &str| {
        Arch::parse(arch)
            .ok()
            .and_then(|a| Arch::ALL.iter().position(|x| *x == a))
            .unwrap_or(usize::MAX)
    };
    let mut groups: BTreeMap<Key, Vec<&Run>> = BTreeMap::new();
    for run in runs {
        let r = &run.result;
        let key = (
            r.dataset.clone(),
            !run.primary,
            order(&r.arch),
            r.batch_norm,
            r.width.to_bits(),
            r.image_size,
            run.recipe.clone(),
            // By name, as before the protocol was typed: the report's row order.
            r.protocol.name().to_string(),
            r.scales.clone(),
            r.is_from_training(),
        );
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
            let arch = Arch::parse(&first.arch).ok();
            // Table 3 is dense evaluation: its numbers stand beside dense rows only.
            let paper = arch
                .filter(|_| is_imagenet(&first.dataset) && first.protocol == Protocol::Dense)
                .and_then(|a| PAPER_TABLE3.iter().find(|p| p.0 == a));
            Group {
                recipe: members[0].recipe.clone(),
                dataset: first.dataset.clone(),
                arch: first.arch.clone(),
                weight_layers: arch.map(Arch::weight_layers).unwrap_or(0),
                batch_norm: first.batch_norm,
                width: first.width,
                image_size: first.image_size,
                protocol: first.protocol,
                scales: first.scales.clone(),
                primary: members[0].primary,
                weights: if first.is_from_training() {
                    "trained".into()
                } else {
                    crate::results::Status::Pretrained.name().into()
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

/// What a comparison's test says about the paper's claim (the plan's verdict rule).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// Holm-adjusted p below [`ALPHA`], the difference in the paper's direction.
    Supported,
    /// Holm-adjusted p below [`ALPHA`], the difference against the paper's direction.
    Contradicted,
    /// Otherwise: the interval says what the data allow.
    NotResolved,
}

impl Verdict {
    /// As the report writes it.
    pub fn name(self) -> &'static str {
        match self {
            Verdict::Supported => "supported",
            Verdict::Contradicted => "contradicted",
            Verdict::NotResolved => "not resolved",
        }
    }
}

/// One of the paper's comparisons, measured: second minus first.
#[derive(Debug, Clone)]
pub struct Comparison {
    /// What is compared, e.g. `A vs A-LRN`.
    pub title: String,
    /// The paper's question.
    pub question: &'static str,
    /// Mean top-1 error of the second minus the first, percentage points.
    pub diff: f64,
    /// The paper's claim, as the report writes it (`+0.1`, `+7 % rel.`).
    pub paper: &'static str,
    /// The sign of the paper's difference: the direction a verdict is judged against.
    pub paper_sign: f64,
    /// Welch's test (the primary analysis); `None` unless both sides have two seeds.
    pub welch: Option<TTest>,
    /// Welch's p adjusted by Holm over the data set's comparisons.
    pub holm_p: Option<f64>,
    /// The test paired by seed, and the number of pairs (secondary).
    pub paired: Option<(TTest, usize)>,
    /// The test with the variance pooled over every configuration of the data set (secondary).
    pub pooled: Option<TTest>,
}

impl Comparison {
    /// The verdict of the plan's rule; `None` without a test.
    pub fn verdict(&self) -> Option<Verdict> {
        let (welch, holm) = (self.welch?, self.holm_p?);
        Some(if holm >= ALPHA {
            Verdict::NotResolved
        } else if welch.diff * self.paper_sign > 0.0 {
            Verdict::Supported
        } else {
            Verdict::Contradicted
        })
    }
}

/// The paper's comparisons: the two configurations, the question, the paper's difference as
/// written and its sign (Table 3 at S = Q = 256; B-5x5 from §4.1).
const PAIRS: [(&str, &str, &str, &str, f64); 8] = [
    ("A", "A-LRN", "does LRN help?", "+0.1", 1.0),
    ("C", "D", "1x1 vs 3x3 convs at equal depth", "-1.1", -1.0),
    ("B", "C", "extra 1x1 non-linearity", "-0.6", -1.0),
    ("B", "B-5x5", "pairs of 3x3 vs one 5x5", "+7 % rel.", 1.0),
    ("A", "B", "depth 11 -> 13", "-0.9", -1.0),
    ("B", "D", "depth 13 -> 16", "-1.7", -1.0),
    ("A", "D", "depth 11 -> 16", "-2.6", -1.0),
    ("D", "E", "depth 16 -> 19", "+0.3", 1.0),
];

/// The paper's comparisons among `groups` of one data set (those both of whose configurations
/// are there), with Holm's adjustment over them.
pub fn comparisons(groups: &[Group]) -> Vec<Comparison> {
    let find = |arch: &str| {
        groups
            .iter()
            .find(|g| g.arch == arch && !g.batch_norm && !g.all_failed)
    };
    let pooled = stats::pooled_variance(
        groups
            .iter()
            .filter(|g| !g.all_failed)
            .map(|g| g.seed_top1()),
    );
    let mut out: Vec<Comparison> = PAIRS
        .iter()
        .filter_map(|&(x, y, question, paper, paper_sign)| {
            let (a, b) = (find(x)?, find(y)?);
            Some(Comparison {
                title: format!("{} vs {}", a.label(), b.label()),
                question,
                diff: b.top1_err - a.top1_err,
                paper,
                paper_sign,
                welch: stats::welch(a.seed_top1(), b.seed_top1()),
                holm_p: None,
                paired: stats::paired(&a.by_seed(), &b.by_seed()),
                pooled: pooled
                    .and_then(|(v, df)| stats::pooled(a.seed_top1(), b.seed_top1(), v, df)),
            })
        })
        .collect();
    let tested: Vec<usize> = (0..out.len()).filter(|&i| out[i].welch.is_some()).collect();
    let p: Vec<f64> = tested
        .iter()
        .filter_map(|&i| out[i].welch.map(|t| t.p))
        .collect();
    for (&i, adjusted) in tested.iter().zip(stats::holm(&p)) {
        out[i].holm_p = Some(adjusted);
    }
    out
}

/// An ablation arm's difference from the main arm for one configuration: ablation minus main.
#[derive(Debug, Clone)]
pub struct ArmComparison {
    /// The configuration's label.
    pub label: String,
    /// The main arm's group.
    pub main: Group,
    /// The ablation arm's group.
    pub arm: Group,
    /// Welch's test of ablation − main.
    pub welch: Option<TTest>,
    /// The test paired by seed, and the number of pairs.
    pub paired: Option<(TTest, usize)>,
}

impl ArmComparison {
    /// Whether the ablation's whole 95 % interval lies below zero: the main protocol leaves
    /// error on the table (the plan's rule for under-training).
    pub fn main_under_trains(&self) -> Option<bool> {
        self.welch.map(|t| t.ci.1 < 0.0)
    }
}

/// Each configuration of `arm` beside the same configuration (data set, arch, BN) in `main`.
pub fn arm_comparisons(main: &[Group], arm: &[Group]) -> Vec<ArmComparison> {
    arm.iter()
        .filter(|g| !g.all_failed)
        .filter_map(|g| {
            let m = main.iter().find(|m| {
                m.dataset == g.dataset
                    && m.arch == g.arch
                    && m.batch_norm == g.batch_norm
                    && !m.all_failed
            })?;
            Some(ArmComparison {
                label: g.label(),
                main: m.clone(),
                arm: g.clone(),
                welch: stats::welch(m.seed_top1(), g.seed_top1()),
                paired: stats::paired(&m.by_seed(), &g.by_seed()),
            })
        })
        .collect()
}
