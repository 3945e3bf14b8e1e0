//! Sweep manifests (`experiments/*.toml`): which configs to run, with which seeds and shared
//! overrides. `vgg-train plan` expands a manifest into one line per run, which
//! `scripts/sweep.sh` executes (locally or as a Slurm array).

use std::path::{Path, PathBuf};

use serde::Deserialize;

use crate::config::Experiment;
use crate::error::ConfigError;

/// An `experiments/*.toml` file.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Manifest {
    /// Name of the study.
    pub name: String,
    /// Where the runs go: `<output_dir>/<config name>-s<seed>/`.
    pub output_dir: PathBuf,
    /// Config files, relative to the repository root (the working directory).
    pub configs: Vec<PathBuf>,
    /// Seeds; each config runs once per seed.
    pub seeds: Vec<u64>,
    /// Overrides applied to every run, as `--set` would (`"train.epochs=5"`).
    #[serde(default)]
    pub set: Vec<String>,
}

/// One run of a sweep.
#[derive(Debug, Clone, PartialEq)]
pub struct PlannedRun {
    /// Run directory name.
    pub name: String,
    /// Config file.
    pub config: PathBuf,
    /// `--set` overrides, in order.
    pub overrides: Vec<String>,
    /// The run directory.
    pub dir: PathBuf,
}

impl PlannedRun {
    /// Tab-separated: name, run directory, config, then each override.
    pub fn to_line(&self) -> String {
        let mut fields = vec![
            self.name.clone(),
            self.dir.display().to_string(),
            self.config.display().to_string(),
        ];
        fields.extend(self.overrides.iter().cloned());
        fields.join("\t")
    }
}

impl Manifest {
    /// Reads and checks a manifest.
    pub fn load(path: &Path) -> Result<Manifest, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|error| ConfigError::Read {
            path: path.to_path_buf(),
            error,
        })?;
        let m: Manifest = toml::from_str(&text).map_err(|e| ConfigError::Parse {
            path: path.to_path_buf(),
            location: String::new(),
            message: crate::util::one_line(e.message()),
        })?;
        let invalid = |key: &str, message: &str| ConfigError::Invalid {
            path: path.to_path_buf(),
            key: key.into(),
            value: String::new(),
            message: message.into(),
        };
        if m.configs.is_empty() {
            return Err(invalid("configs", "list at least one config file"));
        }
        if m.seeds.is_empty() {
            return Err(invalid("seeds", "list at least one seed"));
        }
        Ok(m)
    }

    /// Expands the manifest seed-major: every config for the first seed, then every config for
    /// the next, so that a sweep cut short is a complete table for fewer seeds. Each run is
    /// validated with its overrides.
    pub fn plan(&self) -> Result<Vec<PlannedRun>, ConfigError> {
        let bases = self
            .configs
            .iter()
            .map(|config| Ok((config, Experiment::load(config, &self.set)?)))
            .collect::<Result<Vec<_>, ConfigError>>()?;
        let mut runs = Vec::new();
        for seed in &self.seeds {
            for (config, base) in &bases {
                let name = format!("{}-s{seed}", base.name);
                let mut overrides = self.set.clone();
                overrides.push(format!("name={name:?}"));
                overrides.push(format!("train.seed={seed}"));
                overrides.push(format!(
                    "run.output_dir={:?}",
                    self.output_dir.display().to_string()
                ));
                // Validate the exact command the sweep will run.
                Experiment::load(config, &overrides)?;
                runs.push(PlannedRun {
                    dir: self.output_dir.join(&name),
                    name,
                    config: (*config).clone(),
                    overrides,
                });
            }
        }
        Ok(runs)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plan_expands_configs_times_seeds_with_shared_overrides() {
        let dir = tempfile::tempdir().unwrap();
        let cfg = dir.path().join("a.toml");
        std::fs::write(&cfg, "name = \"net-a\"\n[model]\narch = \"A\"\n").unwrap();
        let m = Manifest {
            name: "study".into(),
            output_dir: PathBuf::from("results/study"),
            configs: vec![cfg.clone()],
            seeds: vec![0, 1],
            set: vec!["train.epochs=3".into()],
        };
        let runs = m.plan().unwrap();
        assert_eq!(runs.len(), 2);
        assert_eq!(runs[1].name, "net-a-s1");
        assert_eq!(runs[1].dir, PathBuf::from("results/study/net-a-s1"));
        assert_eq!(runs[1].overrides[0], "train.epochs=3");
        assert!(runs[1].overrides.contains(&"train.seed=1".to_string()));
        let e = Experiment::load(&cfg, &runs[1].overrides).unwrap();
        assert_eq!(
            (e.train.epochs, e.train.seed, e.name.as_str()),
            (3, 1, "net-a-s1")
        );
        let line = runs[0].to_line();
        assert!(
            line.starts_with("net-a-s0\tresults/study/net-a-s0\t"),
            "{line}"
        );
    }

    #[test]
    fn plan_is_seed_major_so_a_partial_sweep_is_a_table_for_fewer_seeds() {
        let dir = tempfile::tempdir().unwrap();
        let mut configs = Vec::new();
        for name in ["a", "b"] {
            let cfg = dir.path().join(format!("{name}.toml"));
            std::fs::write(&cfg, format!("name = \"{name}\"\n")).unwrap();
            configs.push(cfg);
        }
        let m = Manifest {
            name: "study".into(),
            output_dir: PathBuf::from("results/study"),
            configs,
            seeds: vec![0, 1],
            set: Vec::new(),
        };
        let names: Vec<String> = m.plan().unwrap().into_iter().map(|r| r.name).collect();
        assert_eq!(names, ["a-s0", "b-s0", "a-s1", "b-s1"]);
    }

    #[test]
    fn a_bad_shared_override_is_reported_with_the_config() {
        let dir = tempfile::tempdir().unwrap();
        let cfg = dir.path().join("a.toml");
        std::fs::write(&cfg, "").unwrap();
        let m = Manifest {
            name: "s".into(),
            output_dir: PathBuf::from("out"),
            configs: vec![cfg],
            seeds: vec![0],
            set: vec!["train.nope=1".into()],
        };
        assert!(m.plan().unwrap_err().to_string().contains("train.nope"));
    }
}
