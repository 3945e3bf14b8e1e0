//! Continuing a run: what is already in its directory, whether this config may continue it, and
//! the state its last complete checkpoint restores.

use std::path::Path;

use burn::lr_scheduler::LrSchedulerRecord;
use burn::tensor::Device;

use super::TrainError;
use super::checkpoint::{self, latest_complete};
use super::schedule::{RunState, SharedState};
use crate::config::Experiment;
use crate::model::VggConfig;
use crate::results::{self, EpochRow, ResultRow, RunPaths};

/// What a run continues from.
pub(super) struct Restored {
    /// The epoch of the last complete checkpoint (`None`: start from scratch).
    pub epoch: Option<usize>,
    /// The `metrics.csv` rows that checkpoint backs.
    pub rows: Vec<EpochRow>,
    /// The schedule state saved with it.
    pub state: SharedState,
}

/// Keeps the metrics rows that a complete checkpoint backs (and rewrites `metrics.csv` with
/// them), checks that checkpoint fits the model, and loads its schedule state.
pub(super) fn restore(
    paths: &RunPaths,
    exp: &Experiment,
    vgg: &VggConfig,
    device: &Device,
) -> Result<Restored, TrainError> {
    let mut rows: Vec<EpochRow> = results::read_csv(&paths.metrics())?;
    let epoch = latest_complete(&paths.checkpoints(), rows.len().min(exp.train.epochs));
    if let Some(e) = epoch {
        check_checkpoint_fits(
            &checkpoint::part_path(&paths.checkpoints(), "model", e),
            vgg,
            device,
        )?;
    }
    for e in checkpoint::epochs_on_disk(&paths.checkpoints()) {
        if Some(e) > epoch && e <= rows.len() {
            crate::console::warning(format!(
                "warning: {}: checkpoint of epoch {e} is incomplete or unreadable; it is ignored",
                paths.checkpoints().display()
            ));
        }
    }
    rows.truncate(epoch.unwrap_or(0));
    results::write_csv(&paths.metrics(), &rows).map_err(|e| TrainError::io(paths.metrics(), e))?;
    let state = SharedState::default();
    if let Some(e) = epoch {
        let path = checkpoint::part_path(&paths.checkpoints(), "scheduler", e);
        let record =
            LrSchedulerRecord::load(&path).map_err(|error| TrainError::CheckpointRecord {
                epoch: e,
                message: error.to_string(),
            })?;
        // burn-train's learner saves its scheduler as group 0 of a `ModuleLrScheduler`.
        let state_record = record.record("0");
        let Some(s) = RunState::from_record(&state_record) else {
            return Err(TrainError::CheckpointRecord {
                epoch: e,
                message: format!(
                    "{}: holds no plateau/stop state; move the run directory aside (--fresh) to start over",
                    path.display()
                ),
            });
        };
        *state.lock() = s;
        crate::console::out(format!("{}: resuming after epoch {e}", paths.dir.display()));
    }
    Ok(Restored { epoch, rows, state })
}

/// The training row of an existing `results.csv`, if the run finished.
pub(super) fn finished_row(paths: &RunPaths) -> Result<Option<ResultRow>, TrainError> {
    let rows: Vec<ResultRow> = results::read_csv(&paths.results())?;
    Ok(rows.into_iter().find(ResultRow::is_from_training))
}

/// Renames `dir` to `dir.old-<unix seconds>` (never deletes a run).
pub(super) fn move_aside(dir: &Path) -> Result<(), TrainError> {
    let stamp = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0);
    let mut target = dir.as_os_str().to_owned();
    target.push(format!(".old-{stamp}"));
    std::fs::rename(dir, &target).map_err(|e| TrainError::io(dir, e))?;
    crate::console::out(format!(
        "{}: moved the old run to {}",
        dir.display(),
        Path::new(&target).display()
    ));
    Ok(())
}

/// Refuses to continue a run whose saved config would build a different model or data.
pub(super) fn check_same_experiment(paths: &RunPaths, exp: &Experiment) -> Result<(), TrainError> {
    let Ok(text) = std::fs::read_to_string(paths.config()) else {
        return Ok(());
    };
    let saved = Experiment::from_toml_str(&text, &paths.config(), &[])
        .map_err(|error| TrainError::SavedConfig { error })?;
    // An image folder's classes are its data's count, which the saved config records and the
    // config now leaves to the data (read after this check): the same unless set differently.
    let exp = &exp.with_classes(saved.model.num_classes);
    let keys = differing_keys(&saved, exp);
    if !keys.is_empty() {
        return Err(TrainError::DifferentExperiment {
            dir: paths.dir.clone(),
            keys,
            config: paths.config(),
        });
    }
    let trained = results::read_csv::<EpochRow>(&paths.metrics())?.len();
    match changed_on_resume(&saved, exp, trained) {
        None => Ok(()),
        Some((key, was, now, why)) => Err(TrainError::ChangedOnResume {
            dir: paths.dir.clone(),
            key,
            was,
            now,
            why,
        }),
    }
}

/// The number of devices a run's batches are split over.
fn device_count(exp: &Experiment) -> usize {
    exp.run.devices.len().max(1)
}

/// The first key that may change between sessions in general but not in this way for this
/// run: its key, saved and new values, and why. Another number of devices changes the steps
/// of an epoch, on which the schedule's position is counted; `train.epochs` is the length of a
/// cosine schedule, and never below the `trained` epochs already done (their checkpoints would
/// be passed over).
fn changed_on_resume(
    saved: &Experiment,
    exp: &Experiment,
    trained: usize,
) -> Option<(String, String, String, String)> {
    use crate::config::Schedule;
    if trained == 0 {
        return None;
    }
    let (was, now) = (device_count(saved), device_count(exp));
    if was != now {
        return Some((
            "run.devices".into(),
            format!("{was} device(s)"),
            format!("{now}"),
            "the number of devices sets the steps of an epoch, on which the schedule's position is counted".into(),
        ));
    }
    let (was, now) = (saved.train.epochs, exp.train.epochs);
    if was != now && now < trained {
        return Some((
            "train.epochs".into(),
            was.to_string(),
            now.to_string(),
            format!("{trained} epochs are already trained"),
        ));
    }
    if was != now && exp.train.schedule == Schedule::Cosine {
        return Some((
            "train.epochs".into(),
            was.to_string(),
            now.to_string(),
            "a cosine schedule spans train.epochs; changing it mid-run reshapes the curve".into(),
        ));
    }
    None
}

/// Dotted keys whose values differ between the [`Experiment::identity`] of two experiments,
/// but for `train.epochs`, which a continued run may change within what [`changed_on_resume`]
/// allows.
fn differing_keys(a: &Experiment, b: &Experiment) -> Vec<String> {
    fn walk(prefix: &str, a: &toml::Value, b: Option<&toml::Value>, out: &mut Vec<String>) {
        match (a, b) {
            (toml::Value::Table(ta), Some(toml::Value::Table(tb))) => {
                let mut keys: Vec<&String> = ta.keys().chain(tb.keys()).collect();
                keys.sort();
                keys.dedup();
                for k in keys {
                    let key = if prefix.is_empty() {
                        k.clone()
                    } else {
                        format!("{prefix}.{k}")
                    };
                    match ta.get(k) {
                        Some(va) => walk(&key, va, tb.get(k), out),
                        None => out.push(key),
                    }
                }
            }
            (va, Some(vb)) if va == vb => {}
            _ => out.push(prefix.to_string()),
        }
    }
    let (Ok(ta), Ok(tb)) = (
        toml::Value::try_from(a.identity()),
        toml::Value::try_from(b.identity()),
    ) else {
        return vec!["config".into()];
    };
    let mut out = Vec::new();
    walk("", &ta, Some(&tb), &mut out);
    out.retain(|k| k != "train.epochs");
    out
}

/// Refuses a checkpoint whose tensors do not fit the configured model (another arch, width,
/// head or class count), before burn-train's loader would panic on it.
fn check_checkpoint_fits(path: &Path, vgg: &VggConfig, device: &Device) -> Result<(), TrainError> {
    crate::model::load_burnpack(&mut vgg.init(device), path).map_err(|what| {
        TrainError::Checkpoint {
            path: path.to_path_buf(),
            arch: vgg.arch,
            what,
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Schedule;

    fn exp(epochs: usize, schedule: Schedule, devices: &[&str]) -> Experiment {
        let mut e = Experiment::default();
        e.train.epochs = epochs;
        e.train.schedule = schedule;
        e.run.devices = devices
            .iter()
            .map(|d| crate::config::DeviceSpec::parse(d).unwrap())
            .collect();
        e
    }

    fn key(saved: &Experiment, now: &Experiment, trained: usize) -> Option<String> {
        changed_on_resume(saved, now, trained).map(|(k, ..)| k)
    }

    #[test]
    fn another_device_count_is_refused_once_an_epoch_is_trained() {
        let one = exp(10, Schedule::Plateau, &[]);
        let two = exp(10, Schedule::Plateau, &["cuda:0", "cuda:1"]);
        assert_eq!(key(&one, &two, 3).as_deref(), Some("run.devices"));
        assert_eq!(key(&one, &two, 0), None);
        // The same count on other devices keeps the steps of an epoch.
        let other = exp(10, Schedule::Plateau, &["cuda:1"]);
        assert_eq!(key(&one, &other, 3), None);
    }

    #[test]
    fn epochs_below_those_trained_are_refused_and_more_are_allowed_but_for_cosine() {
        let saved = exp(10, Schedule::Plateau, &[]);
        assert_eq!(
            key(&saved, &exp(4, Schedule::Plateau, &[]), 5).as_deref(),
            Some("train.epochs")
        );
        assert_eq!(key(&saved, &exp(20, Schedule::Plateau, &[]), 5), None);
        assert_eq!(key(&saved, &exp(6, Schedule::Step, &[]), 5), None);
        let cosine = exp(10, Schedule::Cosine, &[]);
        assert_eq!(
            key(&cosine, &exp(20, Schedule::Cosine, &[]), 5).as_deref(),
            Some("train.epochs")
        );
        assert_eq!(key(&cosine, &exp(10, Schedule::Cosine, &[]), 5), None);
    }

    #[test]
    fn the_resume_check_and_the_recipe_hash_share_one_definition_of_the_same_experiment() {
        let base = exp(10, Schedule::Plateau, &[]);
        type Change = fn(&mut Experiment);
        let changes: [(&str, Change); 7] = [
            ("name", |e| e.name = "other".into()),
            ("data.workers", |e| e.data.workers = 3),
            ("run.devices", |e| {
                e.run.devices = vec![crate::config::DeviceSpec::Cuda(0)]
            }),
            ("run.output_dir", |e| e.run.output_dir = "elsewhere".into()),
            ("train.seed", |e| e.train.seed += 1),
            ("train.lr", |e| e.train.lr *= 2.0),
            ("run.precision", |e| {
                e.run.precision = crate::config::Precision::Bf16
            }),
        ];
        for (name, change) in changes {
            let mut other = base.clone();
            change(&mut other);
            let keys = differing_keys(&base, &other);
            let same_recipe = base.recipe_hash() == other.recipe_hash();
            match name {
                // Not part of the identity: neither the hash nor the resume check sees them.
                "name" | "data.workers" | "run.devices" | "run.output_dir" => {
                    assert!(keys.is_empty() && same_recipe, "{name}: {keys:?}")
                }
                // The seed is the identity's only key outside the recipe.
                "train.seed" => assert!(keys == [name] && same_recipe, "{name}: {keys:?}"),
                _ => assert!(keys == [name] && !same_recipe, "{name}: {keys:?}"),
            }
        }
        // `train.epochs` is in both, but a continued run may change it (within the limits
        // of `changed_on_resume`).
        let longer = exp(20, Schedule::Plateau, &[]);
        assert!(differing_keys(&base, &longer).is_empty());
        assert_ne!(base.recipe_hash(), longer.recipe_hash());
    }
}
