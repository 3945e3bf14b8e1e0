//! `vgg-train eval` and `[eval]` after training: every protocol on a tiny image folder with
//! the odd files ImageNet has (CMYK, grey, PNG named .JPEG, truncated).

mod util;

use util::*;

const ALL_PROTOCOLS: &str =
    r#"eval.protocols=["center","dense","multi-scale","multi-crop","multi-crop+dense"]"#;

fn folder_config(dir: &std::path::Path, name: &str) -> std::path::PathBuf {
    let root = write_image_folder_with_odd_files(dir, 4);
    tiny_config(
        dir,
        name,
        &format!(
            "dataset = \"image-folder\"\npath = {:?}\nimage_size = 32\n",
            root.display().to_string()
        ),
        4,
    )
}

fn rows_by_protocol(path: &std::path::Path) -> Vec<(String, String, String, String, String)> {
    let (header, rows) = read_csv(path);
    rows.iter()
        .map(|r| {
            (
                field(&header, r, "protocol").to_string(),
                field(&header, r, "scales").to_string(),
                field(&header, r, "top1_err").to_string(),
                field(&header, r, "top5_err").to_string(),
                field(&header, r, "bad_images").to_string(),
            )
        })
        .collect()
}

#[test]
fn every_protocol_adds_a_row_after_training_and_eval_reproduces_them() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = folder_config(dir.path(), "protocols");
    let cfg = cfg.to_str().unwrap();
    let out = vgg_train(&[
        "--config",
        cfg,
        "--plain",
        "--set",
        ALL_PROTOCOLS,
        "--set",
        "eval.scales=[36, 48]",
    ]);
    assert!(out.status.success(), "{:?}", text(&out));
    let results = dir.path().join("out/protocols/results.csv");
    let rows = rows_by_protocol(&results);
    let keys: Vec<(&str, &str)> = rows.iter().map(|r| (r.0.as_str(), r.1.as_str())).collect();
    // The training row (centre crop at data.resize = 36) first, then one row per protocol:
    // per scale for center and dense, all scales for the others.
    assert_eq!(
        keys,
        vec![
            ("center", "36"),
            ("center", "48"),
            ("dense", "36"),
            ("dense", "48"),
            ("multi-scale", "36 48"),
            ("multi-crop", "36 48"),
            ("multi-crop+dense", "36 48"),
        ]
    );
    for r in &rows[1..] {
        let top1: f64 = r.2.parse().unwrap();
        let top5: f64 = r.3.parse().unwrap();
        assert!((0.0..=100.0).contains(&top1) && top5 <= top1, "{r:?}");
        // The truncated JPEG is skipped and counted; the CMYK one decodes.
        assert_eq!(r.4, "1", "{r:?}");
    }

    // `vgg-train eval` on the trained run measures the same numbers again.
    let out = vgg_train(&[
        "eval",
        "--config",
        cfg,
        "--set",
        ALL_PROTOCOLS,
        "--set",
        "eval.scales=[36, 48]",
    ]);
    let (stdout, stderr) = text(&out);
    assert!(out.status.success(), "{stdout}\n{stderr}");
    assert!(stdout.contains("multi-crop+dense"), "{stdout}");
    assert!(stderr.contains("truncated.JPEG"), "{stderr}");
    let again = rows_by_protocol(&results);
    assert_eq!(again.len(), rows.len());
    for (a, b) in rows.iter().zip(&again).skip(1) {
        let (x, y): (f64, f64) = (a.2.parse().unwrap(), b.2.parse().unwrap());
        assert!((x - y).abs() < 1e-9, "{a:?} vs {b:?}");
    }
    // The centre row at the training scale agrees with training's own validation.
    let out = vgg_train(&["eval", "--config", cfg]);
    assert!(out.status.success(), "{:?}", text(&out));
    let after = rows_by_protocol(&results);
    assert_eq!(after[0].2, rows[0].2, "center at 36: eval vs training");
}

#[test]
fn dense_equals_center_when_the_image_is_exactly_the_crop_size() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("square");
    for split in ["train", "val"] {
        for (class, base) in [("a", 40u8), ("b", 200u8)] {
            let d = root.join(split).join(class);
            std::fs::create_dir_all(&d).unwrap();
            for i in 0..3u8 {
                let img = image::RgbImage::from_fn(32, 32, |x, y| {
                    image::Rgb([base, ((x * 7 + y) as u8).wrapping_add(i * 9), (y * 5) as u8])
                });
                img.save(d.join(format!("{i}.png"))).unwrap();
            }
        }
    }
    let cfg = tiny_config(
        dir.path(),
        "square",
        &format!(
            "dataset = \"image-folder\"\npath = {:?}\nimage_size = 32\nresize = 32\n",
            root.display().to_string()
        ),
        6,
    );
    let cfg = cfg.to_str().unwrap();
    let out = vgg_train(&["--config", cfg, "--plain"]);
    assert!(out.status.success(), "{:?}", text(&out));
    let out = vgg_train(&[
        "eval",
        "--config",
        cfg,
        "--set",
        r#"eval.protocols=["center","dense"]"#,
        "--set",
        "eval.flip=false",
    ]);
    assert!(out.status.success(), "{:?}", text(&out));
    let rows = rows_by_protocol(&dir.path().join("out/square/results.csv"));
    let center = rows.iter().find(|r| r.0 == "center").unwrap();
    let dense = rows.iter().find(|r| r.0 == "dense").unwrap();
    assert_eq!(center.1, "32");
    assert_eq!((&center.2, &center.3), (&dense.2, &dense.3));
}

#[test]
fn eval_without_a_trained_run_says_how_to_get_one() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = folder_config(dir.path(), "untrained");
    let out = vgg_train(&["eval", "--config", cfg.to_str().unwrap()]);
    assert_clean_failure(&out, 2, &["model.bpk", "not found", "--weights"]);
}

#[test]
fn dense_protocols_are_refused_for_the_paper_head_below_224() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = folder_config(dir.path(), "paper-head");
    let out = vgg_train(&[
        "eval",
        "--config",
        cfg.to_str().unwrap(),
        "--set",
        "model.head=\"paper\"",
        "--set",
        r#"eval.protocols=["dense"]"#,
    ]);
    assert_clean_failure(&out, 2, &["eval.protocols", "7x7", "224"]);
}
