//! `vgg-train report` on fixture CSVs: missing seeds, a failed run, a one-epoch run, runs of
//! another recipe kept apart, ImageNet dense rows beside the paper's Table 3; plots are valid
//! PNG and SVG; every report committed under `results/` is what the current code makes of its
//! run files, and the README's quoted tables are those reports' lines.

mod util;

use std::path::Path;
use util::*;

const METRICS_HEADER: &str = "epoch,lr,train_loss,train_top1_err,train_top5_err,val_loss,val_top1_err,val_top5_err,epoch_seconds,train_img_s\n";
const RESULTS_HEADER: &str = "name,arch,batch_norm,width,dataset,image_size,epochs,seed,params,top1_err,top5_err,best_epoch,wall_seconds,device,git_commit,status,final_top1_err,final_top5_err,train_images,val_images\n";

/// Writes a run directory with `curve` as its validation top-1 errors.
fn run_dir(
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
fn table_row(md: &str, label: &str) -> String {
    md.lines()
        .find(|l| l.starts_with(&format!("| {label} |")))
        .unwrap_or_else(|| panic!("no row for {label}: {md}"))
        .to_string()
}

fn fixture(root: &Path) {
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
fn report(root: &Path) -> (std::path::PathBuf, String) {
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
    // Mean ± sample std over three seeds: 12.0, 12.4, 11.6 -> 12.00 ± 0.40 (test errors);
    // the validation column is empty in files without it.
    assert!(
        md.contains(&row(
            "A",
            "11 | 1000 | 12.00 ± 0.40 | 3.00 ± 0.10 | - | 3 | 0 | 2 |"
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
        md.contains(&row("D", "16 | 1000 | 15.00 | 3.80 | - | 1 | 0 | 1 |")),
        "{md}"
    );
    // The failed run is listed, not averaged.
    assert!(
        md.contains("b-s1`: 1 epochs recorded, no results.csv"),
        "{md}"
    );
    assert!(
        md.contains(&row("B", "13 | 1000 | 11.00 | 2.80 | - | 1 | 0 | 2 |")),
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
        md.contains(&row("D", "16 | 1000 | 28.00 | 7.00 | - | 1 | 0 | 2 |")),
        "{md}"
    );
    assert!(!md.contains("27.0"), "{md}");
    assert!(md.contains("| C vs D | 1x1 vs 3x3"), "{md}");
    // The paper's headline, A (29.6) -> D (27.0), as a comparison of its own.
    assert!(
        md.contains("| A vs D | depth 11 -> 16 (paper: D 2.6 pp better) |"),
        "{md}"
    );
    let (header, rows) = read_csv(&out_dir.join("report.csv"));
    assert_eq!(rows.len(), 7, "{rows:?}");
    assert!(header.contains(&"paper_top1_err".to_string()));
    assert!(header.contains(&"recipe".to_string()));
    for (stem, size) in [
        ("error-vs-depth", (900, 600)),
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

/// Adds the validation columns to a run's results.csv: `val_top1_err` = its best validation
/// error (what training writes when a split is held out).
fn with_val_columns(dir: &Path, curve: &[f64]) {
    let path = dir.join("results.csv");
    let best = curve.iter().copied().fold(f64::INFINITY, f64::min);
    let text = std::fs::read_to_string(&path).unwrap();
    let (header, row) = text.trim_end().split_once('\n').unwrap();
    std::fs::write(
        &path,
        format!(
            "{header},val_top1_err,val_top5_err\n{row},{best},{:.1}\n",
            best / 4.0
        ),
    )
    .unwrap();
}

#[test]
fn convergence_compares_each_runs_last_epochs_with_the_seed_spread() {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path().join("fmnist");
    // C's seed 2 still drops by 1 pp in its last three epochs, more than the seeds' spread
    // of 0.5; D's runs move by 0.02 at most. E's three seeds agree to 0.02 (std 0.01), and
    // its runs move by 0.05: judged by the pooled spread (about 0.41), not by its own.
    for (seed, d) in [(0, 0.0), (1, 0.5), (2, -0.5)] {
        let e = d / 50.0;
        for (arch, curve) in [
            ("C", [20.0, 10.5, 10.0 + d, 10.05 + d]),
            ("D", [20.0, 9.0 + d, 9.0 + d, 9.02 + d]),
            ("E", [20.0, 9.05 + e, 9.0 + e, 9.0 + e]),
        ] {
            let name = format!("{arch}-s{seed}");
            run_dir(&root, &name, arch, "fashion-mnist", seed, &curve, true);
            with_val_columns(&root.join(&name), &curve);
        }
    }
    run_dir(
        &root,
        "A-s0",
        "A",
        "fashion-mnist",
        0,
        &[20.0, 12.0, 11.0],
        true,
    );
    let (_, md) = report(tmp.path());
    let table_row = |label: &str| table_row(&md, label);
    assert!(
        table_row("C").ends_with("| 3 | 0 | 4 | 1.00 | no |"),
        "{md}"
    );
    assert!(
        table_row("D").ends_with("| 3 | 0 | 4 | 0.02 | yes |"),
        "{md}"
    );
    assert!(
        table_row("E").ends_with("| 3 | 0 | 4 | 0.05 | yes |"),
        "{md}"
    );
    assert!(md.contains("(here 0.41 pp)"), "{md}");
    // A single seed is judged by the others' pooled spread too: it still moved by 9 pp.
    assert!(
        table_row("A").ends_with("| 1 | 0 | 3 | 9.00 | no |"),
        "{md}"
    );
    // Each run's own range, in the runs table (C-s2: best epoch 3 of 4).
    assert!(
        table_row("C-s2").contains("| 3 | 4 | 1.00 | finished |"),
        "{md}"
    );
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
    // A configuration whose every run failed keeps its row, marked as not converged.
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
    assert!(b.contains("| 2 | 2 | 5 |"), "{b}");
    let e = table_row("E");
    assert!(
        e.contains("| 90.00 ± 0.00 |") && e.ends_with("| no |"),
        "{e}"
    );
    assert!(e.contains("| 2 | 2 | 4 |"), "{e}");
    // The failed runs stay listed with their status, and the reason is explained.
    assert!(table_row("B-s2").contains("| stalled |"), "{md}");
    assert!(table_row("B-s3").contains("| diverged |"), "{md}");
    assert!(md.contains("left out of the means"), "{md}");
}

#[test]
fn report_on_a_directory_without_runs_fails_cleanly() {
    let tmp = tempfile::tempdir().unwrap();
    let out = vgg_train(&["report", tmp.path().to_str().unwrap()]);
    assert_clean_failure(&out, 1, &["no finished runs"]);
}

#[test]
fn evaluation_rows_get_their_own_table_and_stay_out_of_the_depth_table() {
    let tmp = tempfile::tempdir().unwrap();
    fixture(tmp.path());
    // vgg16-s0 after `vgg-train eval` with dense and multi-crop at two scales.
    let header = RESULTS_HEADER.trim_end().to_string() + ",bad_images,protocol,scales\n";
    let row = |protocol: &str, scales: &str, top1: f64| {
        format!(
            "vgg16-s0,D,false,0.25,image-folder,32,2,0,1000,{top1},7.0,2,60.0,flex,abc,finished,{top1},7.0,100,50,0,{protocol},{scales}\n"
        )
    };
    let results = tmp.path().join("imagenet/vgg16-s0/results.csv");
    std::fs::write(
        &results,
        header
            + &row("center", "256", 28.0)
            + &row("dense", "256", 26.5)
            + &row("multi-crop+dense", "256 384", 25.25),
    )
    .unwrap();
    let (out_dir, md) = report(tmp.path());
    let (protocols, depth) = {
        let at = md.find("## Test protocols").expect("a protocol table");
        (&md[at..], &md[..at])
    };
    // Table 3 (dense, Q = 256) beside the dense row only.
    assert!(
        protocols.contains(
            "| image-folder | D | trained | dense | 256 | 26.50 | 7.00 | 1 | 27.0 | 8.8 |"
        ),
        "{md}"
    );
    assert!(
        protocols.contains("| multi-crop+dense | 256 384 | 25.25 |"),
        "{md}"
    );
    // The depth table keeps the training row only (28.00).
    assert!(depth.contains("| 16 | 1000 | 28.00 |"), "{md}");
    assert!(!depth.contains("26.50") && !depth.contains("25.25"), "{md}");
    let csv = std::fs::read_to_string(out_dir.join("report.csv")).unwrap();
    assert!(
        csv.lines()
            .next()
            .unwrap()
            .contains("protocol,scales,primary"),
        "{csv}"
    );
}

#[test]
fn runs_of_another_recipe_are_never_averaged_as_seeds() {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path().join("mixed");
    // Two seeds of a 2-epoch recipe, and a 10-epoch run of the same network: three runs of A
    // on Fashion-MNIST, two recipes.
    for (name, seed, epochs, err) in [("short-s0", 0, 2, 12.0), ("short-s1", 1, 2, 14.0)] {
        run_dir(&root, name, "A", "fashion-mnist", seed, &[20.0, err], true);
        std::fs::write(
            root.join(name).join("config.toml"),
            format!("name = \"{name}\"\n[train]\nepochs = {epochs}\nseed = {seed}\n"),
        )
        .unwrap();
    }
    run_dir(&root, "long", "A", "fashion-mnist", 0, &[20.0, 8.0], true);
    std::fs::write(
        root.join("long/config.toml"),
        "name = \"long\"\n[train]\nepochs = 10\n",
    )
    .unwrap();
    let (out_dir, _) = report(tmp.path());
    let (header, rows) = read_csv(&out_dir.join("report.csv"));
    let seeds: Vec<(&str, &str)> = rows
        .iter()
        .map(|r| (field(&header, r, "seeds"), field(&header, r, "top1_err")))
        .collect();
    assert_eq!(seeds.len(), 2, "{rows:?}");
    assert!(seeds.contains(&("2", "13.0")), "{seeds:?}");
    assert!(seeds.contains(&("1", "8.0")), "{seeds:?}");
}

#[test]
fn every_committed_report_is_what_the_current_code_makes_of_its_runs() {
    let mut reports = Vec::new();
    let mut stack = vec![root().join("results")];
    while let Some(dir) = stack.pop() {
        for entry in std::fs::read_dir(&dir).unwrap() {
            let p = entry.unwrap().path();
            if p.is_dir() {
                stack.push(p);
            } else if p.file_name().is_some_and(|n| n == "report.md") {
                reports.push(dir.clone());
            }
        }
    }
    for dir in reports {
        let rel = dir.strip_prefix(root()).unwrap();
        let out = tempfile::tempdir().unwrap();
        let run = vgg_train(&[
            "report",
            rel.to_str().unwrap(),
            "--out",
            out.path().to_str().unwrap(),
        ]);
        assert!(run.status.success(), "{}: {:?}", rel.display(), text(&run));
        for file in ["report.md", "report.csv"] {
            let committed = std::fs::read_to_string(dir.join(file)).unwrap();
            let fresh = std::fs::read_to_string(out.path().join(file)).unwrap();
            assert_eq!(
                committed,
                fresh,
                "{}/{file} is not what `vgg-train report {}` makes now; regenerate it",
                rel.display(),
                rel.display()
            );
        }
    }
}

/// The README quotes report tables between `<!-- quoted from DIR/report.md -->` and
/// `<!-- end of quote -->`; every quoted line must be a line of that committed report, so that
/// the README's numbers are the report's and change with it.
#[test]
fn readme_tables_quote_the_committed_reports_line_for_line() {
    let readme = std::fs::read_to_string(root().join("README.md")).unwrap();
    let mut quotes = 0;
    let mut rest = readme.as_str();
    while let Some(start) = rest.find("<!-- quoted from ") {
        let after = &rest[start + "<!-- quoted from ".len()..];
        let (path, body) = after.split_once(" -->").expect("unterminated quote marker");
        let end = body
            .find("<!-- end of quote -->")
            .unwrap_or_else(|| panic!("README: quote of {path} has no `<!-- end of quote -->`"));
        let report = std::fs::read_to_string(root().join(path))
            .unwrap_or_else(|e| panic!("README quotes {path}, which cannot be read: {e}"));
        let report_lines: std::collections::HashSet<&str> = report.lines().collect();
        let quoted: Vec<&str> = body[..end]
            .lines()
            .filter(|l| !l.trim().is_empty())
            .collect();
        assert!(!quoted.is_empty(), "README: empty quote of {path}");
        for line in quoted {
            assert!(
                report_lines.contains(line),
                "README quotes a line that {path} does not have (regenerate the report or re-copy its table):\n{line}"
            );
        }
        quotes += 1;
        rest = &body[end..];
    }
    assert!(
        quotes > 0,
        "README quotes no report table; the depth study's section should"
    );
}
