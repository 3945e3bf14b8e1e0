//! Bad input never panics: every case below gets a one-line `error:` naming the file or key
//! (and, where there is one, the fix), exit status 2 for usage, config and data errors, and no
//! panic message or backtrace.
//!
//! Cases: malformed TOML, unknown key, unknown nested key, wrong type, unknown arch, unknown
//! enum value, batch_size 0, lr 0, lr < 0, width 0, width < 0, dropout 1, momentum 1,
//! weight_decay < 0, image_size too small for five pools, 2 channels, mean of the wrong
//! length, std 0, name with a slash, missing config file, config path that is a directory,
//! --set without '=', --set of an unknown key, --set of a wrong type, unknown flag, no
//! --config, a wrong type in --set, data.resize below the crop, val_split of 1, device not compiled in, unknown device, missing data directory, missing IDX
//! file, truncated IDX file, wrong IDX magic, corrupt gzip stream, IDX label count mismatch,
//! CIFAR file whose length is not a multiple of the record size, CIFAR label out of range,
//! missing CIFAR batch, empty class folder, train/val class folders that differ, no class
//! folders, unreadable image met during training, output directory that cannot be created,
//! non-UTF-8 config path, checkpoint of another arch, corrupt results.csv, empty sweep
//! manifest, report of a directory without runs, NaN or infinity in a float key, absurd sizes
//! and thread counts, a width that rounds layers to no channel, an even LRN window, an empty
//! protocol list, a head smaller than the data's classes, an export over its own weights or to
//! a non-safetensors name, a missing required argument, bench-data's zero scale or oversized
//! crop.

use crate::util::*;
use std::path::{Path, PathBuf};

/// A config for a tiny network on data at `data` (`dataset` = fashion-mnist unless given).
fn tiny(dir: &Path, data: &Path, extra: &str) -> PathBuf {
    write_config(
        dir,
        "tiny.toml",
        &format!(
            r#"name = "tiny"
[model]
arch = "A"
width = 0.0625
head = "compact"
hidden = 8
init = "kaiming"
[data]
dataset = "fashion-mnist"
path = {:?}
image_size = 32
channels = 1
train_limit = 64
val_limit = 32
[train]
epochs = 1
batch_size = 32
schedule = "constant"
[run]
output_dir = {:?}
{extra}"#,
            data.display().to_string(),
            dir.join("out").display().to_string()
        ),
    )
}

fn sample() -> PathBuf {
    root().join("data/fashion-mnist-sample")
}

/// Copies the bundled sample into `dir/fm` (raw, uncompressed) so a test can damage it.
fn raw_sample(dir: &Path) -> PathBuf {
    use std::io::Read;
    let fm = dir.join("fm");
    std::fs::create_dir_all(&fm).unwrap();
    for f in [
        "train-images-idx3-ubyte",
        "train-labels-idx1-ubyte",
        "t10k-images-idx3-ubyte",
        "t10k-labels-idx1-ubyte",
    ] {
        let gz = std::fs::read(sample().join(format!("{f}.gz"))).unwrap();
        let mut raw = Vec::new();
        flate2::read::GzDecoder::new(gz.as_slice())
            .read_to_end(&mut raw)
            .unwrap();
        std::fs::write(fm.join(f), raw).unwrap();
    }
    fm
}

fn config_case(text: &str, needles: &[&str]) {
    let tmp = tempfile::tempdir().unwrap();
    let cfg = write_config(tmp.path(), "bad.toml", text);
    let out = vgg_train(&["--config", cfg.to_str().unwrap()]);
    assert_clean_failure(&out, 2, needles);
}

#[test]
fn malformed_toml() {
    config_case("[train\nlr = 1\n", &["bad.toml line 1"]);
}

#[test]
fn unknown_key() {
    config_case("nmae = \"x\"\n", &["bad.toml line 1", "nmae"]);
}

#[test]
fn unknown_nested_key() {
    config_case(
        "[model]\narch = \"A\"\ndepht = 3\n",
        &["bad.toml line 3", "depht"],
    );
}

#[test]
fn wrong_type() {
    // The dotted key, not only the line.
    config_case(
        "[train]\nepochs = \"ten\"\n",
        &["bad.toml line 2", "train.epochs", "expected usize"],
    );
}

#[test]
fn wrong_type_in_an_override_names_the_key() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = tiny(dir.path(), &sample(), "");
    let out = vgg_train(&[
        "config",
        "--config",
        cfg.to_str().unwrap(),
        "--set",
        "model.width=\"wide\"",
    ]);
    assert_clean_failure(&out, 2, &["model.width", "--set"]);
}

#[test]
fn resize_below_the_crop() {
    config_case(
        "[data]\nimage_size = 224\nresize = 200\n",
        &["data.resize = 200", "at least data.image_size (224)"],
    );
}

#[test]
fn val_split_fraction_of_one() {
    config_case(
        "[data]\ndataset = \"cifar10\"\nval_split = 1.0\n",
        &["data.val_split", "[0, 1)"],
    );
}

#[test]
fn unknown_arch() {
    config_case("[model]\narch = \"Z\"\n", &["bad.toml", "A-LRN"]);
}

#[test]
fn unknown_enum_value() {
    config_case(
        "[train]\nschedule = \"linear\"\n",
        &["bad.toml line 2", "plateau"],
    );
}

#[test]
fn batch_size_zero() {
    config_case(
        "[train]\nbatch_size = 0\n",
        &["train.batch_size", "bad.toml"],
    );
}

#[test]
fn lr_zero_and_negative() {
    config_case("[train]\nlr = 0.0\n", &["train.lr", "> 0"]);
    config_case("[train]\nlr = -0.1\n", &["train.lr"]);
}

#[test]
fn width_zero_and_negative() {
    config_case("[model]\nwidth = 0.0\n", &["model.width"]);
    config_case("[model]\nwidth = -1.0\n", &["model.width"]);
}

#[test]
fn dropout_one_and_momentum_one() {
    config_case("[model]\ndropout = 1.0\n", &["model.dropout"]);
    config_case("[train]\nmomentum = 1.0\n", &["train.momentum"]);
}

#[test]
fn negative_weight_decay() {
    config_case("[train]\nweight_decay = -1e-4\n", &["train.weight_decay"]);
}

#[test]
fn image_size_too_small_for_five_pools() {
    config_case("[data]\nimage_size = 28\n", &["data.image_size", "five"]);
}

#[test]
fn two_channels() {
    config_case(
        "[data]\ndataset = \"mnist\"\nchannels = 2\n",
        &["data.channels", "1 or 3"],
    );
}

#[test]
fn mean_of_the_wrong_length_and_zero_std() {
    config_case("[data]\nmean = [0.5]\n", &["data.mean", "per channel"]);
    config_case("[data]\nstd = [0.2, 0.0, 0.2]\n", &["data.std", "> 0"]);
}

#[test]
fn name_with_a_slash() {
    config_case("name = \"../escape\"\n", &["name", "plain directory name"]);
}

#[test]
fn missing_config_file_and_directory_as_config() {
    let out = vgg_train(&["--config", "configs/nope.toml"]);
    assert_clean_failure(&out, 2, &["configs/nope.toml"]);
    let out = vgg_train(&["--config", "configs"]);
    assert_clean_failure(&out, 2, &["configs"]);
}

#[test]
fn bad_set_overrides() {
    let out = vgg_train(&["--config", "configs/quickstart.toml", "--set", "epochs"]);
    assert_clean_failure(&out, 2, &["--set epochs", "key=value"]);
    let out = vgg_train(&[
        "--config",
        "configs/quickstart.toml",
        "--set",
        "train.epoch=2",
    ]);
    assert_clean_failure(&out, 2, &["--set train.epoch=2", "epoch"]);
    let out = vgg_train(&[
        "--config",
        "configs/quickstart.toml",
        "--set",
        "train.epochs=many",
    ]);
    assert_clean_failure(&out, 2, &["--set train.epochs=many"]);
}

#[test]
fn unknown_flag_and_no_config() {
    let out = vgg_train(&["--confg", "x.toml"]);
    assert_clean_failure(&out, 2, &["--confg", "--help"]);
    let out = vgg_train(&[]);
    assert_clean_failure(&out, 2, &["--config"]);
}

#[test]
fn device_not_compiled_in_or_unknown() {
    let tmp = tempfile::tempdir().unwrap();
    let cfg = tiny(tmp.path(), &sample(), "");
    let c = cfg.to_str().unwrap();
    if !cfg!(feature = "wgpu") {
        let out = vgg_train(&["--config", c, "--set", "run.device=wgpu"]);
        assert_clean_failure(&out, 2, &["--features wgpu"]);
    }
    let out = vgg_train(&["--config", c, "--set", "run.device=tpu:0"]);
    assert_clean_failure(&out, 2, &["run.device", "flex, cuda:N"]);
}

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

fn folder_config(tmp: &Path, data: &Path) -> String {
    let cfg = tiny(tmp, data, "");
    let text = std::fs::read_to_string(&cfg)
        .unwrap()
        .replace(
            "dataset = \"fashion-mnist\"",
            "dataset = \"image-folder\"\nresize = 36",
        )
        .replace("channels = 1", "channels = 3");
    std::fs::write(&cfg, text).unwrap();
    cfg.display().to_string()
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
fn output_directory_that_cannot_be_created() {
    let tmp = tempfile::tempdir().unwrap();
    let blocker = tmp.path().join("file");
    std::fs::write(&blocker, b"x").unwrap();
    let cfg = tiny(tmp.path(), &sample(), "");
    let out = vgg_train(&[
        "--config",
        cfg.to_str().unwrap(),
        "--set",
        &format!(
            "run.output_dir={:?}",
            blocker.join("sub").display().to_string()
        ),
    ]);
    let (_, stderr) = text(&out);
    assert!(stderr.contains("file/sub"), "{stderr}");
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
    assert_ne!(out.status.code(), Some(0));
    assert!(!stderr.contains("panicked"));
}

#[test]
fn non_utf8_config_path_is_read() {
    use std::os::unix::ffi::OsStrExt;
    let tmp = tempfile::tempdir().unwrap();
    let name = std::ffi::OsStr::from_bytes(b"bad-\xff-name.toml");
    let path = tmp.path().join(name);
    std::fs::write(&path, "[train]\nbatch_size = 0\n").unwrap();
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_vgg-train"))
        .arg("--config")
        .arg(&path)
        .output()
        .unwrap();
    assert_clean_failure(&out, 2, &["bad-", "train.batch_size"]);
}

#[test]
fn checkpoint_of_another_arch_is_refused() {
    let tmp = tempfile::tempdir().unwrap();
    let cfg = tiny(tmp.path(), &sample(), "");
    let c = cfg.to_str().unwrap();
    let out = vgg_train(&["--config", c, "--set", "train.epochs=2"]);
    assert!(out.status.success(), "{:?}", text(&out));
    // Another arch's checkpoint slipped into the run directory, claiming to be epoch 2.
    let other = tempfile::tempdir().unwrap();
    let cfg_b = tiny(other.path(), &sample(), "");
    let out = vgg_train(&["--config", cfg_b.to_str().unwrap(), "--set", "model.arch=B"]);
    assert!(out.status.success(), "{:?}", text(&out));
    let run = tmp.path().join("out/tiny");
    std::fs::copy(
        other.path().join("out/tiny/checkpoint/model-1.bpk"),
        run.join("checkpoint/model-2.bpk"),
    )
    .unwrap();
    std::fs::remove_file(run.join("results.csv")).unwrap();
    let out = vgg_train(&["--config", c, "--set", "train.epochs=3"]);
    assert_clean_failure(&out, 2, &["model-2.bpk", "does not fit", "--fresh"]);
}

#[test]
fn corrupt_results_csv() {
    let tmp = tempfile::tempdir().unwrap();
    let cfg = tiny(tmp.path(), &sample(), "");
    let c = cfg.to_str().unwrap();
    assert!(vgg_train(&["--config", c]).status.success());
    std::fs::write(
        tmp.path().join("out/tiny/results.csv"),
        "name,arch\n\"unterminated",
    )
    .unwrap();
    assert_clean_failure(&vgg_train(&["--config", c]), 2, &["results.csv"]);
}

#[test]
fn empty_sweep_manifest_and_report_without_runs() {
    let tmp = tempfile::tempdir().unwrap();
    let m = write_config(
        tmp.path(),
        "m.toml",
        "name = \"m\"\noutput_dir = \"x\"\nconfigs = []\nseeds = [0]\n",
    );
    assert_clean_failure(
        &vgg_train(&["plan", m.to_str().unwrap()]),
        2,
        &["m.toml", "configs"],
    );
    let out = vgg_train(&["report", tmp.path().to_str().unwrap()]);
    assert_clean_failure(&out, 1, &["no finished runs"]);
}

#[test]
fn an_os_error_is_reported_once() {
    let out = vgg_train(&["--config", "/nonexistent/vgg.toml"]);
    assert_clean_failure(&out, 2, &["/nonexistent/vgg.toml", "No such file"]);
    let (_, stderr) = text(&out);
    assert_eq!(stderr.matches("os error 2").count(), 1, "{stderr}");
}

#[test]
fn corrupt_or_foreign_weights_files_are_refused_with_the_file_named() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = write_config(
        dir.path(),
        "tv.toml",
        "[model]\narch = \"A\"\nwidth = 0.0625\nhidden = 32\nnum_classes = 10\n[data]\ndataset = \"image-folder\"\n",
    );
    let image = root().join("tests/fixtures/torchvision/photo.JPEG");
    let corrupt = dir.path().join("corrupt.pth");
    std::fs::write(&corrupt, vec![0x5a; 4096]).unwrap();
    let not_vgg = root().join("tests/fixtures/torchvision/not-vgg.pth");
    for (weights, needle) in [
        (corrupt.clone(), "not a PyTorch state dict"),
        (dir.path().join("missing.pth"), "not found"),
        (not_vgg, "not a torchvision VGG state dict"),
    ] {
        let out = vgg_train(&[
            "predict",
            "--config",
            cfg.to_str().unwrap(),
            "--weights",
            weights.to_str().unwrap(),
            image.to_str().unwrap(),
        ]);
        assert_clean_failure(
            &out,
            2,
            &[weights.file_name().unwrap().to_str().unwrap(), needle],
        );
    }
}

#[test]
fn nan_and_infinite_numbers_are_refused_naming_the_key() {
    config_case("[train]\nmin_lr = nan\n", &["train.min_lr", "finite"]);
    config_case("[model.lrn]\nalpha = nan\n", &["model.lrn.alpha", "finite"]);
    config_case("[model.lrn]\nk = inf\n", &["model.lrn.k", "finite"]);
    config_case("[data]\nmean = [nan, 0.4, 0.4]\n", &["data.mean", "finite"]);
    config_case("[data]\nstd = [0.2, inf, 0.2]\n", &["data.std", "finite"]);
}

#[test]
fn absurd_sizes_and_thread_counts_are_refused_before_any_work() {
    config_case(
        "[data]\nimage_size = 100000000000000\n",
        &["data.image_size", "[32, 1024]"],
    );
    config_case(
        "[augment]\ncrop_padding = 100000000000000\n",
        &["augment.crop_padding", "data.image_size"],
    );
    config_case(
        "[data]\nworkers = 100000000\n",
        &["data.workers", "CPU threads"],
    );
    config_case("[model]\nwidth = 0.001\n", &["model.width", "1/128"]);
}

#[test]
fn an_even_lrn_window_and_an_empty_protocol_list_are_refused() {
    config_case("[model.lrn]\nsize = 4\n", &["model.lrn.size", "odd"]);
    config_case("[eval]\nprotocols = []\n", &["eval.protocols", "center"]);
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
fn export_never_writes_over_the_weights_it_reads_or_a_non_safetensors_file() {
    let tmp = tempfile::tempdir().unwrap();
    let cfg = tiny(tmp.path(), &sample(), "");
    let c = cfg.to_str().unwrap();
    assert!(vgg_train(&["--config", c]).status.success());
    let run = tmp.path().join("out/tiny");
    let before = files_under(&run);
    let model = run.join("model.bpk");
    let json = tmp.path().join("x.json");
    for (out, needle) in [
        (model.clone(), ".safetensors"),
        (json.clone(), ".safetensors"),
    ] {
        let o = vgg_train(&["export", "--config", c, "--out", out.to_str().unwrap()]);
        assert_clean_failure(&o, 2, &[out.file_name().unwrap().to_str().unwrap(), needle]);
    }
    // An export read back in place: out (and its JSON) would be the weights themselves.
    let st = tmp.path().join("w.safetensors");
    assert!(
        vgg_train(&["export", "--config", c, "--out", st.to_str().unwrap()])
            .status
            .success()
    );
    let o = vgg_train(&[
        "export",
        "--config",
        c,
        "--weights",
        st.to_str().unwrap(),
        "--out",
        st.to_str().unwrap(),
    ]);
    assert_clean_failure(&o, 2, &["w.safetensors", "weights file being exported"]);
    assert!(!json.exists());
    assert_eq!(files_under(&run), before, "the run's files changed");
}

#[test]
fn a_missing_required_argument_is_named() {
    for args in [&["bench-data"][..], &["tensorboard"], &["report"]] {
        assert_clean_failure(&vgg_train(args), 2, &["<DIR>", "not provided"]);
    }
}

#[test]
fn bench_data_refuses_a_zero_scale_and_a_crop_larger_than_the_scale() {
    let tmp = tempfile::tempdir().unwrap();
    let d = tmp.path().to_str().unwrap();
    assert_clean_failure(
        &vgg_train(&["bench-data", d, "--scale", "0"]),
        2,
        &["--scale", "1..=4096"],
    );
    assert_clean_failure(
        &vgg_train(&["bench-data", d, "--scale", "256", "--crop", "300"]),
        2,
        &["--crop 300", "--scale 256"],
    );
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

#[test]
fn resuming_with_fewer_epochs_than_trained_is_refused_and_keeps_every_checkpoint() {
    let tmp = tempfile::tempdir().unwrap();
    let c = tiny(tmp.path(), &sample(), "").display().to_string();
    let out = vgg_train(&["--config", &c, "--set", "train.epochs=2"]);
    assert!(out.status.success(), "{:?}", text(&out));
    let run = tmp.path().join("out/tiny");
    // As if the run had been cut off before its results were written.
    std::fs::remove_file(run.join("results.csv")).unwrap();
    let before = files_under(&run);
    let out = vgg_train(&["--config", &c, "--set", "train.epochs=1"]);
    assert_clean_failure(
        &out,
        2,
        &[
            "train.epochs changed from 2 to 1",
            "2 epochs are already trained",
        ],
    );
    let mut after = files_under(&run);
    after.remove(&run.join("lock"));
    let mut before = before;
    before.remove(&run.join("lock"));
    assert_eq!(before, after, "the refused resume changed the run's files");
    // Back at 2 epochs it finishes from its checkpoints.
    let out = vgg_train(&["--config", &c, "--set", "train.epochs=2"]);
    assert!(out.status.success(), "{:?}", text(&out));
    assert!(run.join("results.csv").is_file());
}

#[test]
fn bench_refuses_zero_timed_steps() {
    let out = vgg_train(&[
        "bench",
        "--config",
        "configs/quickstart.toml",
        "--steps",
        "0",
    ]);
    assert_clean_failure(&out, 2, &["--steps", "0"]);
}

#[test]
fn bench_peak_refuses_seconds_that_are_not_a_sane_duration() {
    for bad in ["inf", "NaN", "-1", "0", "1e9"] {
        let out = vgg_train(&["bench-peak", &format!("--seconds={bad}")]);
        assert_clean_failure(&out, 2, &["--seconds", bad]);
    }
}
