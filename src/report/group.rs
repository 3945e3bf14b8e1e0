//! Runs grouped by recipe (mean ± std over seeds) and the paper's comparisons between groups.

use std::collections::BTreeMap;

use serde::Serialize;

use super::PAPER_TABLE3;
use super::collect::Run;
use crate::arch::Arch;
use crate::results::EpochRow;
use crate::util::mean_std;

/// Epochs at the end of a run over which the report measures whether it still moved.
pub const PLATEAU_EPOCHS: usize = 3;

/// How much a run's validation top-1 error still moved at its end: the range (max − min, in
/// percentage points) over its last [`PLATEAU_EPOCHS`] epochs; `None` for a shorter run.
pub fn plateau_range(metrics: &[EpochRow]) -> Option<f64> {
    let tail = metrics.get(metrics.len().checked_sub(PLATEAU_EPOCHS)?..)?;
    let errs = tail.iter().map(|r| r.val_top1_err);
    let max = errs.clone().fold(f64::NEG_INFINITY, f64::max);
    let min = errs.fold(f64::INFINITY, f64::min);
    Some(max - min)
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
    pub protocol: String,
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
    /// Epochs run (max over seeds).
    pub epochs: usize,
    /// Mean test top-1 error, %.
    pub top1_err: f64,
    /// Standard deviation of test top-1 error over seeds (empty with one seed).
    pub top1_std: Option<f64>,
    /// Mean test top-5 error, % (empty for fewer than 5 classes).
    pub top5_err: Option<f64>,
    /// Standard deviation of test top-5 error over seeds.
    pub top5_std: Option<f64>,
    /// Mean validation top-1 error at the best epoch, % (training rows).
    pub val_top1_err: Option<f64>,
    /// Its standard deviation over seeds.
    pub val_top1_std: Option<f64>,
    /// The largest [`plateau_range`] over the seeds: how much the least settled run's
    /// validation error still moved in its last epochs (`None` if a run is shorter).
    pub plateau_range: Option<f64>,
    /// The seed spread the convergence criterion uses: the sample std of test top-1 error
    /// pooled over the groups of this data set (training rows and evaluation rows apart)
    /// that have two or more seeds that trained, sqrt(Σ (n_i − 1) s_i² / Σ (n_i − 1)).
    /// Three seeds estimate one configuration's std too roughly to judge by alone (three
    /// seeds that happen to agree give a std near 0); the pooled one has the whole study's
    /// degrees of freedom. `None` where no group has two seeds.
    pub seed_spread: Option<f64>,
    /// The convergence criterion: every seed's [`plateau_range`] is smaller than
    /// [`Group::seed_spread`], so more epochs would move a run by less than picking another
    /// seed does; never for a group whose every run failed; `None` without a seed spread.
    pub converged: Option<bool>,
    /// The paper's Table 3 top-1 error, beside ImageNet rows of its protocol (dense).
    pub paper_top1_err: Option<f64>,
    /// The paper's Table 3 top-5 error, likewise.
    pub paper_top5_err: Option<f64>,
    #[serde(skip)]
    curves: Vec<Vec<f64>>,
    #[serde(skip)]
    top1: Vec<f64>,
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
    let mut groups = group_by_recipe(runs);
    judge_convergence(&mut groups);
    groups
}

/// Sets [`Group::seed_spread`] and [`Group::converged`] for every group.
fn judge_convergence(groups: &mut [Group]) {
    // Per (data set, training or evaluation rows): Σ (n_i − 1) s_i² and Σ (n_i − 1).
    let mut pooled: BTreeMap<(&str, bool), (f64, usize)> = BTreeMap::new();
    for g in groups.iter().filter(|g| !g.all_failed) {
        if let Some(s) = g.top1_std {
            let sums = pooled.entry((&g.dataset, g.primary)).or_default();
            sums.0 += (g.seeds - 1) as f64 * s * s;
            sums.1 += g.seeds - 1;
        }
    }
    let spreads: Vec<Option<f64>> = groups
        .iter()
        .map(|g| {
            let (sum_sq, dof) = pooled.get(&(g.dataset.as_str(), g.primary))?;
            Some((sum_sq / *dof as f64).sqrt())
        })
        .collect();
    for (g, spread) in groups.iter_mut().zip(spreads) {
        g.seed_spread = spread;
        g.converged = g
            .plateau_range
            .zip(spread)
            .map(|(r, s)| r < s && !g.all_failed);
    }
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
            r.protocol.clone(),
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
            let ranges: Option<Vec<f64>> =
                members.iter().map(|m| plateau_range(&m.metrics)).collect();
            let plateau_range = ranges.map(|r| r.into_iter().fold(0.0, f64::max));
            let arch = Arch::parse(&first.arch).ok();
            // Table 3 is dense evaluation: its numbers stand beside dense rows only.
            let paper = arch
                .filter(|_| is_imagenet(&first.dataset) && first.protocol == "dense")
                .and_then(|a| PAPER_TABLE3.iter().find(|p| p.0 == a));
            Group {
                recipe: members[0].recipe.clone(),
                dataset: first.dataset.clone(),
                arch: first.arch.clone(),
                weight_layers: arch.map(Arch::weight_layers).unwrap_or(0),
                batch_norm: first.batch_norm,
                width: first.width,
                image_size: first.image_size,
                protocol: first.protocol.clone(),
                scales: first.scales.clone(),
                primary: members[0].primary,
                weights: if first.is_from_training() {
                    "trained".into()
                } else {
                    crate::results::STATUS_PRETRAINED.into()
                },
                params: first.params,
                seeds: members.len(),
                failed,
                epochs: members.iter().map(|m| m.result.epochs).max().unwrap_or(0),
                top1_err,
                top1_std,
                top5_err,
                top5_std,
                val_top1_err,
                val_top1_std,
                plateau_range,
                seed_spread: None,
                converged: None,
                paper_top1_err: paper.map(|p| p.1),
                paper_top5_err: paper.map(|p| p.2),
                curves: members
                    .iter()
                    .map(|m| m.metrics.iter().map(|r| r.val_top1_err).collect())
                    .collect(),
                top1,
                all_failed,
            }
        })
        .collect()
}

/// One of the paper's comparisons, measured.
#[derive(Debug, Clone)]
pub struct Comparison {
    /// What is compared, e.g. `A vs A-LRN`.
    pub title: String,
    /// The paper's question.
    pub question: &'static str,
    /// Mean top-1 error of the second minus the first, percentage points.
    pub diff: f64,
    /// Standard error of that difference from the seed spread (`None` with one seed).
    pub se: Option<f64>,
    /// The paper's difference (ImageNet, Table 3), when known.
    pub paper_diff: Option<f64>,
}

impl Comparison {
    /// Whether |diff| exceeds twice the standard error of the difference.
    pub fn beyond_seed_noise(&self) -> Option<bool> {
        self.se.map(|se| self.diff.abs() > 2.0 * se)
    }
}

fn compare(a: &Group, b: &Group, question: &'static str) -> Comparison {
    let se = match (a.top1_std, b.top1_std) {
        (Some(sa), Some(sb)) => Some((sa * sa / a.seeds as f64 + sb * sb / b.seeds as f64).sqrt()),
        _ => None,
    };
    let paper_diff = match (a.paper_top1_err, b.paper_top1_err) {
        (Some(pa), Some(pb)) => Some(pb - pa),
        _ => None,
    };
    Comparison {
        title: format!("{} vs {}", a.label(), b.label()),
        question,
        diff: b.top1_err - a.top1_err,
        se,
        paper_diff,
    }
}

/// The paper's comparisons among `groups` of one data set: A vs A-LRN, C vs D, B vs B-5x5,
/// and the depth chain A → B → D → E.
pub fn comparisons(groups: &[Group]) -> Vec<Comparison> {
    let find = |arch: &str| groups.iter().find(|g| g.arch == arch && !g.batch_norm);
    let pairs: [(&str, &str, &'static str); 7] = [
        ("A", "A-LRN", "does LRN help? (paper: no)"),
        (
            "C",
            "D",
            "1x1 vs 3x3 convs at equal depth (paper: D better)",
        ),
        ("B", "C", "extra 1x1 non-linearity (paper: C better than B)"),
        (
            "B",
            "B-5x5",
            "pairs of 3x3 vs one 5x5 (paper: 5x5 net 7% worse)",
        ),
        ("A", "B", "depth 11 -> 13"),
        ("B", "D", "depth 13 -> 16"),
        ("A", "D", "depth 11 -> 16 (paper: D 2.6 pp better)"),
    ];
    let mut out: Vec<Comparison> = pairs
        .iter()
        .filter_map(|(x, y, q)| Some(compare(find(x)?, find(y)?, q)))
        .collect();
    if let (Some(d), Some(e)) = (find("D"), find("E")) {
        out.push(compare(d, e, "depth 16 -> 19 (paper: saturates)"));
    }
    out
}
