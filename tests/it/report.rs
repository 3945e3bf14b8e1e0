//! `vgg-train report` on fixture CSVs: missing seeds, a failed run, a one-epoch run, runs of
//! another recipe kept apart, ImageNet dense rows beside the paper's Table 3, the comparisons'
//! tests and verdicts, an ablation arm; plots are valid PNG and SVG (the committed reports:
//! `committed_reports.rs`).

use crate::util::*;
use std::path::Path;

const METRICS_HEADER: &str = "epoch,lr,train_loss,train_top1_err,train_top5_err,val_loss,val_top1_err,val_top5_err,epoch_seconds,train_img_s\n";
pub(super) const RESULTS_HEADER: &str = "name,arch,batch_norm,width,dataset,image_size,epochs,seed,params,top1_err,top5_err,best_epoch,wall_seconds,device,git_commit,status,final_top1_err,final_top5_err,train_images,val_images\n";

/// Writes a run directory with `curve` as its validation top-1 errors.
pub(super) fn run_dir(
    root: &Path,
    name: &str,
    arch: &str,
    dataset: &str,
    seed: u64,
    curve: &[f64],
    finished: bool,
) {
    let dir = root.join(name);
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("config.toml"), format!("name = \"{name}\"\n")).unwrap();
    let mut m = METRICS_HEADER.to_string();
    for (i, e) in curve.iter().enumerate() {
        m += &format!(
            "{},0.01,1.0,{e},5.0,1.0,{e},{:.1},10.0,100.0\n",
            i + 1,
            e / 4.0
        );
    }
    std::fs::write(dir.join("metrics.csv"), m).unwrap();
    if finished {
        let (best_epoch, best) = curve
            .iter()
            .enumerate()
            .min_by(|a, b| a.1.total_cmp(b.1))
            .map(|(i, e)| (i + 1, *e))
            .unwrap();
        let last = curve.last().unwrap();
        std::fs::write(
            dir.join("results.csv"),
            format!(
                "{RESULTS_HEADER}{name},{arch},false,0.25,{dataset},32,{},{seed},1000,{best},{:.1},{best_epoch},60.0,flex,abc,finished,{last},{:.1},100,50\n",
                curve.len(),
                best / 4.0,
                last / 4.0
            ),
        )
        .unwrap();
    }
}

/// The line of a Markdown table in `md` whose first cell is `label`.
pub(super) fn table_row(md: &str, label: &str) -> String {
    md.lines()
        .find(|l| l.starts_with(&format!("| {label} |")))
        .unwrap_or_else(|| panic!("no row for {label}: {md}"))
        .to_string()
}

pub(super) fn fixture(root: &Path) {
    let fm = root.join("fmnist");
    for (seed, d) in [(0, 0.0), (1, 0.4), (2, -0.4)] {
        run_dir(
            &fm,
            &format!("a-s{seed}"),
            "A",
            "fashion-mnist",
            seed,
            &[20.0, 12.0 + d],
            true,
        );
        run_dir(
            &fm,
            &format!("e-s{seed}"),
            "E",
            "fashion-mnist",
            seed,
            &[25.0, 10.0 + d],
            true,
        );
    }
    // A-LRN is missing seed 2; D ran one seed for one epoch; B's seed 1 failed after 1 epoch.
    run_dir(
        &fm,
        "alrn-s0",
        "A-LRN",
        "fashion-mnist",
        0,
        &[20.0, 12.1],
        true,
    );
    run_dir(
        &fm,
        "alrn-s1",
        "A-LRN",
        "fashion-mnist",
        1,
        &[20.0, 12.3],
        true,
    );
    run_dir(&fm, "d-s0", "D", "fashion-mnist", 0, &[15.0], true);
    run_dir(&fm, "b-s0", "B", "fashion-mnist", 0, &[18.0, 11.0], true);
    run_dir(&fm, "b-s1", "B", "fashion-mnist", 1, &[19.0], false);
    // ImageNet runs get the paper's Table 3 beside them.
    let inet = root.join("imagenet");
    run_dir(
        &inet,
        "vgg16-s0",
        "D",
        "image-folder",
        0,
        &[40.0, 28.0],
        true,
    );
    run_dir(
        &inet,
        "vgg16-1x1-s0",
        "C",
        "image-folder",
        0,
        &[41.0, 29.0],
        true,
    );
}

/// Runs `vgg-train report` on `root` into `root/report`; returns that directory and report.md.
pub(super) fn report(root: &Path) -> (std::path::PathBuf, String) {
    let out_dir = root.join("report");
    let out = vgg_train(&[
        "report",
        root.to_str().unwrap(),
        "--out",
        out_dir.to_str().unwrap(),
    ]);
    assert!(out.status.success(), "{:?}", text(&out));
    let md = std::fs::read_to_string(out_dir.join("report.md")).unwrap();
    (out_dir, md)
}

#[test]
fn report_tables_seeds_failures_and_the_paper_columns() {
    let tmp = tempfile::tempdir().unwrap();
    fixture(tmp.path());
    let (out_dir, md) = report(tmp.path());
    let recipe = read_csv(&out_dir.join("report.csv")).1[0][0].clone();
    let row = |label: &str, rest: &str| format!("| {label} | {recipe} | {rest}");
    // Mean ± sample std over three seeds: 12.0, 12.4, 11.6 -> 12.00 ± 0.40 (test errors), and
    // the 95 % t-interval 12.00 ± 4.303 · 0.40 / √3; the validation column is empty in files
    // without it.
    assert!(
        md.contains(&row(
            "A",
            "11 | 1000 | 12.00 ± 0.40 | [11.01, 12.99] | 3.00 ± 0.10 | - | 3 | 0 | 2 |"
        )),
        "{md}"
    );
    // Missing seed: A-LRN has two.
    assert!(
        md.contains(&row("A-LRN", "11 | 1000 | 12.20 ± 0.14 |")),
        "{md}"
    );
    // One seed, one epoch: no std.
    assert!(
        md.contains(&row("D", "16 | 1000 | 15.00 | - | 3.80 | - | 1 | 0 | 1 |")),
        "{md}"
    );
    // The failed run is listed, not averaged.
    assert!(
        md.contains("b-s1`: 1 epochs recorded, no results.csv"),
        "{md}"
    );
    assert!(
        md.contains(&row("B", "13 | 1000 | 11.00 | - | 2.80 | - | 1 | 0 | 2 |")),
        "{md}"
    );
    // Comparisons with their spread.
    assert!(md.contains("| A vs A-LRN | does LRN help?"), "{md}");
    assert!(
        md.contains("| D vs E |") || md.contains("| A vs B |"),
        "{md}"
    );
    // ImageNet centre-crop rows: Table 3 is dense evaluation, so no paper numbers beside them.
    assert!(
        md.contains(&row("D", "16 | 1000 | 28.00 | - | 7.00 | - | 1 | 0 | 2 |")),
        "{md}"
    );
    assert!(!md.contains("27.0"), "{md}");
    assert!(md.contains("| C vs D | 1x1 vs 3x3"), "{md}");
    // The paper's difference beside each comparison: A (29.6) -> D (27.0) is its headline.
    assert!(
        md.contains("| C vs D | 1x1 vs 3x3 convs at equal depth | -1.1 |"),
        "{md}"
    );
    let (header, rows) = read_csv(&out_dir.join("report.csv"));
    assert_eq!(rows.len(), 7, "{rows:?}");
    assert!(header.contains(&"paper_top1_err".to_string()));
    assert!(header.contains(&"recipe".to_string()));
    for (stem, size) in [
        ("error-vs-depth", (900, 600)),
        ("comparisons", (900, 500)),
        ("learning-curves", (1200, 700)),
    ] {
        let png = std::fs::read(out_dir.join(format!("{stem}.png"))).unwrap();
        assert_eq!(&png[..8], b"\x89PNG\r\n\x1a\n", "{stem}.png");
        let img = image::load_from_memory(&png).unwrap();
        assert_eq!((img.width(), img.height()), size, "{stem}.png");
        let svg = std::fs::read_to_string(out_dir.join(format!("{stem}.svg"))).unwrap();
        assert!(
            svg.contains("<svg") && svg.trim_end().ends_with("</svg>"),
            "{stem}.svg"
        );
    }
}

/// Runs of `arch` under `root` with the given test errors, one seed each (0, 1, …).
fn seeds(root: &Path, prefix: &str, arch: &str, errors: &[f64]) {
    for (seed, e) in errors.iter().enumerate() {
        let name = format!("{prefix}-s{seed}");
        run_dir(
            root,
            &name,
            arch,
            "fashion-mnist",
            seed as u64,
            &[30.0, *e],
            true,
        );
    }
}

#[test]
fn comparisons_are_tested_by_welch_with_holm_and_judged_by_the_papers_direction() {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path().join("study");
    // D clearly better than A (the paper's direction): supported. A-LRN clearly better than A
    // (against the paper's +0.1): contradicted. B barely differs from A: not resolved.
    seeds(&root, "a", "A", &[10.0, 10.2, 9.8, 10.1, 9.9]);
    seeds(&root, "d", "D", &[8.0, 8.2, 7.8, 8.1, 7.9]);
    seeds(&root, "alrn", "A-LRN", &[9.0, 9.2, 8.8, 9.1, 8.9]);
    seeds(&root, "b", "B", &[10.0, 10.3, 9.7, 10.2, 9.8]);
    let (_, md) = report(tmp.path());
    let row = |label: &str| table_row(&md, label);
    // A vs D: difference -2.00, Welch df 8.0, t = -2/√(0.025/5 · 2) = -20: p ≈ 4e-8.
    let a_d = row("A vs D");
    assert!(
        a_d.contains("| -2.6 | -2.00 | [-2.23, -1.77] | 8.0 | < 0.0001 |"),
        "{a_d}"
    );
    assert!(a_d.ends_with("| supported |"), "{a_d}");
    assert!(row("A vs A-LRN").ends_with("| contradicted |"), "{md}");
    assert!(row("A vs B").ends_with("| not resolved |"), "{md}");
    // Holm: the largest p of the family is multiplied by 1, the smallest by the family size.
    assert!(
        md.contains("Holm p adjusts the p-values for the 4 comparisons"),
        "{md}"
    );
    // Paired by seed (same seeds 0-4): D − A per seed is exactly -2 every time.
    assert!(
        md.contains("| A vs D | 5 | -2.00 | [-2.00, -2.00] | 4.0 |"),
        "{md}"
    );
    // Pooled variance over A, D, A-LRN, B: 4 · 4 degrees of freedom.
    assert!(row("A vs D").contains("-2.00"), "{md}");
    assert!(md.contains("| 16.0 |"), "{md}");
}

#[test]
fn an_ablation_arm_is_reported_beside_the_main_one_with_the_plans_rule() {
    let tmp = tempfile::tempdir().unwrap();
    let main = tmp.path().join("main");
    let arm = tmp.path().join("arm");
    seeds(&main, "a", "A", &[10.0, 10.2, 9.8]);
    seeds(&main, "d", "D", &[8.0, 8.2, 7.8]);
    // The arm's A is 1 pp better on every seed (under-training); its D is the same.
    seeds(&arm, "a", "A", &[9.0, 9.2, 8.8]);
    seeds(&arm, "d", "D", &[8.1, 8.0, 7.9]);
    let out_dir = tmp.path().join("report");
    let out = vgg_train(&[
        "report",
        main.to_str().unwrap(),
        "--ablation",
        arm.to_str().unwrap(),
        "--out",
        out_dir.to_str().unwrap(),
    ]);
    assert!(out.status.success(), "{:?}", text(&out));
    let md = std::fs::read_to_string(out_dir.join("report.md")).unwrap();
    assert!(
        md.contains(&format!("## Ablation arm: {}", arm.display())),
        "{md}"
    );
    assert!(
        md.contains(&format!("--ablation {}`", arm.display())),
        "{md}"
    );
    let ablation = &md[md.find("## Ablation arm").unwrap()..];
    let a = table_row(ablation, "A");
    assert!(a.contains("| 10.00 (3) | 9.00 (3) | -1.00 |"), "{a}");
    assert!(
        a.ends_with("| yes, by 1.00 pp (interval [-1.45, -0.55]) |"),
        "{a}"
    );
    let d = table_row(ablation, "D");
    assert!(d.ends_with("| no |"), "{d}");
    // An arm directory without runs is an error naming it.
    let empty = tmp.path().join("empty");
    std::fs::create_dir_all(&empty).unwrap();
    let out = vgg_train(&[
        "report",
        main.to_str().unwrap(),
        "--ablation",
        empty.to_str().unwrap(),
    ]);
    assert_clean_failure(&out, 1, &["no finished runs", "empty"]);
}

/// Marks a run directory's results row with `status`.
fn set_status(root: &Path, name: &str, status: &str) {
    let path = root.join(name).join("results.csv");
    let text = std::fs::read_to_string(&path).unwrap();
    std::fs::write(&path, text.replace(",finished,", &format!(",{status},"))).unwrap();
}

#[test]
fn stalled_and_diverged_runs_are_counted_apart_and_never_averaged() {
    let tmp = tempfile::tempdir().unwrap();
    let curves: [&[f64]; 4] = [
        &[20.0, 10.0, 8.0, 8.0, 8.0],
        &[20.0, 10.0, 9.0, 9.0, 9.0],
        &[90.0, 89.9, 90.1, 90.0, 90.0],
        &[20.0, 15.0, 14.0, 14.0, 14.0],
    ];
    for (seed, curve) in curves.iter().enumerate() {
        run_dir(
            tmp.path(),
            &format!("B-s{seed}"),
            "B",
            "fashion-mnist",
            seed as u64,
            curve,
            true,
        );
    }
    set_status(tmp.path(), "B-s2", "stalled");
    set_status(tmp.path(), "B-s3", "diverged");
    // A configuration whose every run failed keeps its row (and is left out of comparisons).
    for seed in 0..2 {
        run_dir(
            tmp.path(),
            &format!("E-s{seed}"),
            "E",
            "fashion-mnist",
            seed,
            &[90.0, 90.0, 90.0, 90.0],
            true,
        );
        set_status(tmp.path(), &format!("E-s{seed}"), "stalled");
    }
    let (_, md) = report(tmp.path());
    let table_row = |label: &str| table_row(&md, label);
    // Seeds 0 and 1 (best 8.0 and 9.0) only: 8.50 ± 0.71, two seeds, two failed.
    let b = table_row("B");
    assert!(b.contains("| 8.50 ± 0.71 |"), "{b}");
    assert!(b.ends_with("| 2 | 2 | 5 |"), "{b}");
    let e = table_row("E");
    assert!(e.contains("| 90.00 ± 0.00 |"), "{e}");
    assert!(e.ends_with("| 2 | 2 | 4 |"), "{e}");
    // The failed runs stay listed with their status, and the reason is explained.
    assert!(table_row("B-s2").contains("| stalled |"), "{md}");
    assert!(table_row("B-s3").contains("| diverged |"), "{md}");
    assert!(md.contains("left out of the means"), "{md}");
}
