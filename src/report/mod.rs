//! `vgg-train report DIR`: every run's `results.csv` and `metrics.csv` under DIR turned into a
//! Table-3-style table (mean ± std and 95 % interval over seeds), the paper's comparisons with
//! Welch's tests, Holm's correction and verdicts ([`stats`]), an ablation arm beside the main
//! one (`--ablation DIR`), and plots (error vs depth, the comparisons' forest plot, learning
//! curves) as PNG and SVG.

mod builds;
mod collect;
mod compare;
mod error;
mod group;
mod markdown;
pub mod plots;
pub mod stats;

use std::path::{Path, PathBuf};

pub use collect::{Collection, Run, Unfinished, collect};
pub use compare::{ArmComparison, Comparison, Verdict, arm_comparisons, comparisons};
pub use error::ReportError;
pub use group::{Group, group};
pub use markdown::markdown;

use crate::arch::Arch;
use crate::config::DatasetKind;
use crate::results::write_atomic;

/// The paper's Table 3 (top-1, top-5 val error %, S = Q = 256, dense evaluation).
pub const PAPER_TABLE3: [(Arch, f64, f64); 6] = [
    (Arch::A, 29.6, 10.4),
    (Arch::ALrn, 29.7, 10.5),
    (Arch::B, 28.7, 9.9),
    (Arch::C, 28.1, 9.4),
    (Arch::D, 27.0, 8.8),
    (Arch::E, 27.3, 9.0),
];

/// The primary groups of the runs under `dir`, or an error naming `dir` when it holds none.
fn primary_groups(dir: &Path) -> Result<(Collection, Vec<Group>), ReportError> {
    let c = collect(dir)?;
    if c.runs.is_empty() {
        return Err(ReportError::NoRuns {
            dir: dir.to_path_buf(),
        });
    }
    let groups = group(&c.runs);
    Ok((c, groups))
}

/// Writes `report.md`, `report.csv` and the plots for `dir` into `out`, with the runs under
/// `ablation` (if given) reported as an arm beside the main one; returns the paths.
pub fn write_report(
    dir: &Path,
    out: &Path,
    ablation: Option<&Path>,
) -> Result<Vec<PathBuf>, ReportError> {
    let (c, all_groups) = primary_groups(dir)?;
    let groups: Vec<Group> = all_groups.iter().filter(|g| g.primary).cloned().collect();
    let arms = match ablation {
        Some(arm_dir) => {
            let (_, arm_groups) = primary_groups(arm_dir)?;
            let arm_groups: Vec<Group> = arm_groups.into_iter().filter(|g| g.primary).collect();
            Some((arm_dir, arm_comparisons(&groups, &arm_groups)))
        }
        None => None,
    };
    std::fs::create_dir_all(out).map_err(|e| ReportError::io(out, e))?;
    let mut written = Vec::new();
    let mut plot_names = Vec::new();
    let datasets: Vec<DatasetKind> = {
        let mut d: Vec<DatasetKind> = groups.iter().map(|g| g.dataset).collect();
        d.dedup();
        d
    };
    // The forest plot draws one data set's family (the first with comparisons).
    let comps = datasets
        .iter()
        .map(|ds| {
            let gs: Vec<Group> = groups
                .iter()
                .filter(|g| g.dataset == *ds)
                .cloned()
                .collect();
            comparisons(&gs)
        })
        .find(|c| c.iter().any(|c| c.welch.is_some()))
        .unwrap_or_default();
    let mut plot_list = vec![
        ("error-vs-depth", plots::error_vs_depth(&groups, out)),
        ("learning-curves", plots::learning_curves(&groups, out)),
    ];
    if !comps.is_empty() {
        plot_list.insert(1, ("comparisons", plots::forest(&comps, out)));
    }
    for (stem, result) in plot_list {
        let files = result?;
        plot_names.push(format!("{stem}.png"));
        written.extend(files);
    }
    let md = markdown(
        dir,
        &c,
        &all_groups,
        &plot_names,
        arms.as_ref().map(|(d, a)| (*d, a.as_slice())),
    );
    let md_path = out.join("report.md");
    write_atomic(&md_path, md.as_bytes()).map_err(|e| ReportError::io(&md_path, e))?;
    written.push(md_path);
    let csv_path = out.join("report.csv");
    crate::results::write_csv(&csv_path, &all_groups).map_err(|e| ReportError::io(&csv_path, e))?;
    written.push(csv_path);
    Ok(written)
}
