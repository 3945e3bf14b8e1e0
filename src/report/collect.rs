//! Finding the runs under a directory: every run directory's results rows, per-epoch metrics
//! and recipe hash, and the run directories that have not finished.

use std::path::{Path, PathBuf};

use super::ReportError;
use crate::config::Experiment;
use crate::results::{EpochRow, ResultRow, RunPaths, read_csv};

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
pub fn collect(dir: &Path) -> Result<Collection, ReportError> {
    let mut out = Collection::default();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        let entries = std::fs::read_dir(&d).map_err(|e| ReportError::io(&d, e))?;
        let mut subdirs = Vec::new();
        for entry in entries.flatten() {
            let p = entry.path();
            let name = entry.file_name().to_string_lossy().into_owned();
            if p.is_dir() && !name.starts_with('.') && name != "checkpoint" && name != "logs" {
                subdirs.push(p);
            }
        }
        let paths = RunPaths::new(&d);
        let metrics_path = paths.metrics();
        if d != dir && paths.results().is_file() && paths.config().is_file() {
            let rows: Vec<ResultRow> = read_csv(&paths.results())?;
            let metrics: Vec<EpochRow> = read_csv(&metrics_path)?;
            let config = paths.config();
            let text = std::fs::read_to_string(&config).map_err(|e| ReportError::io(&config, e))?;
            let recipe = Experiment::from_toml_str(&text, &config, &[])?.recipe_hash();
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
