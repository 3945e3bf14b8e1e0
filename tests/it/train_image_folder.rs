//! End-to-end training runs of the real binary on image folders written in ImageNet's layouts
//! (class folders of mixed formats, and the flat validation set with its solution CSV).

use crate::util::*;
use std::path::Path;

/// A tiny config on the image folder at `data` (32×32 crops of a 36-pixel shorter side).
fn folder_config(dir: &Path, name: &str, data: &Path) -> std::path::PathBuf {
    let section = format!(
        "dataset = \"image-folder\"\npath = {:?}\nimage_size = 32\nresize = 36",
        data.display().to_string()
    );
    tiny_config(dir, name, &section, 4)
}

#[test]
fn image_folder_with_mixed_formats_trains_end_to_end() {
    let tmp = tempfile::tempdir().unwrap();
    let data = write_image_folder(tmp.path(), 6);
    let cfg = folder_config(tmp.path(), "folder", &data);
    let out = vgg_train(&["--config", cfg.to_str().unwrap(), "--plain"]);
    assert!(out.status.success(), "{:?}", text(&out));
    let (header, rows) = read_csv(&tmp.path().join("out/folder/results.csv"));
    assert_eq!(field(&header, &rows[0], "dataset"), "image-folder");
    // 6 images per class + one grey JPEG in the first class, two classes.
    assert_eq!(field(&header, &rows[0], "train_images"), "13");
    // The saved config holds the folders' class count and the rescaling that ran ...
    let saved = std::fs::read_to_string(tmp.path().join("out/folder/config.toml")).unwrap();
    for line in [
        "num_classes = 2",
        "resize = 36",
        "scale = 36",
        "hflip = true",
    ] {
        assert!(
            saved.lines().any(|l| l == line),
            "{line:?} missing from {saved}"
        );
    }
    // ... and is still the same experiment as the config, which leaves them implicit.
    let again = vgg_train(&["--config", cfg.to_str().unwrap(), "--plain"]);
    let (stdout, stderr) = text(&again);
    assert!(again.status.success(), "{stdout}\n{stderr}");
    assert!(stdout.contains("already finished"), "{stdout}");
}

/// A truncated JPEG does not stop a run: it is logged once, skipped every epoch and counted.
#[test]
fn an_unreadable_image_is_skipped_logged_once_and_counted() {
    let tmp = tempfile::tempdir().unwrap();
    let data = write_image_folder(tmp.path(), 6);
    let jpeg = std::fs::read(data.join("train/n02_blue/img2.jpg")).unwrap();
    std::fs::write(
        data.join("train/n02_blue/truncated.jpg"),
        &jpeg[..jpeg.len() / 3],
    )
    .unwrap();
    let cfg = folder_config(tmp.path(), "folder", &data);
    let out = vgg_train(&[
        "--config",
        cfg.to_str().unwrap(),
        "--plain",
        "--set",
        "train.epochs=2",
    ]);
    let (stdout, stderr) = text(&out);
    assert!(out.status.success(), "{stdout}\n{stderr}");
    assert_eq!(
        stderr.matches("skipping unreadable image").count(),
        1,
        "{stderr}"
    );
    assert!(stderr.contains("truncated.jpg"), "{stderr}");
    let (header, rows) = read_csv(&tmp.path().join("out/folder/results.csv"));
    assert_eq!(field(&header, &rows[0], "bad_images"), "1");
    assert_eq!(field(&header, &rows[0], "train_images"), "14");
}

/// ImageNet's validation set as distributed: flat files plus LOC_val_solution.csv.
#[test]
fn flat_imagenet_val_with_loc_val_solution_csv_trains_end_to_end() {
    let tmp = tempfile::tempdir().unwrap();
    let data = write_image_folder(tmp.path(), 3);
    let mut csv = String::from("ImageId,PredictionString\n");
    let mut n = 0;
    for class in ["n01_red", "n02_blue"] {
        let dir = data.join("val").join(class);
        for entry in std::fs::read_dir(&dir).unwrap() {
            let p = entry.unwrap().path();
            n += 1;
            let id = format!("ILSVRC2012_val_{n:08}");
            std::fs::rename(&p, data.join("val").join(format!("{id}.JPEG"))).unwrap();
            csv += &format!("{id},{class} 0 0 10 10\n");
        }
        std::fs::remove_dir(&dir).unwrap();
    }
    std::fs::write(data.join("LOC_val_solution.csv"), csv).unwrap();
    let cfg = folder_config(tmp.path(), "flat", &data);
    let out = vgg_train(&["--config", cfg.to_str().unwrap(), "--plain"]);
    assert!(out.status.success(), "{:?}", text(&out));
    let (header, rows) = read_csv(&tmp.path().join("out/flat/results.csv"));
    // Image folders hold nothing out by default: val/ is the test set, as in the paper.
    assert_eq!(field(&header, &rows[0], "test_images"), n.to_string());
}
