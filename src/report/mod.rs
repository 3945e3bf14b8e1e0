//! `vgg-train report DIR`: every run's `results.csv` and `metrics.csv` under DIR turned into a
//! Table-3-style table (mean ± std over seeds), the paper's comparisons with their seed spread,
//! and plots (error vs depth, learning curves) as PNG and SVG.

pub mod plots;

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use serde::Serialize;

use crate::arch::Arch;
use crate::results::{EpochRow, ResultRow, read_csv, write_atomic};
use crate::util::mean_std;

/// The paper's Table 3 (top-1, top-5 val error %, S = Q = 256, dense evaluation).
pub const PAPER_TABLE3: [(Arch, f64, f64); 6] = [
    (Arch::A, 29.6, 10.4),
    (Arch::ALrn, 29.7, 10.5),
    (Arch::B, 28.7, 9.9),
    (Arch::C, 28.1, 9.4),
    (Arch::D, 27.0, 8.8),
    (Arch::E, 27.3, 9.0),
];

/// One finished run as found on disk.
#[derive(Debug, Clone)]
pub struct Run {
    /// The run directory.
    pub dir: PathBuf,
    /// One of its results rows.
    pub result: ResultRow,
    /// Whether the row is the training run's own (its first row); evaluation rows (`[eval]`,
    /// `vgg-train eval`) are not.
    pub primary: bool,
    /// [`crate::config::Experiment::recipe_hash`] of the run's `config.toml`.
    pub recipe: String,
    /// Its per-epoch metrics.
    pub metrics: Vec<EpochRow>,
}

/// A run directory that has no results row (still running, interrupted or failed).
#[derive(Debug, Clone)]
pub struct Unfinished {
    /// The run directory.
    pub dir: PathBuf,
    /// Epochs recorded so far.
    pub epochs: usize,
}

/// What a directory holds.
#[derive(Debug, Clone, Default)]
pub struct Collection {
    /// Finished runs.
    pub runs: Vec<Run>,
    /// Runs without results.
    pub unfinished: Vec<Unfinished>,
}

/// Walks `dir` for run directories (those with `results.csv` or `metrics.csv`).
pub fn collect(dir: &Path) -> Result<Collection, String> {
    let mut out = Collection::default();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        let entries = std::fs::read_dir(&d).map_err(|e| format!("{}: {e}", d.display()))?;
        let mut subdirs = Vec::new();
        for entry in entries.flatten() {
            let p = entry.path();
            let name = entry.file_name().to_string_lossy().into_owned();
            if p.is_dir() && !name.starts_with('.') && name != "checkpoint" && name != "logs" {
                subdirs.push(p);
            }
        }
        let results = d.join("results.csv");
        let metrics_path = d.join("metrics.csv");
        if d != dir && results.is_file() && d.join("config.toml").is_file() {
            let rows: Vec<ResultRow> = read_csv(&results).map_err(|e| e.to_string())?;
            let metrics: Vec<EpochRow> = read_csv(&metrics_path).map_err(|e| e.to_string())?;
            let config = d.join("config.toml");
            let text = std::fs::read_to_string(&config)
                .map_err(|e| format!("{}: {e}", config.display()))?;
            let recipe = crate::config::Experiment::from_toml_str(&text, &config, &[])
                .map_err(|e| e.to_string())?
                .recipe_hash();
            for (i, result) in rows.into_iter().enumerate() {
                out.runs.push(Run {
                    dir: d.clone(),
                    primary: i == 0 && result.is_from_training(),
                    recipe: recipe.clone(),
                    result,
                    metrics: metrics.clone(),
                });
            }
        } else if metrics_path.is_file() {
            let metrics: Vec<EpochRow> = read_csv(&metrics_path).unwrap_or_default();
            out.unfinished.push(Unfinished {
                dir: d.clone(),
                epochs: metrics.len(),
            });
        }
        stack.extend(subdirs);
    }
    out.runs.sort_by(|a, b| a.dir.cmp(&b.dir));
    out.unfinished.sort_by(|a, b| a.dir.cmp(&b.dir));
    Ok(out)
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
    /// Seeds (runs) in the group.
    pub seeds: usize,
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
    /// The paper's Table 3 top-1 error, beside ImageNet rows of its protocol (dense).
    pub paper_top1_err: Option<f64>,
    /// The paper's Table 3 top-5 error, likewise.
    pub paper_top5_err: Option<f64>,
    #[serde(skip)]
    curves: Vec<Vec<f64>>,
}

impl Group {
    /// Mean validation top-1 error per epoch over the seeds that reached that epoch.
    pub fn mean_curve(&self) -> Vec<(usize, f64)> {
        let longest = self.curves.iter().map(Vec::len).max().unwrap_or(0);
        (0..longest)
            .map(|e| {
                let v: Vec<f64> = self
                    .curves
                    .iter()
                    .filter_map(|c| c.get(e).copied())
                    .collect();
                (e + 1, mean_std(&v).0)
            })
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
        .map(|members| {
            let first = &members[0].result;
            let top1: Vec<f64> = members.iter().map(|m| m.result.top1_err).collect();
            let top5: Vec<Option<f64>> = members.iter().map(|m| m.result.top5_err).collect();
            let val: Vec<Option<f64>> = members.iter().map(|m| m.result.val_top1_err).collect();
            let (top1_err, top1_std) = mean_std(&top1);
            let (top5_err, top5_std) = mean_std_all(&top5);
            let (val_top1_err, val_top1_std) = mean_std_all(&val);
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
                epochs: members.iter().map(|m| m.result.epochs).max().unwrap_or(0),
                top1_err,
                top1_std,
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
    let pairs: [(&str, &str, &'static str); 6] = [
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

fn pm(mean: f64, std: Option<f64>) -> String {
    match std {
        Some(s) => format!("{mean:.2} ± {s:.2}"),
        None => format!("{mean:.2}"),
    }
}

/// [`pm`] for a mean that may be absent (`-`).
fn pm_opt(mean: Option<f64>, std: Option<f64>) -> String {
    mean.map(|m| pm(m, std)).unwrap_or_else(|| "-".into())
}

/// The report as Markdown.
pub fn markdown(dir: &Path, c: &Collection, all_groups: &[Group], plots: &[String]) -> String {
    let groups: Vec<Group> = all_groups.iter().filter(|g| g.primary).cloned().collect();
    let protocol_groups: Vec<&Group> = all_groups.iter().filter(|g| !g.primary).collect();
    let mut md = String::new();
    let _ = writeln!(md, "# Depth study: {}\n", dir.display());
    let _ = writeln!(
        md,
        "{} finished runs in {} configurations. Errors in % (mean ± sample std over seeds): **test** errors of each run's model at its best epoch, the epoch chosen by validation error (`val top-1`; on the test split itself where no validation split is held out). Made by `vgg-train report {}`.\n",
        c.runs.iter().filter(|r| r.primary).count(),
        groups.len(),
        dir.display()
    );
    let datasets: Vec<String> = {
        let mut d: Vec<String> = groups.iter().map(|g| g.dataset.clone()).collect();
        d.dedup();
        d
    };
    for ds in &datasets {
        let gs: Vec<Group> = groups
            .iter()
            .filter(|g| &g.dataset == ds)
            .cloned()
            .collect();
        let _ = writeln!(md, "## {ds}\n");
        let _ = writeln!(
            md,
            "| config | recipe | weight layers | params | top-1 err | top-5 err | val top-1 err | seeds | epochs |\n|---|---|---:|---:|---:|---:|---:|---:|---:|"
        );
        for g in &gs {
            let _ = writeln!(
                md,
                "| {} | {} | {} | {} | {} | {} | {} | {} | {} |",
                g.label(),
                g.recipe,
                g.weight_layers,
                g.params,
                pm(g.top1_err, g.top1_std),
                pm_opt(g.top5_err, g.top5_std),
                pm_opt(g.val_top1_err, g.val_top1_std),
                g.seeds,
                g.epochs
            );
        }
        let comps = comparisons(&gs);
        let imagenet = comps.iter().any(|c| c.paper_diff.is_some());
        if !comps.is_empty() {
            let _ = writeln!(
                md,
                "\n### The paper's comparisons (test top-1 error)\n\n| comparison | question | difference (pp) | 2 × SE of difference | larger than seed spread? |{}\n|---|---|---:|---:|---|{}",
                if imagenet { " paper |" } else { "" },
                if imagenet { "---:|" } else { "" }
            );
            for cmp in &comps {
                let se = cmp
                    .se
                    .map(|s| format!("{:.2}", 2.0 * s))
                    .unwrap_or("n/a".into());
                let verdict = match cmp.beyond_seed_noise() {
                    Some(true) => "yes",
                    Some(false) => "no",
                    None => "n/a (one seed)",
                };
                let _ = write!(
                    md,
                    "| {} | {} | {:+.2} | {} | {} |",
                    cmp.title, cmp.question, cmp.diff, se, verdict
                );
                if imagenet {
                    let p = cmp
                        .paper_diff
                        .map(|d| format!("{d:+.1}"))
                        .unwrap_or_default();
                    let _ = write!(md, " {p} |");
                }
                md.push('\n');
            }
            let _ = writeln!(
                md,
                "\nA difference counts as larger than the seed spread when it exceeds twice its standard error, sqrt(s_a²/n_a + s_b²/n_b)."
            );
        }
        md.push('\n');
    }
    if !protocol_groups.is_empty() {
        let _ = writeln!(
            md,
            "## Test protocols\n\nRows of `[eval]` and `vgg-train eval`: the best model of each run (or a weights file) under the paper's test protocols (§3.2, Tables 3-5), with Table 3's numbers beside ImageNet rows of its protocol (dense).\n\n| data set | config | weights | protocol | Q | top-1 err | top-5 err | runs | paper top-1 | paper top-5 |\n|---|---|---|---|---|---:|---:|---:|---:|---:|"
        );
        for g in &protocol_groups {
            let f = |v: Option<f64>| v.map(|x| format!("{x:.1}")).unwrap_or_default();
            let _ = writeln!(
                md,
                "| {} | {} | {} | {} | {} | {} | {} | {} | {} | {} |",
                g.dataset,
                g.label(),
                g.weights,
                g.protocol,
                g.scales,
                pm(g.top1_err, g.top1_std),
                pm_opt(g.top5_err, g.top5_std),
                g.seeds,
                f(g.paper_top1_err),
                f(g.paper_top5_err)
            );
        }
        md.push('\n');
    }
    if !plots.is_empty() {
        let _ = writeln!(md, "## Plots\n");
        for p in plots {
            let _ = writeln!(md, "![{p}]({p})\n");
        }
    }
    if !c.unfinished.is_empty() {
        let _ = writeln!(md, "## Runs without results\n");
        for u in &c.unfinished {
            let _ = writeln!(
                md,
                "- `{}`: {} epochs recorded, no results.csv (running, interrupted or failed)",
                u.dir.display(),
                u.epochs
            );
        }
        md.push('\n');
    }
    let _ = writeln!(
        md,
        "## Runs\n\n| run | arch | protocol | Q | seed | top-1 err | top-5 err | val top-1 err | best epoch | epochs | status | wall s |\n|---|---|---|---|---:|---:|---:|---:|---:|---:|---|---:|"
    );
    let f = |v: Option<f64>| v.map(|x| format!("{x:.2}")).unwrap_or_else(|| "-".into());
    for r in &c.runs {
        let x = &r.result;
        let _ = writeln!(
            md,
            "| {} | {} | {} | {} | {} | {:.2} | {} | {} | {} | {} | {} | {:.0} |",
            x.name,
            x.arch,
            x.protocol,
            x.scales,
            x.seed,
            x.top1_err,
            f(x.top5_err),
            f(x.val_top1_err),
            x.best_epoch,
            x.epochs,
            x.status,
            x.wall_seconds
        );
    }
    md
}

/// Writes `report.md`, `report.csv` and the plots for `dir` into `out`; returns the paths.
pub fn write_report(dir: &Path, out: &Path) -> Result<Vec<PathBuf>, String> {
    let c = collect(dir)?;
    if c.runs.is_empty() {
        return Err(format!(
            "{}: no finished runs (no */results.csv); run scripts/sweep.sh or vgg-train first",
            dir.display()
        ));
    }
    let all_groups = group(&c.runs);
    let groups: Vec<Group> = all_groups.iter().filter(|g| g.primary).cloned().collect();
    std::fs::create_dir_all(out).map_err(|e| format!("{}: {e}", out.display()))?;
    let mut written = Vec::new();
    let mut plot_names = Vec::new();
    for (stem, result) in [
        ("error-vs-depth", plots::error_vs_depth(&groups, out)),
        ("learning-curves", plots::learning_curves(&groups, out)),
    ] {
        let files = result?;
        plot_names.push(format!("{stem}.png"));
        written.extend(files);
    }
    let md = markdown(dir, &c, &all_groups, &plot_names);
    let md_path = out.join("report.md");
    write_atomic(&md_path, md.as_bytes()).map_err(|e| format!("{}: {e}", md_path.display()))?;
    written.push(md_path);
    let csv_path = out.join("report.csv");
    crate::results::write_csv(&csv_path, &all_groups)
        .map_err(|e| format!("{}: {e}", csv_path.display()))?;
    written.push(csv_path);
    Ok(written)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mean_and_sample_std() {
        let (m, s) = mean_std(&[1.0, 2.0, 3.0]);
        assert!((m - 2.0).abs() < 1e-12);
        assert!((s.unwrap() - 1.0).abs() < 1e-12);
        assert_eq!(mean_std(&[4.0]), (4.0, None));
    }
}
