//! The experiment file: one TOML file is one experiment.
//!
//! The file is deserialised into our own serde structs with `deny_unknown_fields`, so a typo is
//! an error naming the key and the line. Every key has a default (the paper's ImageNet recipe
//! where one exists), so a config file reads as a diff against the paper. `--set key=value`
//! overrides any key; [`Experiment::validate`] then rejects values that parse but make no sense.

mod dataset;
mod device_spec;
mod facts;
mod network;
mod overrides;
pub mod ranges;
mod resolve;
mod training;
mod validate;

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

pub use dataset::*;
pub use device_spec::{DeviceError, DeviceSpec};
pub use facts::{DEBIAN_FASHION_MNIST, DataFacts};
pub use network::*;
pub use training::*;

use crate::error::ConfigError;
use crate::util::one_line;
use overrides::{apply_override, parse_error, parse_experiment};

/// One experiment: model, data, augmentation, optimisation and where to run it.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Experiment {
    /// Run name; the run directory is `<run.output_dir>/<name>`. Defaults to the file stem.
    pub name: String,
    /// Network.
    pub model: ModelConfig,
    /// Data set and preprocessing.
    pub data: DataConfig,
    /// Training-time augmentation.
    pub augment: AugmentConfig,
    /// Optimiser and schedule.
    pub train: TrainConfig,
    /// Test-time protocols (paper §3.2): after training and in `vgg-train eval`.
    pub eval: EvalConfig,
    /// Device and outputs.
    pub run: RunConfig,
}

/// The smallest input side that survives the five 2×2 max-pools.
pub const MIN_IMAGE_SIZE: usize = 32;

impl Experiment {
    /// Reads `path`, applies the `key=value` overrides, validates the result and resolves it
    /// ([`Experiment::resolve`]).
    pub fn load(path: &Path, overrides: &[String]) -> Result<Experiment, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|error| ConfigError::Read {
            path: path.to_path_buf(),
            error,
        })?;
        Self::from_toml_str(&text, path, overrides)
    }

    /// Parses TOML `text` (named `path` in errors), applies overrides, validates, resolves.
    pub fn from_toml_str(
        text: &str,
        path: &Path,
        overrides: &[String],
    ) -> Result<Experiment, ConfigError> {
        // First pass on the file alone, so that errors point at its lines.
        let mut exp = parse_experiment(path, text)?;
        if !overrides.is_empty() {
            let mut table: toml::Table =
                toml::from_str(text).map_err(|e| parse_error(path, text, &e))?;
            for assignment in overrides {
                apply_override(&mut table, assignment)?;
                exp = serde_path_to_error::deserialize(toml::Value::Table(table.clone())).map_err(
                    |e| ConfigError::Override {
                        assignment: assignment.clone(),
                        message: format!("{}: {}", e.path(), one_line(e.inner().message())),
                    },
                )?;
            }
        }
        if exp.name.is_empty() {
            exp.name = path
                .file_stem()
                .map(|s| s.to_string_lossy().into_owned())
                .unwrap_or_else(|| "run".into());
        }
        exp.validate(path)?;
        // The resolved config says what runs, whatever the defaults of a later version.
        exp.resolve();
        Ok(exp)
    }

    /// The resolved experiment as TOML, as saved in the run directory.
    pub fn to_toml(&self) -> String {
        toml::to_string_pretty(self).expect("an Experiment always serialises to TOML")
    }

    /// The run directory: `<run.output_dir>/<name>`.
    pub fn run_dir(&self) -> PathBuf {
        self.run.output_dir.join(&self.name)
    }

    /// What defines a run, the one definition of "the same experiment": everything but its
    /// name, where it runs and how many data threads feed it (`run.*` except `run.precision`,
    /// the type its checkpoints are stored in, and `data.workers`). A run continues only under
    /// an equal identity (`train.epochs` aside, which may grow between sessions within the
    /// limits the resume check sets), and [`Experiment::recipe_hash`] hashes it without the seed.
    pub fn identity(&self) -> Experiment {
        Experiment {
            name: String::new(),
            data: DataConfig {
                workers: 0,
                ..self.data.clone()
            },
            run: RunConfig {
                precision: self.run.precision,
                ..RunConfig::default()
            },
            ..self.clone()
        }
    }

    /// A short hash of the recipe: the [`Experiment::identity`] without the seed, its defaults
    /// in their implicit form ([`Experiment::with_implicit_defaults`], so that a run saved
    /// before configs were resolved hashes as it did). Runs with equal hashes differ only in
    /// their seed, so a report averages them, and only them.
    pub fn recipe_hash(&self) -> String {
        let mut recipe = self.identity().with_implicit_defaults();
        recipe.train.seed = 0;
        // FNV-1a over the canonical TOML: stable across builds and platforms.
        let hash = recipe
            .to_toml()
            .bytes()
            .fold(0xcbf2_9ce4_8422_2325u64, |h, b| {
                (h ^ b as u64).wrapping_mul(0x0000_0100_0000_01b3)
            });
        format!("{:08x}", hash >> 32)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::arch::Arch;

    fn parse(text: &str, overrides: &[&str]) -> Result<Experiment, ConfigError> {
        let o: Vec<String> = overrides.iter().map(|s| s.to_string()).collect();
        Experiment::from_toml_str(text, Path::new("configs/test.toml"), &o)
    }

    #[test]
    fn empty_file_gives_the_paper_recipe_named_after_the_file() {
        let e = parse("", &[]).unwrap();
        assert_eq!(e.name, "test");
        assert_eq!(e.model.arch, Arch::D);
        assert_eq!(e.train.batch_size, 256);
        assert_eq!(e.train.lr, 0.01);
        assert_eq!(e.train.momentum, 0.9);
        assert_eq!(e.train.weight_decay, 5e-4);
        assert_eq!(e.train.schedule, Schedule::Plateau);
        assert_eq!(e.train.max_drops, 3);
        assert_eq!(e.train.epochs, 74);
        assert_eq!(e.model.dropout, 0.5);
        assert_eq!(e.data.image_size, 224);
    }

    #[test]
    fn all_documented_keys_parse() {
        let e = parse(
            r#"
name = "x"
[model]
arch = "A-LRN"
batch_norm = true
width = 0.25
head = "compact"
hidden = 128
dropout = 0.1
init = "kaiming"
num_classes = 10
[model.lrn]
size = 5
alpha = 1e-4
beta = 0.75
k = 2.0
[data]
dataset = "fashion-mnist"
path = "/tmp/x"
image_size = 32
train_limit = 100
val_limit = 50
[train]
epochs = 2
batch_size = 64
lr = 0.05
momentum = 0.9
weight_decay = 0.0
schedule = "cosine"
seed = 3
[run]
device = "flex"
output_dir = "out"
"#,
            &[],
        )
        .unwrap();
        assert_eq!(e.model.arch, Arch::ALrn);
        assert_eq!(e.model.head, Head::Compact);
        assert_eq!(e.data.dataset, DatasetKind::FashionMnist);
        assert_eq!(e.train.schedule, Schedule::Cosine);
        assert_eq!(e.run_dir(), PathBuf::from("out/x"));
    }

    #[test]
    fn unknown_key_is_an_error_naming_key_file_and_line() {
        let err = parse("[model]\narch = \"A\"\ndepth = 3\n", &[])
            .unwrap_err()
            .to_string();
        assert!(err.contains("configs/test.toml line 3"), "{err}");
        assert!(err.contains("depth"), "{err}");
    }

    #[test]
    fn wrong_type_is_an_error_naming_the_file() {
        let err = parse("[train]\nbatch_size = \"big\"\n", &[])
            .unwrap_err()
            .to_string();
        assert!(err.contains("configs/test.toml line 2"), "{err}");
    }

    #[test]
    fn unknown_arch_lists_the_valid_ones() {
        let err = parse("[model]\narch = \"F\"\n", &[])
            .unwrap_err()
            .to_string();
        assert!(err.contains("A-LRN"), "{err}");
    }

    #[test]
    fn bad_values_name_their_key() {
        for (text, key) in [
            ("[train]\nbatch_size = 0", "train.batch_size"),
            ("[train]\nlr = 0.0", "train.lr"),
            ("[train]\nlr = -1.0", "train.lr"),
            ("[train]\nepochs = 0", "train.epochs"),
            ("[data]\nimage_size = 28", "data.image_size"),
            ("[model]\nwidth = 0.0", "model.width"),
            ("[model]\ndropout = 1.0", "model.dropout"),
            ("[data]\nchannels = 2", "data.channels"),
            ("[run]\ndevice = \"tpu\"", "run.device"),
            ("name = \"a/b\"", "name"),
        ] {
            let err = parse(text, &[]).unwrap_err().to_string();
            assert!(err.contains(key), "{text}: {err}");
        }
    }

    #[test]
    fn overrides_replace_nested_keys_with_typed_values() {
        let e = parse(
            "[train]\nepochs = 10\n",
            &[
                "train.epochs=2",
                "model.arch=A",
                "data.path=/x/y",
                "model.width=0.5",
            ],
        )
        .unwrap();
        assert_eq!(e.train.epochs, 2);
        assert_eq!(e.model.arch, Arch::A);
        assert_eq!(e.data.path, PathBuf::from("/x/y"));
        assert_eq!(e.model.width, 0.5);
    }

    #[test]
    fn override_of_an_unknown_key_is_an_error() {
        let err = parse("", &["train.epoch=2"]).unwrap_err().to_string();
        assert!(err.starts_with("--set train.epoch=2"), "{err}");
        let err = parse("", &["nonsense"]).unwrap_err().to_string();
        assert!(err.contains("key=value"), "{err}");
    }

    #[test]
    fn scale_is_a_number_or_a_jitter_range() {
        let e = parse("[augment]\nscale = 256\n", &[]).unwrap();
        assert_eq!(e.augment.scale, Scale::Fixed(256));
        let e = parse("[augment]\nscale = [256, 512]\ncolor_shift = 0.1\n", &[]).unwrap();
        assert_eq!(e.augment.scale, Scale::Jitter([256, 512]));
        let err = parse("[augment]\nscale = [512, 256]\n", &[])
            .unwrap_err()
            .to_string();
        assert!(err.contains("augment.scale"), "{err}");
        let again = parse(&e.to_toml(), &[]).unwrap();
        assert_eq!(again.augment.scale, Scale::Jitter([256, 512]));
    }

    #[test]
    fn resolved_toml_round_trips() {
        let e = parse("[model]\narch = \"C\"\nwidth = 0.5\n", &["train.seed=7"]).unwrap();
        let again = parse(&e.to_toml(), &[]).unwrap();
        assert_eq!(e, again);
    }
}
