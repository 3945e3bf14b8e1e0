//! `model.init_from` (§3.1): a deeper net starts from a trained A's first four convs and three
//! FC layers.

use std::path::{Path, PathBuf};

use burn::tensor::Device;

use super::TrainError;
use crate::config::Experiment;
use crate::error::ConfigError;
use crate::model::BurnpackError;
use crate::model::init::WarmStartMismatch;
use crate::model::{Vgg, VggConfig};
use crate::results::RunPaths;

/// `model.init_from`: copies the trained run's first four convs and FC layers into `model`.
pub(super) fn warm_start_from(
    dir: &Path,
    vgg: &VggConfig,
    model: &mut Vgg,
    device: &Device,
) -> Result<(), TrainError> {
    let fail = |why: WarmStartFailure| TrainError::WarmStart {
        dir: dir.to_path_buf(),
        why,
    };
    let run = RunPaths::new(dir);
    let source_exp =
        Experiment::load(&run.config(), &[]).map_err(|e| fail(WarmStartFailure::Config(e)))?;
    let weights = run.best_model();
    if !weights.is_file() {
        return Err(fail(WarmStartFailure::NotTrained { path: weights }));
    }
    let mut source =
        VggConfig::from_model(&source_exp.model, vgg.in_channels, vgg.num_classes).init(device);
    crate::model::load_burnpack(&mut source, &weights).map_err(|error| {
        fail(WarmStartFailure::Weights {
            path: weights.clone(),
            error,
        })
    })?;
    let copied = crate::model::init::warm_start(model, &source)
        .map_err(|e| fail(WarmStartFailure::Mismatch(e)))?;
    crate::console::out(format!(
        "initialised {copied} layers from {} ({})",
        dir.display(),
        source_exp.model.arch
    ));
    Ok(())
}

/// Why `model.init_from` cannot start a run.
#[derive(Debug, thiserror::Error)]
pub enum WarmStartFailure {
    /// The source run's `config.toml` cannot be read.
    #[error("{0}")]
    Config(ConfigError),
    /// The source run has no `model.bpk`.
    #[error("{} not found; train that run to the end first", path.display())]
    NotTrained {
        /// The missing weights file.
        path: PathBuf,
    },
    /// The source run's weights do not fit the network its config builds.
    #[error("{}: {error}", path.display())]
    Weights {
        /// The weights file.
        path: PathBuf,
        /// What does not fit.
        error: BurnpackError,
    },
    /// The source's layers have no place in this run's network.
    #[error("{0}")]
    Mismatch(WarmStartMismatch),
}
