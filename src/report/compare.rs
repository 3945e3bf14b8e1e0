//! The paper's comparisons between groups, tested by the rule of
//! `experiments/depth-fashion-mnist-plan.md`: Welch's t-test, Holm's correction over the
//! comparisons of a data set, a verdict against the paper's direction; paired-by-seed and
//! pooled-variance tests beside it as secondary analyses. And an ablation arm beside the main
//! arm, configuration by configuration.

use super::group::Group;
use super::stats::{self, TTest};
use crate::arch::Arch;

/// The family-wise error rate of the comparisons' verdicts (Holm over each data set's family).
pub const ALPHA: f64 = 0.05;

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
const PAIRS: [(Arch, Arch, &str, &str, f64); 8] = [
    (Arch::A, Arch::ALrn, "does LRN help?", "+0.1", 1.0),
    (
        Arch::C,
        Arch::D,
        "1x1 vs 3x3 convs at equal depth",
        "-1.1",
        -1.0,
    ),
    (Arch::B, Arch::C, "extra 1x1 non-linearity", "-0.6", -1.0),
    (
        Arch::B,
        Arch::B5x5,
        "pairs of 3x3 vs one 5x5",
        "+7 % rel.",
        1.0,
    ),
    (Arch::A, Arch::B, "depth 11 -> 13", "-0.9", -1.0),
    (Arch::B, Arch::D, "depth 13 -> 16", "-1.7", -1.0),
    (Arch::A, Arch::D, "depth 11 -> 16", "-2.6", -1.0),
    (Arch::D, Arch::E, "depth 16 -> 19", "+0.3", 1.0),
];

/// The paper's comparisons among `groups` of one data set (those both of whose configurations
/// are there), with Holm's adjustment over them.
pub fn comparisons(groups: &[Group]) -> Vec<Comparison> {
    let find = |arch: Arch| {
        groups
            .iter()
            .find(|g| g.arch == arch && !g.batch_norm && !g.all_failed())
    };
    let pooled = stats::pooled_variance(
        groups
            .iter()
            .filter(|g| !g.all_failed())
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
        .filter(|g| !g.all_failed())
        .filter_map(|g| {
            let m = main.iter().find(|m| {
                m.dataset == g.dataset
                    && m.arch == g.arch
                    && m.batch_norm == g.batch_norm
                    && !m.all_failed()
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
