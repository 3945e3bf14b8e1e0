//! `vgg-train report` on an empty directory, on evaluation rows and on runs of another recipe.

use crate::util::*;

use super::report::{RESULTS_HEADER, fixture, report, run_dir};

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
