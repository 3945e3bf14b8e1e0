//! `vgg-train report DIR`: every run's `results.csv` and `metrics.csv` under DIR turned into a
//! Table-3-style table (mean ± std over seeds), the paper's comparisons with their seed spread,
//! and plots (error vs depth, learning curves) as PNG and SVG.

mod collect;
mod group;
mod markdown;
pub mod plots;
pub mod stats;

use std::path::{Path, PathBuf};

pub use collect::{Collection, Run, Unfinished, collect};
pub use group::{Comparison, Group, comparisons, group};
pub use markdown::markdown;

use crate::arch::Arch;
use crate::error::ReportError;
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

/// Writes `report.md`, `report.csv` and the plots for `dir` into `out`; returns the paths.
pub fn write_report(dir: &Path, out: &Path) -> Result<Vec<PathBuf>, ReportError> {
    let c = collect(dir)?;
    if c.runs.is_empty() {
        return Err(ReportError::NoRuns {
            dir: dir.to_path_buf(),
        });
    }
    let all_groups = group(&c.runs);
    let groups: Vec<Group> = all_groups.iter().filter(|g| g.primary).cloned().collect();
    std::fs::create_dir_all(out).map_err(|e| ReportError::io(out, e))?;
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
    write_atomic(&md_path, md.as_bytes()).map_err(|e| ReportError::io(&md_path, e))?;
    written.push(md_path);
    let csv_path = out.join("report.csv");
    crate::results::write_csv(&csv_path, &all_groups).map_err(|e| ReportError::io(&csv_path, e))?;
    written.push(csv_path);
    Ok(written)
}
