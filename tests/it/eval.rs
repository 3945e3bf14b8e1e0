//! `vgg-train eval` and `[eval]` after training: every protocol on a tiny image folder with
//! the odd files ImageNet has (CMYK, grey, PNG named .JPEG, truncated).

use crate::util::*;

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
        assert!((0.0..=100.0).contains(&top1), "{r:?}");
        // Two classes: no top-5 error is reported (rather than a meaningless 0).
        assert_eq!(r.3, "", "{r:?}");
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
    // Evaluation's own centre crop at the training scale, run on the saved weights into a
    // directory of its own, agrees with what training measured (burn-train's metrics) for the
    // epoch it chose: two independent computations of one number.
    let weights = dir.path().join("out/protocols/model.bpk");
    let out = vgg_train(&[
        "eval",
        "--config",
        cfg,
        "--weights",
        weights.to_str().unwrap(),
    ]);
    assert!(out.status.success(), "{:?}", text(&out));
    let separate = rows_by_protocol(&dir.path().join("out/protocols@model/results.csv"));
    assert_eq!(separate[0].0, "center");
    assert_eq!(separate[0].1, "36");
    assert_eq!(separate[0].2, rows[0].2, "center at 36: eval vs training");
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

/// `predict` prepares an image file as evaluation prepares a test image: on 40 Fashion-MNIST
/// test images written as PNG files, its top-1 accuracy is exactly the eval run's centre-crop
/// accuracy on the same 40 images (data.fit pads the 28×28 images to 32 in both).
#[test]
fn predict_sees_the_pixels_eval_sees() {
    let dir = tempfile::tempdir().unwrap();
    let common = [
        "name=pred",
        "train.epochs=2",
        "model.batch_norm=true",
        "model.dropout=0.0",
        "train.lr=0.05",
        "train.schedule=\"constant\"",
    ];
    let out = vgg_train_owned(&quickstart_args(dir.path(), &common));
    assert!(out.status.success(), "{:?}", text(&out));
    let run = dir.path().join("pred");
    // The 40 test images `data.test_limit = 40` selects, as 28×28 grey PNGs.
    let test =
        vgg_train::data::idx::read_split(&root().join("data/fashion-mnist-sample"), "t10k", "")
            .unwrap();
    let chosen = vgg_train::data::subset_indices(test.labels.len(), 40);
    let pngs = dir.path().join("pngs");
    std::fs::create_dir_all(&pngs).unwrap();
    let mut files = Vec::new();
    for &i in &chosen {
        let pixels = test.pixels[i * 784..(i + 1) * 784].to_vec();
        let path = pngs.join(format!("{i}.png"));
        image::GrayImage::from_raw(28, 28, pixels)
            .unwrap()
            .save(&path)
            .unwrap();
        files.push((path, test.labels[i]));
    }
    let weights = run.join("model.bpk");
    // `quickstart_args` without its training-only `--plain`, after the subcommand.
    let command = |sub: &str, extra: &[&str]| -> Vec<String> {
        let mut args: Vec<String> = vec![sub.into()];
        args.extend(
            quickstart_args(dir.path(), &[&common[..], extra].concat())
                .into_iter()
                .filter(|a| a != "--plain"),
        );
        args.extend(["--weights".into(), weights.display().to_string()]);
        args
    };
    let mut args = command("predict", &[]);
    args.extend(files.iter().map(|(p, _)| p.display().to_string()));
    let out = vgg_train_owned(&args);
    let (stdout, stderr) = text(&out);
    assert!(out.status.success(), "{stdout}\n{stderr}");
    let mut correct = 0;
    for (line, (_, label)) in stdout.lines().zip(&files) {
        let v: serde_json::Value = serde_json::from_str(line).unwrap();
        let top = v["top5"][0][0].as_str().unwrap();
        correct += usize::from(top == label.to_string());
    }
    let predict_err = 100.0 * (1.0 - correct as f64 / files.len() as f64);
    let out = vgg_train_owned(&command("eval", &["data.test_limit=40"]));
    assert!(out.status.success(), "{:?}", text(&out));
    let (header, rows) = read_csv(&dir.path().join("pred@model/results.csv"));
    assert_eq!(field(&header, &rows[0], "test_images"), "40");
    let eval_err: f64 = field(&header, &rows[0], "top1_err").parse().unwrap();
    assert!(
        (eval_err - predict_err).abs() < 1e-9,
        "eval {eval_err}% vs predict {predict_err}%"
    );
    assert!(eval_err < 60.0, "the model learned something: {eval_err}%");
}

/// `vgg-train eval` needs only the test images: a copy of an image folder without train/
/// gives the same errors (classes from val/'s folders), and nothing under train/ is listed.
#[test]
fn eval_runs_on_a_copy_that_holds_only_val() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = folder_config(dir.path(), "valonly");
    let cfg = cfg.to_str().unwrap();
    let out = vgg_train(&["--config", cfg, "--plain"]);
    assert!(out.status.success(), "{:?}", text(&out));
    let weights = dir.path().join("out/valonly/model.bpk");
    let eval = |tag: &str| {
        let out = vgg_train(&[
            "eval",
            "--config",
            cfg,
            "--weights",
            weights.to_str().unwrap(),
        ]);
        assert!(out.status.success(), "{tag}: {:?}", text(&out));
        rows_by_protocol(&dir.path().join("out/valonly@model/results.csv"))[0].clone()
    };
    let with_train = eval("with train/");
    let data = dir.path().join("folder");
    std::fs::remove_dir_all(data.join("train")).unwrap();
    let val_only = eval("val/ only");
    assert_eq!(with_train, val_only);
}

#[test]
fn a_finished_run_missing_its_eval_rows_gets_them_on_rerun() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = folder_config(dir.path(), "repair");
    let cfg = cfg.to_str().unwrap();
    let args = [
        "--config",
        cfg,
        "--plain",
        "--set",
        r#"eval.protocols=["center","multi-scale"]"#,
        "--set",
        "eval.scales=[36, 48]",
    ];
    let out = vgg_train(&args);
    assert!(out.status.success(), "{:?}", text(&out));
    let results = dir.path().join("out/repair/results.csv");
    let whole = std::fs::read_to_string(&results).unwrap();
    let rows = rows_by_protocol(&results);
    assert!(rows.len() > 1, "{whole}");
    // What an earlier version left when killed between the training row and the protocols.
    let training_only: String = whole.lines().take(2).map(|l| format!("{l}\n")).collect();
    std::fs::write(&results, &training_only).unwrap();
    let out = vgg_train(&args);
    let (stdout, stderr) = text(&out);
    assert!(out.status.success(), "{stdout}\n{stderr}");
    assert!(stdout.contains("already finished"), "{stdout}");
    assert!(stderr.contains("lacked its [eval] rows"), "{stderr}");
    assert_eq!(rows_by_protocol(&results), rows);
    // A complete results.csv is left as it is.
    let repaired = std::fs::read_to_string(&results).unwrap();
    let out = vgg_train(&args);
    assert!(out.status.success());
    assert_eq!(std::fs::read_to_string(&results).unwrap(), repaired);
}
