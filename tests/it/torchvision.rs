//! torchvision's VGG state dicts load into our network and give PyTorch's logits. The fixture
//! (`tests/fixtures/torchvision/`) is a width-1/16 VGG-A in torchvision's exact layout with
//! random weights, and the logits PyTorch 2.9 computed for fixed inputs; it is made by
//! `scripts/peer/torchvision_fixture.py`.

use crate::util::*;
use burn::prelude::*;
use serde::Deserialize;
use vgg_train::arch::Arch;
use vgg_train::model::VggConfig;
use vgg_train::model::torchvision::load_torchvision;

#[derive(Deserialize)]
struct Fixture {
    width: f64,
    hidden: usize,
    num_classes: usize,
    cases: Vec<Case>,
}

#[derive(Deserialize)]
struct Case {
    file: String,
    batch_norm: bool,
    size: usize,
    logits: Vec<Vec<f64>>,
}

fn fixture_dir() -> std::path::PathBuf {
    root().join("tests/fixtures/torchvision")
}

fn fixture() -> Fixture {
    let text = std::fs::read_to_string(fixture_dir().join("logits.json")).unwrap();
    serde_json::from_str(&text).unwrap()
}

fn config(f: &Fixture, batch_norm: bool) -> VggConfig {
    fixture_vgg(f.width, f.hidden, f.num_classes, batch_norm)
}

/// The fixture's input for 2 images of `size`² (see [`fixture_input`]).
fn input(size: usize, device: &Device) -> Tensor<4> {
    Tensor::from_data(
        TensorData::new(fixture_input(2, size), [2, 3, size, size]),
        device,
    )
}

#[test]
fn torchvision_state_dicts_give_pytorchs_logits_with_and_without_batch_norm() {
    let f = fixture();
    let device = Device::flex();
    assert_eq!(f.cases.len(), 4);
    for case in &f.cases {
        let vgg = config(&f, case.batch_norm);
        let mut model = vgg.init(&device);
        let applied = load_torchvision(&mut model, &vgg, &fixture_dir().join(&case.file))
            .unwrap_or_else(|e| panic!("{}: {e}", case.file));
        // 8 convs + 3 FC layers, weight and bias each; BN adds 4 tensors per conv.
        assert_eq!(applied, 22 + if case.batch_norm { 32 } else { 0 });
        let got: Vec<f32> = model
            .valid()
            .forward(input(case.size, &device))
            .into_data()
            .try_into_vec()
            .unwrap();
        let want: Vec<f64> = case.logits.iter().flatten().copied().collect();
        assert_eq!(got.len(), want.len());
        let worst = got
            .iter()
            .zip(&want)
            .map(|(g, w)| (*g as f64 - w).abs())
            .fold(0.0, f64::max);
        assert!(
            worst < 1e-4,
            "{} at {}: max |burn - torch| = {worst}",
            case.file,
            case.size
        );
    }
}

#[test]
fn a_state_dict_of_another_configuration_is_refused_with_the_fix() {
    let f = fixture();
    let device = Device::flex();
    let vgg = VggConfig {
        arch: Arch::D,
        ..config(&f, false)
    };
    let err = load_torchvision(
        &mut vgg.init(&device),
        &vgg,
        &fixture_dir().join("vgg11-w16.pth"),
    )
    .unwrap_err();
    assert!(err.to_string().contains("model.arch = \"A\""), "{err}");
    let bn = config(&f, true);
    let err = load_torchvision(
        &mut bn.init(&device),
        &bn,
        &fixture_dir().join("vgg11-w16.pth"),
    )
    .unwrap_err();
    assert!(
        err.to_string().contains("model.batch_norm = false"),
        "{err}"
    );
    let wide = VggConfig {
        hidden: 64,
        ..config(&f, false)
    };
    let err = load_torchvision(
        &mut wide.init(&device),
        &wide,
        &fixture_dir().join("vgg11-w16.pth"),
    )
    .unwrap_err();
    // From burn's structured `ApplyResult` (the first mismatched tensor, both shapes), not
    // from its error text.
    let text = err.to_string();
    assert!(
        text.contains("model.hidden") && text.contains("Shape mismatch for 'classifier."),
        "{err}"
    );
    assert!(text.contains("expected") && !text.contains('\n'), "{err}");
}

fn predict_config(dir: &std::path::Path) -> std::path::PathBuf {
    write_config(
        dir,
        "tv.toml",
        &format!(
            r#"[model]
arch = "A"
width = 0.0625
hidden = 32
num_classes = 10
[data]
dataset = "image-folder"
path = "/nonexistent"
[run]
output_dir = {:?}
"#,
            dir.join("out").display().to_string()
        ),
    )
}

/// `vgg-train predict` with the fixture's plain VGG-A weights (and `--set` overrides).
fn predict_with(
    cfg: &std::path::Path,
    images: &[&std::path::Path],
    overrides: &[&str],
) -> std::process::Output {
    let weights = fixture_dir().join("vgg11-w16.pth");
    let mut args = vec![
        "predict",
        "--config",
        cfg.to_str().unwrap(),
        "--weights",
        weights.to_str().unwrap(),
    ];
    for o in overrides {
        args.extend(["--set", o]);
    }
    args.extend(images.iter().map(|p| p.to_str().unwrap()));
    vgg_train(&args)
}

fn predict(cfg: &std::path::Path, images: &[&std::path::Path]) -> std::process::Output {
    predict_with(cfg, images, &[])
}

#[test]
fn f32_weights_predict_the_same_classes_on_a_bf16_device() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = predict_config(dir.path());
    let photo = fixture_dir().join("photo.JPEG");
    let top = |out: std::process::Output| -> Vec<String> {
        let (stdout, stderr) = text(&out);
        assert!(out.status.success(), "{stdout}\n{stderr}");
        let line: serde_json::Value = serde_json::from_str(stdout.trim()).unwrap();
        line["top5"]
            .as_array()
            .unwrap()
            .iter()
            .map(|p| p[0].as_str().unwrap().to_string())
            .collect()
    };
    let f32 = top(predict(&cfg, &[&photo]));
    let bf16 = top(predict_with(&cfg, &[&photo], &["run.precision=\"bf16\""]));
    assert_eq!(f32[..2], bf16[..2]);
}

#[test]
fn predict_prints_a_json_line_with_the_top5_per_image_and_flags_bad_files() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = predict_config(dir.path());
    let good = dir.path().join("cat.JPEG");
    image::RgbImage::from_fn(300, 250, |x, y| {
        image::Rgb([(x % 256) as u8, (y % 256) as u8, 77])
    })
    .save_with_format(&good, image::ImageFormat::Png)
    .unwrap();
    let cmyk = dir.path().join("cmyk.jpg");
    write_cmyk_jpeg(&cmyk, 240, 260, [10, 150, 30, 0]);
    let out = predict(&cfg, &[&good, &cmyk]);
    let (stdout, stderr) = text(&out);
    assert!(out.status.success(), "{stdout}\n{stderr}");
    let lines: Vec<serde_json::Value> = stdout
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines.len(), 2);
    assert_eq!(lines[0]["path"], good.to_str().unwrap());
    for line in &lines {
        let top5 = line["top5"].as_array().unwrap();
        assert_eq!(top5.len(), 5);
        let probs: Vec<f64> = top5.iter().map(|p| p[1].as_f64().unwrap()).collect();
        assert!(probs.windows(2).all(|w| w[0] >= w[1]), "{probs:?}");
        assert!(probs.iter().sum::<f64>() <= 1.0 + 1e-5);
        // Ten classes without class folders: the names are the indices.
        assert!(top5[0][0].as_str().unwrap().parse::<usize>().unwrap() < 10);
    }

    let broken = dir.path().join("broken.JPEG");
    write_truncated_jpeg(&broken);
    let out = predict(&cfg, &[&good, &broken]);
    let (stdout, _) = text(&out);
    assert_eq!(
        stdout.lines().count(),
        1,
        "the good image is still predicted"
    );
    assert_clean_failure(&out, 2, &["broken.JPEG"]);
}

#[test]
fn eval_with_torchvision_weights_writes_pretrained_rows() {
    let dir = tempfile::tempdir().unwrap();
    let mut folder = write_image_folder(dir.path(), 3);
    // Ten classes, as the fixture's head has: eight more class folders.
    for i in 3..=10 {
        for split in ["train", "val"] {
            let d = folder.join(split).join(format!("n{i:02}_extra"));
            std::fs::create_dir_all(&d).unwrap();
            image::RgbImage::from_pixel(40, 40, image::Rgb([i as u8 * 20, 9, 9]))
                .save(d.join("a.png"))
                .unwrap();
        }
    }
    folder = folder.canonicalize().unwrap();
    let cfg = write_config(
        dir.path(),
        "tv-eval.toml",
        &format!(
            r#"[model]
arch = "A"
width = 0.0625
hidden = 32
[data]
dataset = "image-folder"
path = {:?}
[eval]
protocols = ["center", "multi-crop+dense"]
scales = [224, 256]
batch_size = 8
[run]
output_dir = {:?}
"#,
            folder.display().to_string(),
            dir.path().join("out").display().to_string()
        ),
    );
    let weights = fixture_dir().join("vgg11-w16.pth");
    let out = vgg_train(&[
        "eval",
        "--config",
        cfg.to_str().unwrap(),
        "--weights",
        weights.to_str().unwrap(),
    ]);
    assert!(out.status.success(), "{:?}", text(&out));
    let (header, rows) = read_csv(&dir.path().join("out/tv-eval@vgg11-w16/results.csv"));
    assert_eq!(field(&header, &rows[0], "name"), "tv-eval@vgg11-w16");
    // The run directory itself is left to training.
    assert!(!dir.path().join("out/tv-eval/results.csv").exists());
    let keys: Vec<(&str, &str, &str)> = rows
        .iter()
        .map(|r| {
            (
                field(&header, r, "protocol"),
                field(&header, r, "scales"),
                field(&header, r, "status"),
            )
        })
        .collect();
    assert_eq!(
        keys,
        vec![
            ("center", "224", "pretrained"),
            ("center", "256", "pretrained"),
            ("multi-crop+dense", "224 256", "pretrained"),
        ]
    );
}

/// Mean and max |a - b| in grey levels between `ours` (normalised, planar 3×224×224) and the
/// reference crop `reference` read at column offset `dx`.
fn grey_level_diff(ours: &[f32], reference: &image::RgbImage, dx: u32) -> (f64, f64) {
    let (mean, std) = ([0.485, 0.456, 0.406], [0.229, 0.224, 0.225]);
    let (mut sum, mut max, mut n) = (0.0, 0.0f64, 0usize);
    for c in 0..3 {
        for y in 0..224u32 {
            for x in 0..224 - dx {
                let v = ours[c * 224 * 224 + (y * 224 + x) as usize] as f64;
                let ours_level = (v * std[c] + mean[c]) * 255.0;
                let theirs = reference.get_pixel(x + dx, y).0[c] as f64;
                let d = (ours_level - theirs).abs();
                sum += d;
                max = max.max(d);
                n += 1;
            }
        }
    }
    (sum / n as f64, max)
}

#[test]
fn predict_preprocessing_matches_torchvisions_resize_256_and_centre_crop_224() {
    let exp = vgg_train::config::Experiment::from_toml_str(
        "[data]\ndataset = \"image-folder\"\n",
        std::path::Path::new("preprocess.toml"),
        &[],
    )
    .unwrap();
    let pipeline = vgg_train::data::pipeline(&exp.data, &exp.augment);
    let ours =
        vgg_train::predict::preprocess(&exp, &pipeline, &fixture_dir().join("photo.JPEG")).unwrap();
    assert_eq!(ours.len(), 3 * 224 * 224);
    let reference = image::open(fixture_dir().join("photo-256-center224.png"))
        .unwrap()
        .into_rgb8();
    let (mean, max) = grey_level_diff(&ours, &reference, 0);
    // Different JPEG decoders (zune-jpeg here, libjpeg-turbo in PIL) and resampler rounding
    // leave about a grey level; a crop one pixel off is several times further away.
    let (shifted, _) = grey_level_diff(&ours, &reference, 1);
    eprintln!("mean {mean:.3} max {max:.1} grey levels; one pixel off: mean {shifted:.3}");
    assert!(mean < 1.0 && max < 8.0, "mean {mean}, max {max}");
    assert!(
        shifted > 3.0 * mean,
        "a shifted crop is not told apart: {shifted} vs {mean}"
    );
}
