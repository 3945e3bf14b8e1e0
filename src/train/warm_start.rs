//! `model.init_from` (§3.1): a deeper net starts from a trained A's first four convs and three
//! FC layers.

use std::path::Path;

use burn::tensor::Device;

use super::TrainError;
use crate::config::Experiment;
use crate::model::{Vgg, VggConfig};
use crate::results::RunPaths;

/// `model.init_from`: copies the trained run's first four convs and FC layers into `model`.
pub(super) fn warm_start_from(
    dir: &Path,
    vgg: &VggConfig,
    model: &mut Vgg,
    device: &Device,
) -> Result<(), TrainError> {
    let fail = |what: String| TrainError::WarmStart {
        dir: dir.to_path_buf(),
        what,
    };
    let run = RunPaths::new(dir);
    let source_exp = Experiment::load(&run.config(), &[]).map_err(|e| fail(e.to_string()))?;
    let weights = run.best_model();
    if !weights.is_file() {
        return Err(fail(format!(
            "{} not found; train that run to the end first",
            weights.display()
        )));
    }
    let mut source =
        VggConfig::from_model(&source_exp.model, vgg.in_channels, vgg.num_classes).init(device);
    crate::model::load_burnpack(&mut source, &weights)
        .map_err(|what| fail(format!("{}: {what}", weights.display())))?;
    let copied = crate::model::init::warm_start(model, &source).map_err(|e| fail(e.to_string()))?;
    crate::console::out(format!(
        "initialised {copied} layers from {} ({})",
        dir.display(),
        source_exp.model.arch
    ));
    Ok(())
}
