//! Bad configs, overrides and arguments of every subcommand.

use super::*;

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
