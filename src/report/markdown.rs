//! The report as Markdown: the depth table beside the paper's, the comparisons with their
//! seed spread, the protocol rows, the plots and the runs that have not finished.

use std::fmt::Write as _;
use std::path::Path;

use super::collect::Collection;
use super::group::{Group, PLATEAU_EPOCHS, comparisons, plateau_range};

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
            "| config | recipe | weight layers | params | top-1 err | top-5 err | val top-1 err | seeds | failed | epochs | val range, last {PLATEAU_EPOCHS} epochs | converged? |\n|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|"
        );
        for g in &gs {
            let _ = writeln!(
                md,
                "| {} | {} | {} | {} | {} | {} | {} | {} | {} | {} | {} | {} |",
                g.label(),
                g.recipe,
                g.weight_layers,
                g.params,
                pm(g.top1_err, g.top1_std),
                pm_opt(g.top5_err, g.top5_std),
                pm_opt(g.val_top1_err, g.val_top1_std),
                g.seeds,
                g.failed,
                g.epochs,
                g.plateau_range
                    .map(|r| format!("{r:.2}"))
                    .unwrap_or_else(|| "-".into()),
                match g.converged {
                    Some(true) => "yes",
                    Some(false) => "no",
                    None => "n/a (one seed)",
                }
            );
        }
        let spread = gs
            .first()
            .and_then(|g| g.seed_spread)
            .map(|s| format!(" (here {s:.2} pp)"))
            .unwrap_or_default();
        let _ = writeln!(
            md,
            "\nConvergence: `val range` is, for the least settled seed, how much the validation top-1 error still moved (max − min) over the run's last {PLATEAU_EPOCHS} epochs; a configuration counts as converged when that is smaller than the study's seed spread{spread}, so that more epochs would change a run by less than another seed does. The seed spread is the sample std of test top-1 error pooled over the configurations with two or more seeds, sqrt(Σ (n_i − 1) s_i² / Σ (n_i − 1)): three seeds estimate one configuration's std too roughly to judge by alone (three that happen to agree give a std near 0)."
        );
        if gs.iter().any(|g| g.failed > 0) {
            let _ = writeln!(
                md,
                "\nFailed runs: `failed` counts the seeds that did not train (status `stalled`, training loss at chance, or `diverged`). They are listed under Runs but left out of the means, the spread and the comparisons, which describe the runs that trained; `seeds` counts those (a configuration whose every run failed shows the failed runs' errors and is not converged)."
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
        "## Runs\n\n| run | arch | protocol | Q | seed | top-1 err | top-5 err | val top-1 err | best epoch | epochs | val range, last {PLATEAU_EPOCHS} | status | wall s |\n|---|---|---|---|---:|---:|---:|---:|---:|---:|---:|---|---:|"
    );
    let f = |v: Option<f64>| v.map(|x| format!("{x:.2}")).unwrap_or_else(|| "-".into());
    for r in &c.runs {
        let x = &r.result;
        let _ = writeln!(
            md,
            "| {} | {} | {} | {} | {} | {:.2} | {} | {} | {} | {} | {} | {} | {:.0} |",
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
            f(plateau_range(&r.metrics)),
            x.status,
            x.wall_seconds
        );
    }
    md
}
