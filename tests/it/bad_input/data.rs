//! Missing, truncated, corrupt and empty data files in every format.

use super::*;

#[test]
fn missing_data_directory_and_missing_idx_file() {
    let tmp = tempfile::tempdir().unwrap();
    let cfg = tiny(tmp.path(), Path::new("/nonexistent/fm"), "");
    let out = vgg_train(&["--config", cfg.to_str().unwrap()]);
    assert_clean_failure(&out, 2, &["/nonexistent/fm", "dataset-fashion-mnist"]);
    let fm = raw_sample(tmp.path());
    std::fs::remove_file(fm.join("t10k-labels-idx1-ubyte")).unwrap();
    let cfg = tiny(tmp.path(), &fm, "");
    let out = vgg_train(&["--config", cfg.to_str().unwrap()]);
    assert_clean_failure(&out, 2, &["t10k-labels-idx1-ubyte", "not found"]);
}

#[test]
fn truncated_idx_wrong_magic_corrupt_gzip_and_label_mismatch() {
    let tmp = tempfile::tempdir().unwrap();
    let fm = raw_sample(tmp.path());
    let cfg = tiny(tmp.path(), &fm, "");
    let c = cfg.to_str().unwrap().to_string();
    let images = fm.join("train-images-idx3-ubyte");
    let good = std::fs::read(&images).unwrap();

    std::fs::write(&images, &good[..good.len() - 100]).unwrap();
    assert_clean_failure(
        &vgg_train(&["--config", &c]),
        2,
        &["train-images-idx3-ubyte", "truncated"],
    );

    let mut bad = good.clone();
    bad[0] = 0x42;
    std::fs::write(&images, &bad).unwrap();
    assert_clean_failure(
        &vgg_train(&["--config", &c]),
        2,
        &["train-images-idx3-ubyte", "magic"],
    );

    std::fs::write(&images, &good).unwrap();
    std::fs::rename(&images, fm.join("train-images-idx3-ubyte.moved")).unwrap();
    std::fs::write(
        fm.join("train-images-idx3-ubyte.gz"),
        b"\x1f\x8bnot gzip at all",
    )
    .unwrap();
    assert_clean_failure(
        &vgg_train(&["--config", &c]),
        2,
        &["train-images-idx3-ubyte.gz", "gzip"],
    );
    std::fs::remove_file(fm.join("train-images-idx3-ubyte.gz")).unwrap();
    std::fs::rename(fm.join("train-images-idx3-ubyte.moved"), &images).unwrap();

    let labels = fm.join("train-labels-idx1-ubyte");
    let l = std::fs::read(&labels).unwrap();
    let mut fewer = l[..l.len() - 1].to_vec();
    fewer[7] = fewer[7].wrapping_sub(1); // header count - 1, consistent with the body
    std::fs::write(&labels, &fewer).unwrap();
    assert_clean_failure(
        &vgg_train(&["--config", &c]),
        2,
        &["train-labels-idx1-ubyte", "labels for"],
    );
}

#[test]
fn cifar_bad_length_bad_label_and_missing_batch() {
    let tmp = tempfile::tempdir().unwrap();
    let root_dir = write_cifar10(tmp.path(), 1);
    let cfg = tiny(tmp.path(), &root_dir, "");
    let text = std::fs::read_to_string(&cfg)
        .unwrap()
        .replace("fashion-mnist", "cifar10")
        .replace("channels = 1", "channels = 3");
    std::fs::write(&cfg, text).unwrap();
    let c = cfg.to_str().unwrap().to_string();
    let batch = root_dir.join("data_batch_3.bin");
    let good = std::fs::read(&batch).unwrap();

    std::fs::write(&batch, &good[..good.len() - 7]).unwrap();
    assert_clean_failure(
        &vgg_train(&["--config", &c]),
        2,
        &["data_batch_3.bin", "3073-byte record"],
    );

    let mut bad = good.clone();
    bad[3073] = 10; // second record's label
    std::fs::write(&batch, &bad).unwrap();
    assert_clean_failure(
        &vgg_train(&["--config", &c]),
        2,
        &["data_batch_3.bin", "label 10"],
    );

    std::fs::remove_file(&batch).unwrap();
    assert_clean_failure(
        &vgg_train(&["--config", &c]),
        2,
        &["data_batch_3.bin", "cifar-10-binary"],
    );
}

#[test]
fn empty_class_folder_differing_classes_and_no_classes() {
    let tmp = tempfile::tempdir().unwrap();
    let data = write_image_folder(tmp.path(), 3);
    let c = folder_config(tmp.path(), &data);

    std::fs::create_dir_all(data.join("train/n03_empty")).unwrap();
    std::fs::create_dir_all(data.join("val/n03_empty")).unwrap();
    assert_clean_failure(
        &vgg_train(&["--config", &c]),
        2,
        &["n03_empty", "empty class folder"],
    );

    std::fs::remove_dir_all(data.join("val/n03_empty")).unwrap();
    std::fs::write(data.join("train/n03_empty/x.png"), b"").unwrap();
    assert_clean_failure(
        &vgg_train(&["--config", &c]),
        2,
        &["val", "missing [\"n03_empty\"]"],
    );

    let empty = tmp.path().join("nothing");
    std::fs::create_dir_all(empty.join("train")).unwrap();
    let c2 = folder_config(tmp.path(), &empty);
    assert_clean_failure(
        &vgg_train(&["--config", &c2]),
        2,
        &["nothing/train", "no class folders"],
    );
}

#[test]
fn unreadable_image_met_during_training() {
    let tmp = tempfile::tempdir().unwrap();
    let data = write_image_folder(tmp.path(), 3);
    std::fs::write(
        data.join("train/n02_blue/broken.jpg"),
        b"\xff\xd8\xff\xe0 truncated",
    )
    .unwrap();
    let c = folder_config(tmp.path(), &data);
    // With no tolerance for unreadable images (the default skips up to 10).
    let out = vgg_train(&["--config", &c, "--plain", "--set", "data.max_bad_images=0"]);
    let (_, stderr) = text(&out);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    let errors: Vec<&str> = stderr
        .lines()
        .filter(|l| l.starts_with("error: "))
        .collect();
    assert_eq!(errors.len(), 1, "{stderr}");
    assert!(
        errors[0].contains("broken.jpg") && errors[0].contains("cannot decode"),
        "{stderr}"
    );
    assert!(errors[0].contains("data.max_bad_images"), "{stderr}");
    assert!(!stderr.contains("panicked"));
}

#[test]
fn a_head_with_fewer_outputs_than_the_data_has_classes_is_refused() {
    let tmp = tempfile::tempdir().unwrap();
    let cfg = tiny(tmp.path(), &sample(), "");
    let out = vgg_train(&[
        "--config",
        cfg.to_str().unwrap(),
        "--set",
        "model.num_classes=5",
    ]);
    assert_clean_failure(&out, 2, &["model.num_classes = 5", "10 classes"]);
}

#[test]
fn a_folder_whose_every_image_is_unreadable_is_refused_not_trained_on() {
    let tmp = tempfile::tempdir().unwrap();
    let data = write_image_folder(tmp.path(), 3);
    for class in ["n01_red", "n02_blue"] {
        for entry in std::fs::read_dir(data.join("train").join(class)).unwrap() {
            std::fs::write(entry.unwrap().path(), b"not an image").unwrap();
        }
    }
    let c = folder_config(tmp.path(), &data);
    // More tolerance than the split has images: the run must still refuse.
    let out = vgg_train(&[
        "--config",
        &c,
        "--plain",
        "--set",
        "data.max_bad_images=1000",
    ]);
    let (_, stderr) = text(&out);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    // One warning per skipped image, then the one error.
    let errors: Vec<&str> = stderr
        .lines()
        .filter(|l| l.starts_with("error: "))
        .collect();
    assert_eq!(errors.len(), 1, "{stderr}");
    assert!(
        errors[0].contains("folder/train") && errors[0].contains("every one of the split's 7"),
        "{stderr}"
    );
    assert!(!stderr.contains("panicked"), "{stderr}");
    assert!(!tmp.path().join("out/tiny/results.csv").exists());
}

#[test]
fn an_empty_test_split_or_zero_sized_images_are_refused() {
    let tmp = tempfile::tempdir().unwrap();
    let fm = raw_sample(tmp.path());
    let c = tiny(tmp.path(), &fm, "").display().to_string();
    let write = |stem: &str, dims: &[u32]| {
        let mut bytes = vec![0u8, 0, 8, dims.len() as u8];
        for d in dims {
            bytes.extend(d.to_be_bytes());
        }
        std::fs::write(fm.join(stem), bytes).unwrap();
    };
    write("t10k-images-idx3-ubyte", &[0, 28, 28]);
    write("t10k-labels-idx1-ubyte", &[0]);
    assert_clean_failure(
        &vgg_train(&["--config", &c]),
        2,
        &["t10k-images-idx3-ubyte", "holds no image"],
    );
    write("t10k-images-idx3-ubyte", &[5, 0, 28]);
    assert_clean_failure(
        &vgg_train(&["--config", &c]),
        2,
        &["t10k-images-idx3-ubyte", "holds no image"],
    );
    // Dimensions whose product overflows are a corrupt header, not a panic.
    write("t10k-images-idx3-ubyte", &[u32::MAX, u32::MAX, u32::MAX]);
    assert_clean_failure(
        &vgg_train(&["--config", &c]),
        2,
        &["t10k-images-idx3-ubyte", "overflow"],
    );
    assert!(!tmp.path().join("out/tiny/results.csv").exists());
}
