//! The report as Markdown: the depth table beside the paper's, the comparisons with their
//! tests and verdicts, the secondary analyses, an ablation arm beside the main one, the protocol
//! rows, the plots and the runs that have not finished.

use std::fmt::Write as _;
use std::path::Path;

use super::builds::{Runs, build_check};
use super::collect::Collection;
use super::compare::{ALPHA, ArmComparison, Comparison, comparisons};
use super::group::{Group, epochs_at_initial_lr};
use super::stats::TTest;
use crate::config::DatasetKind;

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

/// `[lo, hi]` of an interval, 2 decimals.
fn interval((lo, hi): (f64, f64)) -> String {
    format!("[{lo:+.2}, {hi:+.2}]")
}

/// A p-value: 3 significant digits, `< 0.0001` below that.
fn p_value(p: f64) -> String {
    if p < 1e-4 {
        "< 0.0001".into()
    } else {
        format!("{p:.4}")
    }
}

/// A test's row cells: difference, interval, df, p.
fn test_cells(t: &TTest) -> String {
    format!(
        "{:+.2} | {} | {:.1} | {}",
        t.diff,
        interval(t.ci),
        t.df,
        p_value(t.p)
    )
}

/// The primary table: Welch, Holm, verdict.
fn primary_table(md: &mut String, comps: &[Comparison]) {
    let _ = writeln!(
        md,
        "\n### The paper's comparisons (test top-1 error; primary analysis)\n\n| comparison | question | paper (pp) | difference (pp) | 95 % interval | Welch df | p | Holm p | verdict |\n|---|---|---:|---:|---|---:|---:|---:|---|"
    );
    for c in comps {
        let tested = c
            .welch
            .map(|t| test_cells(&t))
            .unwrap_or_else(|| format!("{:+.2} | n/a (one seed) | | ", c.diff));
        let _ = writeln!(
            md,
            "| {} | {} | {} | {} | {} | {} |",
            c.title,
            c.question,
            c.paper,
            tested,
            c.holm_p.map(p_value).unwrap_or_default(),
            c.verdict().map(|v| v.name()).unwrap_or("n/a")
        );
    }
    let _ = writeln!(
        md,
        "\nDifference: second minus first, in percentage points of test top-1 error (negative: the second is better); paper: the same difference in Table 3 (S = Q = 256; B-5x5: §4.1). Each row is Welch's two-sample t-test, two-sided, with its 95 % interval; Holm p adjusts the p-values for the {} comparisons of this table together. Verdict, by the rule written before Study II's runs (`experiments/depth-fashion-mnist-plan.md`): **supported** when Holm p < {ALPHA} and the difference has the paper's sign, **contradicted** when Holm p < {ALPHA} and it has the other sign, **not resolved** otherwise (the interval then says how large an effect the data still allow).",
        comps.iter().filter(|c| c.welch.is_some()).count()
    );
}

/// The secondary tables: paired by seed, and pooled variance.
fn secondary_tables(md: &mut String, comps: &[Comparison]) {
    let _ = writeln!(
        md,
        "\n### Secondary analyses (no verdict rests on them)\n\n| comparison | pairs | paired difference (pp) | 95 % interval | df | p | pooled-variance difference | 95 % interval | df | p |\n|---|---:|---:|---|---:|---:|---:|---|---:|---:|"
    );
    for c in comps {
        let paired = c
            .paired
            .map(|(t, n)| format!("{n} | {}", test_cells(&t)))
            .unwrap_or_else(|| "0 | | | | ".into());
        let pooled = c
            .pooled
            .map(|t| test_cells(&t))
            .unwrap_or_else(|| " | | | ".into());
        let _ = writeln!(md, "| {} | {paired} | {pooled} |", c.title);
    }
    let _ = writeln!(
        md,
        "\nPaired: the t-test of the per-seed differences over the seeds both configurations have (runs with the same seed share the data order and dropout streams, and A and A-LRN the initial weights too). Pooled: Student's t with the within-configuration variance pooled over every configuration of this table, sqrt(Σ (n_i − 1) s_i² / Σ (n_i − 1)). Both unadjusted."
    );
}

/// The plan's build check, where the runs come from more than one build.
fn build_check_section(md: &mut String, groups: &[Group]) {
    let usable: Vec<&Group> = groups
        .iter()
        .filter(|g| g.primary && !g.all_failed())
        .collect();
    let configs: Vec<Runs<'_>> = usable
        .iter()
        .map(|g| (g.seed_top1(), g.seed_builds()))
        .collect();
    let Some(b) = build_check(&configs) else {
        return;
    };
    let _ = writeln!(
        md,
        "\n### Build check (secondary)\n\n| runs of build `{}` | runs of {} other builds | other − `{}` (pp) | 95 % interval | df | p |\n|---:|---:|---:|---|---:|---:|\n| {} | {} | {} |\n\nEach run's test top-1 error minus its configuration's mean, then Welch's test of the mean of these deviations over the runs of every other build minus that over the runs of the build most runs share, pooled over configurations, unadjusted. An interval that excludes zero would mean that the build a run came from acts as more than a new seed.",
        b.main_build,
        b.other_builds,
        b.main_build,
        b.main_runs,
        b.other_runs,
        test_cells(&b.test)
    );
}

/// The ablation arm beside the main one.
fn ablation_section(md: &mut String, arm_dir: &Path, arms: &[ArmComparison]) {
    let _ = writeln!(
        md,
        "## Ablation arm: {}\n\nEach configuration of the arm beside the same configuration of the main study: test top-1 error, ablation minus main (negative: the ablation is better).\n\n| config | main: mean (n) | ablation: mean (n) | difference (pp) | 95 % interval | Welch df | p | paired difference (pp) | 95 % interval | pairs | main protocol under-trains? |\n|---|---:|---:|---:|---|---:|---:|---:|---|---:|---|",
        arm_dir.display()
    );
    for a in arms {
        let welch = a
            .welch
            .map(|t| test_cells(&t))
            .unwrap_or_else(|| " | | | ".into());
        let paired = a
            .paired
            .map(|(t, n)| format!("{:+.2} | {} | {n}", t.diff, interval(t.ci)))
            .unwrap_or_else(|| " | | 0".into());
        let verdict = match (a.main_under_trains(), a.welch) {
            (Some(true), Some(t)) => {
                format!("yes, by {:.2} pp (interval {})", -t.diff, interval(t.ci))
            }
            (Some(false), _) => "no".into(),
            _ => "n/a".into(),
        };
        let _ = writeln!(
            md,
            "| {} | {:.2} ({}) | {:.2} ({}) | {welch} | {paired} | {verdict} |",
            a.label, a.main.top1_err, a.main.seeds, a.arm.top1_err, a.arm.seeds
        );
    }
    let _ = writeln!(
        md,
        "\nThe rule (written before the runs): the main protocol under-trains a configuration when the whole 95 % Welch interval of ablation − main lies below zero.\n"
    );
}

/// The report as Markdown; `arm` is an ablation arm's directory and its comparisons.
pub fn markdown(
    dir: &Path,
    c: &Collection,
    all_groups: &[Group],
    plots: &[String],
    arm: Option<(&Path, &[ArmComparison])>,
) -> String {
    let groups: Vec<Group> = all_groups.iter().filter(|g| g.primary).cloned().collect();
    let protocol_groups: Vec<&Group> = all_groups.iter().filter(|g| !g.primary).collect();
    let mut md = String::new();
    let made_by = match arm {
        Some((arm_dir, _)) => format!("{} --ablation {}", dir.display(), arm_dir.display()),
        None => dir.display().to_string(),
    };
    let _ = writeln!(md, "# Depth study: {}\n", dir.display());
    let _ = writeln!(
        md,
        "{} finished runs in {} configurations. Errors in % (mean ± sample std over seeds, and the 95 % t-interval of the mean): **test** errors of each run's model at its best epoch, the epoch chosen by validation error (`val top-1`; on the test split itself where no validation split is held out). Made by `vgg-train report {}`.\n",
        c.runs.iter().filter(|r| r.primary).count(),
        groups.len(),
        made_by
    );
    let datasets: Vec<DatasetKind> = {
        let mut d: Vec<DatasetKind> = groups.iter().map(|g| g.dataset).collect();
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
            "| config | recipe | weight layers | params | top-1 err | 95 % interval | top-5 err | val top-1 err | seeds | failed | epochs |\n|---|---|---:|---:|---:|---|---:|---:|---:|---:|---|"
        );
        for g in &gs {
            let _ = writeln!(
                md,
                "| {} | {} | {} | {} | {} | {} | {} | {} | {} | {} | {} |",
                g.label(),
                g.recipe,
                g.weight_layers,
                g.params,
                pm(g.top1_err, g.top1_std),
                g.top1_ci_low
                    .zip(g.top1_ci_high)
                    .map(|(lo, hi)| format!("[{lo:.2}, {hi:.2}]"))
                    .unwrap_or_else(|| "-".into()),
                pm_opt(g.top5_err, g.top5_std),
                pm_opt(g.val_top1_err, g.val_top1_std),
                g.seeds,
                g.failed,
                if g.epochs_min == g.epochs {
                    g.epochs.to_string()
                } else {
                    format!("{}–{}", g.epochs_min, g.epochs)
                },
            );
        }
        if gs.iter().any(|g| g.failed > 0) {
            let _ = writeln!(
                md,
                "\nFailed runs: `failed` counts the seeds that did not train (status `stalled`, training loss at chance, or `diverged`). They are listed under Runs but left out of the means, the intervals and the comparisons, which describe the runs that trained; `seeds` counts those (a configuration whose every run failed shows the failed runs' errors and is left out of the comparisons)."
            );
        }
        let comps = comparisons(&gs);
        if !comps.is_empty() {
            primary_table(&mut md, &comps);
            secondary_tables(&mut md, &comps);
        }
        build_check_section(&mut md, &gs);
        md.push('\n');
    }
    if let Some((arm_dir, arms)) = arm {
        ablation_section(&mut md, arm_dir, arms);
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
        "## Runs\n\n| run | arch | protocol | Q | seed | top-1 err | top-5 err | val top-1 err | best epoch | epochs | epochs at first lr | final train loss | status | wall s |\n|---|---|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---|---:|"
    );
    let f = |v: Option<f64>| v.map(|x| format!("{x:.2}")).unwrap_or_else(|| "-".into());
    for r in &c.runs {
        let x = &r.result;
        let _ = writeln!(
            md,
            "| {} | {} | {} | {} | {} | {:.2} | {} | {} | {} | {} | {} | {} | {} | {:.0} |",
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
            epochs_at_initial_lr(&r.metrics),
            r.metrics
                .last()
                .map(|m| format!("{:.3}", m.train_loss))
                .unwrap_or_else(|| "-".into()),
            x.status,
            x.wall_seconds
        );
    }
    md
}
