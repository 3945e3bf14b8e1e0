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

mod config;
mod data;
mod runs;

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
