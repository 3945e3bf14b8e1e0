//! Every numeric config key's allowed range, in one table ([`RANGES`]), checked on the resolved
//! experiment by [`check_ranges`] and quoted row for row by the README's key table.
//!
//! A value must be a finite number inside its range; NaN and infinity never pass. Bounds that
//! depend on another key (`train.min_lr <= train.lr`) or on the machine (`data.workers`) are
//! written as such. Lists (`data.mean`, `eval.scales`) check every element. Keys that are not
//! set (an absent option) are not checked.

use std::path::Path;

use toml::Value;

use super::Experiment;
use crate::error::ConfigError;

/// One end of a range.
#[derive(Debug, Clone, Copy)]
pub enum Bound {
    /// A number.
    Num(f64),
    /// The value of another key of the experiment.
    Key(&'static str),
    /// This many times the machine's CPU threads.
    TimesCores(usize),
}

/// The allowed values of one numeric key: `min ..= max`, either end open where marked.
#[derive(Debug, Clone, Copy)]
pub struct KeyRange {
    /// The dotted key, as in a `--set` override.
    pub key: &'static str,
    /// The lower bound and whether it is itself allowed.
    pub min: (Bound, bool),
    /// The upper bound and whether it is itself allowed.
    pub max: (Bound, bool),
    /// What the key means or a typical value, for the error and the README.
    pub hint: &'static str,
}

const fn closed(min: f64, max: f64, key: &'static str, hint: &'static str) -> KeyRange {
    KeyRange {
        key,
        min: (Bound::Num(min), true),
        max: (Bound::Num(max), true),
        hint,
    }
}

/// The largest image side anything accepts (a 4096² crop of VGG-16 is ~1.3 TFLOPs a forward).
pub const MAX_SIDE: f64 = 4096.0;

/// Every numeric key and its range.
pub const RANGES: &[KeyRange] = &[
    closed(
        1.0 / 128.0,
        8.0,
        "model.width",
        "channel multiplier; below 1/128 the 64-channel layers round to no channel",
    ),
    closed(
        0.0,
        65536.0,
        "model.hidden",
        "units of each hidden FC layer",
    ),
    closed(
        0.0,
        8.0,
        "model.hidden_layers",
        "hidden FC layers (the paper: 2)",
    ),
    KeyRange {
        key: "model.dropout",
        min: (Bound::Num(0.0), true),
        max: (Bound::Num(1.0), false),
        hint: "the paper: 0.5",
    },
    closed(
        0.0,
        100_000.0,
        "model.num_classes",
        "0 = the data set's classes; at least the data's largest label + 1",
    ),
    closed(0.0, 3.0, "model.in_channels", "0 = data.channels"),
    closed(
        1.0,
        99.0,
        "model.lrn.size",
        "odd (PyTorch's window); the paper: 5",
    ),
    closed(0.0, 1.0, "model.lrn.alpha", "the paper: 1e-4"),
    closed(0.0, 10.0, "model.lrn.beta", "the paper: 0.75"),
    KeyRange {
        key: "model.lrn.k",
        min: (Bound::Num(0.0), false),
        max: (Bound::Num(1000.0), true),
        hint: "the paper: 2",
    },
    closed(
        32.0,
        1024.0,
        "data.image_size",
        "the training crop; at least 32 for the five 2x2 max-pools",
    ),
    closed(1.0, 3.0, "data.channels", "1 or 3"),
    closed(
        0.0,
        MAX_SIDE,
        "data.resize",
        "0 = image_size * 8 / 7; else at least data.image_size",
    ),
    closed(
        0.0,
        1.0,
        "data.mean",
        "per channel, on pixels scaled to [0, 1]",
    ),
    KeyRange {
        key: "data.std",
        min: (Bound::Num(0.0), false),
        max: (Bound::Num(1.0), true),
        hint: "per channel, on pixels scaled to [0, 1]",
    },
    KeyRange {
        key: "data.workers",
        min: (Bound::Num(0.0), true),
        max: (Bound::TimesCores(4), true),
        hint: "data-loading threads; 0 = on the training thread",
    },
    KeyRange {
        key: "augment.crop_padding",
        min: (Bound::Num(0.0), true),
        max: (Bound::Key("data.image_size"), true),
        hint: "CIFAR's pad-4 random crop",
    },
    closed(
        0.0,
        MAX_SIDE,
        "augment.scale",
        "image folders; 0 = the evaluation resize; else at least data.image_size",
    ),
    closed(0.0, 1.0, "augment.color_shift", "the paper's configs: 0.1"),
    closed(1.0, 100_000.0, "train.epochs", "the paper: 74"),
    closed(1.0, 65536.0, "train.batch_size", "the paper: 256"),
    KeyRange {
        key: "train.lr",
        min: (Bound::Num(0.0), false),
        max: (Bound::Num(10.0), true),
        hint: "the paper: 0.01",
    },
    KeyRange {
        key: "train.momentum",
        min: (Bound::Num(0.0), true),
        max: (Bound::Num(1.0), false),
        hint: "the paper: 0.9",
    },
    closed(0.0, 1.0, "train.weight_decay", "the paper: 5e-4"),
    KeyRange {
        key: "train.gamma",
        min: (Bound::Num(0.0), false),
        max: (Bound::Num(1.0), true),
        hint: "the paper: 0.1",
    },
    closed(
        0.0,
        100_000.0,
        "train.step_epochs",
        ">= 1 for the step schedule",
    ),
    closed(
        0.0,
        1000.0,
        "train.patience",
        ">= 1 for the plateau schedule",
    ),
    closed(0.0, 100.0, "train.max_drops", "the paper: 3"),
    KeyRange {
        key: "train.min_lr",
        min: (Bound::Num(0.0), true),
        max: (Bound::Key("train.lr"), true),
        hint: "the rate never goes below it",
    },
    closed(
        0.0,
        MAX_SIDE,
        "eval.scales",
        "test scales Q, each at least data.image_size",
    ),
    closed(0.0, 65536.0, "eval.batch_size", "0 = train.batch_size"),
];

impl Bound {
    fn value(self, exp: &Value) -> f64 {
        match self {
            Bound::Num(v) => v,
            Bound::Key(key) => numbers(exp, key).first().copied().unwrap_or(f64::NAN),
            Bound::TimesCores(times) => (times * crate::util::cpu_threads()) as f64,
        }
    }

    fn describe(self) -> String {
        match self {
            Bound::Num(v) if v == 1.0 / 128.0 => "1/128".into(),
            Bound::Num(v) if v >= 10_000.0 => {
                let digits = (v as u64).to_string();
                let mut out = String::new();
                for (i, c) in digits.chars().enumerate() {
                    if i > 0 && (digits.len() - i).is_multiple_of(3) {
                        out.push(',');
                    }
                    out.push(c);
                }
                out
            }
            Bound::Num(v) => v.to_string(),
            Bound::Key(key) => format!("`{key}`"),
            Bound::TimesCores(times) => format!("{times} × CPU threads"),
        }
    }
}

impl KeyRange {
    /// The range in interval notation: `[0, 1)`.
    pub fn describe(&self) -> String {
        format!(
            "{}{}, {}{}",
            if self.min.1 { "[" } else { "(" },
            self.min.0.describe(),
            self.max.0.describe(),
            if self.max.1 { "]" } else { ")" },
        )
    }

    /// The key's row in the README's table of ranges.
    pub fn readme_row(&self) -> String {
        format!("| `{}` | {} | {} |", self.key, self.describe(), self.hint)
    }

    fn allows(&self, v: f64, exp: &Value) -> bool {
        let (min, max) = (self.min.0.value(exp), self.max.0.value(exp));
        v.is_finite()
            && (if self.min.1 { v >= min } else { v > min })
            && (if self.max.1 { v <= max } else { v < max })
    }
}

/// The numbers at a dotted `key`: one for a number, each element of an array (`augment.scale`
/// may be a number or a pair), none where the key is absent or not numeric.
fn numbers(exp: &Value, key: &str) -> Vec<f64> {
    let Some(value) = key.split('.').try_fold(exp, |v, part| v.get(part)) else {
        return Vec::new();
    };
    let one = |v: &Value| match v {
        Value::Integer(i) => Some(*i as f64),
        Value::Float(f) => Some(*f),
        _ => None,
    };
    match value {
        Value::Array(items) => items.iter().filter_map(one).collect(),
        v => one(v).into_iter().collect(),
    }
}

/// The first key (dotted) holding an integer above `i64::MAX`, which the config's unsigned
/// fields can read but TOML cannot write: the resolved experiment would not serialise.
fn oversized_integer(exp: &Experiment) -> Option<(String, u64)> {
    fn walk(prefix: &str, v: &serde_json::Value) -> Option<(String, u64)> {
        match v {
            serde_json::Value::Number(n) => n
                .as_u64()
                .filter(|u| *u > i64::MAX as u64)
                .map(|u| (prefix.to_string(), u)),
            serde_json::Value::Array(items) => items.iter().find_map(|i| walk(prefix, i)),
            serde_json::Value::Object(map) => map.iter().find_map(|(k, v)| {
                let key = if prefix.is_empty() {
                    k.clone()
                } else {
                    format!("{prefix}.{k}")
                };
                walk(&key, v)
            }),
            _ => None,
        }
    }
    walk("", &serde_json::to_value(exp).ok()?)
}

/// Checks every key of [`RANGES`] on `exp`; the error names the first key out of range, its
/// value and the range.
pub fn check_ranges(exp: &Experiment, path: &Path) -> Result<(), ConfigError> {
    if let Some((key, value)) = oversized_integer(exp) {
        return Err(ConfigError::Invalid {
            path: path.to_path_buf(),
            key,
            value: value.to_string(),
            message: format!(
                "larger than TOML's largest integer ({}), and than any sane value",
                i64::MAX
            ),
        });
    }
    let value = Value::try_from(exp).expect("an Experiment within TOML's integers serialises");
    for range in RANGES {
        let values = numbers(&value, range.key);
        if let Some(bad) = values.iter().find(|v| !range.allows(**v, &value)) {
            return Err(ConfigError::Invalid {
                path: path.to_path_buf(),
                key: range.key.into(),
                value: if values.len() > 1 {
                    format!("{values:?}")
                } else {
                    bad.to_string()
                },
                message: format!(
                    "must be a finite number in {} ({})",
                    range.describe(),
                    range.hint
                ),
            });
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_integer_beyond_tomls_range_is_refused_naming_the_key_not_a_panic() {
        // TOML's parser reads such an integer into an unsigned field; a `--set` refuses it
        // earlier, as a string.
        for (text, key) in [
            (
                "[model.lrn]\nsize = 18446744073709551615\n",
                "model.lrn.size",
            ),
            ("[train]\nseed = 18446744073709551615\n", "train.seed"),
        ] {
            let err = Experiment::from_toml_str(text, Path::new("x.toml"), &[])
                .unwrap_err()
                .to_string();
            assert!(
                err.contains(key) && err.contains("largest integer"),
                "{err}"
            );
        }
    }

    fn load(overrides: &[&str]) -> Result<Experiment, ConfigError> {
        let overrides: Vec<String> = overrides.iter().map(|s| s.to_string()).collect();
        Experiment::from_toml_str(
            "[data]\ndataset = \"fashion-mnist\"\nimage_size = 32\nchannels = 1\n",
            Path::new("t.toml"),
            &overrides,
        )
    }

    fn refused_key(overrides: &[&str]) -> String {
        match load(overrides) {
            Err(ConfigError::Invalid { key, .. }) => key,
            other => panic!("{overrides:?} was not refused as invalid: {other:?}"),
        }
    }

    #[test]
    fn nan_and_infinity_are_refused_for_every_float_key() {
        for (key, value) in [
            ("train.min_lr", "nan"),
            ("train.lr", "inf"),
            ("train.weight_decay", "nan"),
            ("model.lrn.alpha", "nan"),
            ("model.lrn.beta", "inf"),
            ("model.lrn.k", "nan"),
            ("augment.color_shift", "nan"),
            ("model.width", "inf"),
        ] {
            assert_eq!(refused_key(&[&format!("{key}={value}")]), key);
        }
        assert_eq!(refused_key(&["data.mean=[nan]"]), "data.mean");
        assert_eq!(refused_key(&["data.std=[inf]"]), "data.std");
    }

    #[test]
    fn absurd_sizes_and_thread_counts_are_refused() {
        assert_eq!(
            refused_key(&["data.image_size=100000000000"]),
            "data.image_size"
        );
        assert_eq!(
            refused_key(&["augment.crop_padding=100000000000"]),
            "augment.crop_padding"
        );
        assert_eq!(refused_key(&["data.workers=1000000"]), "data.workers");
        assert_eq!(refused_key(&["eval.scales=[32, 99999]"]), "eval.scales");
        assert_eq!(refused_key(&["model.width=0.005"]), "model.width");
    }

    #[test]
    fn pixel_statistics_in_0_255_units_are_refused() {
        assert_eq!(refused_key(&["data.mean=[72.9]"]), "data.mean");
    }

    #[test]
    fn bounds_that_name_another_key_use_its_value() {
        assert_eq!(
            refused_key(&["train.lr=0.01", "train.min_lr=0.02"]),
            "train.min_lr"
        );
        load(&["train.lr=0.01", "train.min_lr=0.01"]).unwrap();
    }

    #[test]
    fn the_defaults_and_every_shipped_config_are_in_range() {
        load(&[]).unwrap();
        let configs = Path::new(env!("CARGO_MANIFEST_DIR")).join("configs");
        let mut seen = 0;
        let mut stack = vec![configs];
        while let Some(dir) = stack.pop() {
            for entry in std::fs::read_dir(dir).unwrap() {
                let path = entry.unwrap().path();
                if path.is_dir() {
                    stack.push(path);
                } else if path.extension().is_some_and(|e| e == "toml") {
                    Experiment::load(&path, &[]).unwrap_or_else(|e| panic!("{e}"));
                    seen += 1;
                }
            }
        }
        assert!(seen > 20, "only {seen} configs found");
    }

    #[test]
    fn the_readme_states_every_range() {
        let readme =
            std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("README.md"))
                .unwrap();
        let missing: Vec<String> = RANGES
            .iter()
            .map(KeyRange::readme_row)
            .filter(|row| !readme.lines().any(|line| line == row))
            .collect();
        assert!(
            missing.is_empty(),
            "README.md lacks these rows of the key-range table:\n{}",
            missing.join("\n")
        );
    }
}
