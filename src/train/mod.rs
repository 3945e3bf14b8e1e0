//! Training one experiment with burn-train's `SupervisedTraining` + `Learner`, from the resolved
//! config to `results.csv`. Rerunning the same command resumes from the last complete
//! checkpoint; a finished run is reported, not retrained.

pub mod checkpoint;
pub mod health;
pub mod lock;
pub mod reporter;
pub mod schedule;
pub mod step;

use std::io::IsTerminal;
use std::path::Path;
use std::time::Instant;

use burn::lr_scheduler::LrSchedulerRecord;
use burn::optim::SgdConfig;
use burn::optim::decay::WeightDecayConfig;
use burn::optim::momentum::MomentumConfig;
use burn::tensor::Device;
use burn::train::metric::store::EventStoreClient;
use burn::train::metric::{AccuracyMetric, LearningRateMetric, LossMetric, TopKAccuracyMetric};
use burn::train::renderer::default_renderer;
use burn::train::{
    EarlyStoppingStrategy, ExecutionStrategy, Learner, MultiDeviceOptim, SupervisedTraining,
    TrainingStrategy,
};

use crate::config::{Experiment, Schedule};
use crate::data::{self, BatchLoader, DataSet, LoaderOptions};
use crate::device::DeviceSpec;
use crate::error::TrainError;
use crate::model::{Vgg, VggConfig};
use crate::results::{self, EpochRow, ResultRow, RunPaths, write_atomic};
use checkpoint::{AtomicFileCheckpointer, KeepLastAndBest, latest_complete};
use reporter::{EpochReporter, EpochSink};
use schedule::{EpochSchedule, PlateauRule, RunState, SharedState};

/// How `train` treats an existing run directory and the terminal.
#[derive(Debug, Clone, Default)]
pub struct TrainOptions {
    /// Move an existing run directory aside and start over.
    pub fresh: bool,
    /// Never use the TUI, even on a terminal.
    pub plain: bool,
}

/// What `train` did.
#[derive(Debug, Clone)]
pub enum Outcome {
    /// The run trained (or resumed) to the end; its results row.
    Trained(ResultRow),
    /// `results.csv` already existed; nothing was trained.
    AlreadyFinished(ResultRow),
}

/// Trains `exp` (or resumes it) and writes its outputs under `exp.run_dir()`.
pub fn train(exp: &Experiment, opts: &TrainOptions) -> Result<Outcome, TrainError> {
    let session_start = Instant::now();
    // The code that trains is the code at start-up, whatever happens to the checkout later.
    let git_commit = results::git_commit();
    let paths = RunPaths::new(exp.run_dir());
    if opts.fresh && paths.dir.exists() {
        let lock = lock::RunLock::acquire(&paths.dir)?;
        move_aside(&paths.dir)?;
        drop(lock);
    }
    check_same_experiment(&paths, exp)?;
    if let Some(row) = finished_row(&paths)? {
        return Ok(Outcome::AlreadyFinished(row));
    }
    let specs = crate::device::run_devices(&exp.run).map_err(TrainError::Device)?;
    let spec = specs[0];
    let mut devices = Vec::with_capacity(specs.len());
    for s in &specs {
        let device = s.device().map_err(TrainError::Device)?;
        crate::device::set_precision(&device, *s, exp.run.precision).map_err(TrainError::Device)?;
        devices.push(device);
    }
    let device_label = specs.iter().map(|s| s.name()).collect::<Vec<_>>().join("+");
    let data = data::load(&exp.data, &exp.augment)?;
    let _lock = lock::RunLock::acquire(&paths.dir)?;
    // Another process may have finished the run while we waited for the data.
    if let Some(row) = finished_row(&paths)? {
        return Ok(Outcome::AlreadyFinished(row));
    }
    write_atomic(&paths.config(), exp.to_toml().as_bytes())
        .map_err(|e| TrainError::io(paths.config(), e))?;

    // Resume: keep the metrics rows that a complete checkpoint backs, drop the rest.
    let mut rows: Vec<EpochRow> =
        results::read_csv(&paths.metrics()).map_err(TrainError::Resume)?;
    let vgg = VggConfig::from_experiment(exp, data.pipeline.channels, data.num_classes);
    let resume = latest_complete(&paths.checkpoints(), rows.len().min(exp.train.epochs));
    if let Some(epoch) = resume {
        check_checkpoint_fits(
            &checkpoint::part_path(&paths.checkpoints(), "model", epoch),
            &vgg,
            &devices[0],
        )?;
    }
    for e in checkpoint::epochs_on_disk(&paths.checkpoints()) {
        if Some(e) > resume && e <= rows.len() {
            eprintln!(
                "warning: {}: checkpoint of epoch {e} is incomplete or unreadable; it is ignored",
                paths.checkpoints().display()
            );
        }
    }
    rows.truncate(resume.unwrap_or(0));
    results::write_csv(&paths.metrics(), &rows).map_err(|e| TrainError::io(paths.metrics(), e))?;
    let state = SharedState::default();
    if let Some(epoch) = resume {
        let record = LrSchedulerRecord::load(checkpoint::part_path(
            &paths.checkpoints(),
            "scheduler",
            epoch,
        ))
        .map_err(|e| TrainError::Resume(format!("checkpoint {epoch}: {e}")))?;
        if let Some(s) = RunState::from_record(&record) {
            *state.lock() = s;
        }
        println!("{}: resuming after epoch {epoch}", paths.dir.display());
    }
    let prior_seconds: f64 = rows.iter().map(|r| r.epoch_seconds).sum();
    let done = resume.unwrap_or(0) >= exp.train.epochs || state.lock().stop;
    let mut bad_images = 0;
    if !done {
        bad_images = fit(
            exp,
            &paths,
            &data,
            &vgg,
            devices,
            resume,
            rows,
            state.clone(),
            opts,
        )?;
    }
    let wall = prior_seconds + session_start.elapsed().as_secs_f64();
    let provenance = Provenance {
        device: device_label,
        git_commit,
        wall_seconds: wall,
        bad_images,
    };
    let row = finalize(exp, &paths, &data, &vgg, provenance, &state, spec)?;
    evaluate_after_training(exp, &paths, &data, &vgg, &row, spec)?;
    Ok(Outcome::Trained(row))
}

/// The training row of an existing `results.csv`, if the run finished.
fn finished_row(paths: &RunPaths) -> Result<Option<ResultRow>, TrainError> {
    let rows: Vec<ResultRow> = results::read_csv(&paths.results()).map_err(TrainError::Resume)?;
    Ok(rows.into_iter().find(ResultRow::is_from_training))
}

/// Runs `[eval]`'s protocols on the best model and adds their rows after the training row,
/// unless they measure nothing beyond it.
fn evaluate_after_training(
    exp: &Experiment,
    paths: &RunPaths,
    data: &DataSet,
    vgg: &VggConfig,
    row: &ResultRow,
    spec: DeviceSpec,
) -> Result<(), TrainError> {
    use crate::eval::command::{adds_to_training, plan_for, rows_from};
    let plan = plan_for(exp, data, vgg);
    if !adds_to_training(&plan, data) || row.status == "diverged" || !paths.best_model().is_file() {
        return Ok(());
    }
    let device = spec.device().map_err(TrainError::Device)?;
    let mut net = vgg.init(&device);
    crate::model::load_burnpack(&mut net, &paths.best_model()).map_err(TrainError::Resume)?;
    let report = crate::eval::evaluate(&net, &data.test, &data.pipeline, &plan, &device)?;
    let mut rows = vec![row.clone()];
    let measured = rows_from(row, &report);
    for r in &measured {
        println!(
            "{}: {} at Q = {}: test top-1 error {:.2}%  top-5 error {}",
            exp.name,
            r.protocol,
            r.scales,
            r.top1_err,
            percent(r.top5_err)
        );
    }
    results::merge_eval_rows(&mut rows, measured);
    results::write_csv(&paths.results(), &rows).map_err(|e| TrainError::io(paths.results(), e))
}

/// Renames `dir` to `dir.old-<unix seconds>` (never deletes a run).
fn move_aside(dir: &Path) -> Result<(), TrainError> {
    let stamp = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0);
    let mut target = dir.as_os_str().to_owned();
    target.push(format!(".old-{stamp}"));
    std::fs::rename(dir, &target).map_err(|e| TrainError::io(dir, e))?;
    println!(
        "{}: moved the old run to {}",
        dir.display(),
        Path::new(&target).display()
    );
    Ok(())
}

/// Refuses to continue a run whose saved config would build a different model or data.
fn check_same_experiment(paths: &RunPaths, exp: &Experiment) -> Result<(), TrainError> {
    let Ok(text) = std::fs::read_to_string(paths.config()) else {
        return Ok(());
    };
    let saved = Experiment::from_toml_str(&text, &paths.config(), &[]).map_err(|e| {
        TrainError::Resume(format!("{e}; rerun with --fresh to move the old run aside"))
    })?;
    let differs = differing_keys(&saved, exp);
    if differs.is_empty() {
        return Ok(());
    }
    Err(TrainError::Resume(format!(
        "{} holds a run of a different experiment ({} differ from its {}); rerun with --fresh to move it aside, or change `name`",
        paths.dir.display(),
        differs.join(", "),
        paths.config().display()
    )))
}

/// Dotted keys whose values differ between two experiments, ignoring those a run may change
/// when it is continued (`train.epochs`, `data.workers`, `run.*` except `run.precision`, the
/// type its checkpoints are stored in).
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
    let (Ok(ta), Ok(tb)) = (toml::Value::try_from(a), toml::Value::try_from(b)) else {
        return vec!["config".into()];
    };
    let mut out = Vec::new();
    walk("", &ta, Some(&tb), &mut out);
    out.retain(|k| {
        k == "run.precision"
            || (k != "train.epochs" && k != "data.workers" && k != "name" && !k.starts_with("run."))
    });
    out
}

/// Refuses a checkpoint whose tensors do not fit the configured model (another arch, width,
/// head or class count), before burn-train's loader would panic on it.
fn check_checkpoint_fits(path: &Path, vgg: &VggConfig, device: &Device) -> Result<(), TrainError> {
    crate::model::load_burnpack(&mut vgg.init(device), path).map_err(|what| {
        TrainError::Resume(format!(
            "{}: checkpoint does not fit the configured {} model ({what}); rerun with --fresh to move the old run aside",
            path.display(),
            vgg.arch
        ))
    })
}

/// `model.init_from`: copies the trained run's first four convs and FC layers into `model`.
fn warm_start_from(
    dir: &Path,
    vgg: &VggConfig,
    model: &mut Vgg,
    device: &Device,
) -> Result<(), TrainError> {
    let fail = |what: String| {
        TrainError::Resume(format!(
            "model.init_from = {:?}: {what}",
            dir.display().to_string()
        ))
    };
    let source_exp =
        Experiment::load(&dir.join("config.toml"), &[]).map_err(|e| fail(e.to_string()))?;
    let weights = dir.join("model.bpk");
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
    let copied = crate::model::init::warm_start(model, &source).map_err(fail)?;
    println!(
        "initialised {copied} layers from {} ({})",
        dir.display(),
        source_exp.model.arch
    );
    Ok(())
}

/// Stops training when the plateau schedule is done or the loss diverged.
#[derive(Clone)]
struct StopRule(SharedState);

impl EarlyStoppingStrategy for StopRule {
    fn should_stop(&mut self, _epoch: usize, _store: &EventStoreClient) -> bool {
        self.0.lock().stop
    }
}

/// Writes metrics.csv, updates the run state and prints one line per epoch.
struct RunSink {
    rows: Vec<EpochRow>,
    path: std::path::PathBuf,
    state: SharedState,
    plateau: Option<PlateauRule>,
    epochs: usize,
    num_classes: usize,
    print: bool,
}

impl EpochSink for RunSink {
    fn epoch_done(&mut self, row: Result<EpochRow, String>) {
        let row = match row {
            Ok(row) => row,
            Err(missing) => {
                // No row is made up: the run stops and fails with the reason.
                let mut state = self.state.lock();
                state.stop = true;
                state.failure.get_or_insert(missing);
                return;
            }
        };
        let message =
            self.state
                .lock()
                .end_epoch(row.epoch, row.val_top1_err, row.train_loss, self.plateau);
        if self.print {
            println!(
                "epoch {}/{}  lr {:.3e}  train loss {:.4} top1 {:.2}% top5 {}  val loss {:.4} top1 {:.2}% top5 {}  {:.1}s {:.0} img/s",
                row.epoch,
                self.epochs,
                row.lr,
                row.train_loss,
                row.train_top1_err,
                percent(row.train_top5_err),
                row.val_loss,
                row.val_top1_err,
                percent(row.val_top5_err),
                row.epoch_seconds,
                row.train_img_s
            );
        }
        if let Some(m) = message {
            println!("epoch {}: {m}", row.epoch);
        }
        if self.state.lock().diverged {
            eprintln!(
                "epoch {}: the training loss is {}; stopping and keeping the last good checkpoint (try a lower train.lr)",
                row.epoch, row.train_loss
            );
        }
        self.rows.retain(|r| r.epoch < row.epoch);
        let epoch = row.epoch;
        self.rows.push(row);
        let stalled = health::stalled_epochs(&self.rows, self.num_classes);
        if stalled >= health::STALL_EPOCHS {
            eprintln!(
                "warning: epoch {epoch}: {}",
                health::stall_message(stalled, self.num_classes)
            );
        }
        if let Err(e) = results::write_csv(&self.path, &self.rows) {
            eprintln!("{}: {e}", self.path.display());
        }
    }
}

#[allow(clippy::too_many_arguments)]
fn fit(
    exp: &Experiment,
    paths: &RunPaths,
    data: &DataSet,
    vgg: &VggConfig,
    devices: Vec<Device>,
    resume: Option<usize>,
    rows: Vec<EpochRow>,
    state: SharedState,
    opts: &TrainOptions,
) -> Result<usize, TrainError> {
    let t = &exp.train;
    let device = devices[0].clone();
    device.seed(t.seed);
    let mut model = vgg.init(&device.clone().autodiff());
    // burn-train sums the devices' gradients; each contributes 1/n, so that a step follows the
    // mean gradient over all n × batch_size images and weight decay is added to it once, as on
    // one device.
    model.gradient_scale = 1.0 / devices.len() as f64;
    if resume.is_none() && !exp.model.init_from.as_os_str().is_empty() {
        warm_start_from(
            &exp.model.init_from,
            vgg,
            &mut model,
            &device.clone().autodiff(),
        )?;
    }
    let loader_opts = LoaderOptions {
        batch_size: t.batch_size,
        train: true,
        seed: t.seed,
        workers: exp.data.workers,
        max_bad_images: exp.data.max_bad_images,
    };
    // On n devices each takes a strided share of every epoch's order, so the n batches of a
    // step are the n × batch_size images one device would take at once.
    let train_loader = BatchLoader::new(
        data.train.clone(),
        data.pipeline.clone(),
        loader_opts,
        device.clone(),
    )
    .for_devices(devices.len());
    train_loader.set_epoch(resume.unwrap_or(0));
    let train_handle = train_loader.clone();
    let val_opts = LoaderOptions {
        train: false,
        ..loader_opts
    };
    let val_loader = BatchLoader::new(
        data.val.clone(),
        data.pipeline.clone(),
        val_opts,
        device.clone(),
    );
    let val_loader_handle = val_loader.clone();
    let momentum = (t.momentum > 0.0).then(|| {
        MomentumConfig::new()
            .with_momentum(t.momentum)
            .with_dampening(0.0)
    });
    let weight_decay =
        (t.weight_decay > 0.0).then(|| WeightDecayConfig::new(t.weight_decay as f32));
    let optim = SgdConfig::new()
        .with_momentum(momentum)
        .with_weight_decay(weight_decay)
        .init();
    let n = devices.len();
    let scheduler = EpochSchedule::new(t, train_loader.steps_per_epoch(), state.clone());
    let plateau = (t.schedule == Schedule::Plateau).then_some(PlateauRule {
        patience: t.patience,
        gamma: t.gamma,
        max_drops: t.max_drops,
    });
    let ckpt_dir = paths.checkpoints();
    let tui = !opts.plain && std::io::stdout().is_terminal();
    let mut training = SupervisedTraining::new(
        paths.logs(),
        std::sync::Arc::new(train_loader),
        std::sync::Arc::new(val_loader),
    )
    .metrics((AccuracyMetric::new(), LossMetric::new()))
    .metric_train_numeric(LearningRateMetric::new());
    // Top-5 error means nothing with fewer than 5 classes: its columns stay empty.
    if data.num_classes >= 5 {
        training = training
            .metric_train_numeric(TopKAccuracyMetric::new(5))
            .metric_valid_numeric(TopKAccuracyMetric::new(5));
    }
    training = training
        .with_custom_checkpointers(
            AtomicFileCheckpointer::new(&ckpt_dir, "model"),
            AtomicFileCheckpointer::new(&ckpt_dir, "optim"),
            AtomicFileCheckpointer::new(&ckpt_dir, "scheduler"),
        )
        .with_checkpointing_strategy(KeepLastAndBest::new(state.clone(), &ckpt_dir))
        .early_stopping(StopRule(state.clone()))
        .num_epochs(t.epochs);
    if n > 1 {
        training = training.with_training_strategy(TrainingStrategy::Default(
            ExecutionStrategy::multi(devices, MultiDeviceOptim::OptimMainDevice),
        ));
    }
    if let Some(epoch) = resume {
        training = training.checkpoint(epoch);
    }
    let inner = tui.then(|| default_renderer(training.interrupter(), resume));
    let sink = RunSink {
        rows,
        path: paths.metrics(),
        state: state.clone(),
        plateau,
        epochs: t.epochs,
        num_classes: data.num_classes,
        print: !tui,
    };
    training = training.renderer(Box::new(EpochReporter::new(
        inner,
        resume.unwrap_or(0) + 1,
        sink,
    )));
    let val_handle = val_loader_handle;
    let result = training.launch(Learner::new(model, optim, scheduler));
    if let Some(failure) = train_handle.failure().or_else(|| val_handle.failure()) {
        return Err(TrainError::DataRead(failure));
    }
    if let Some(err) = result.error {
        return Err(TrainError::Training(err.to_string()));
    }
    if let Some(failure) = state.lock().failure.clone() {
        return Err(TrainError::Training(failure));
    }
    if state.lock().epoch == resume.unwrap_or(0) && !state.lock().stop {
        return Err(TrainError::Training(
            "no epoch completed (interrupted)".into(),
        ));
    }
    Ok(train_handle.bad_images() + val_handle.bad_images())
}

/// Where and how a run was made, for its results row.
struct Provenance {
    /// `flex`, `cuda:0`, or `cuda:0+cuda:1` on several devices.
    device: String,
    git_commit: String,
    wall_seconds: f64,
    bad_images: usize,
}

/// `12.34%`, or `-` for a top-5 error not measured (fewer than 5 classes).
fn percent(v: Option<f64>) -> String {
    v.map(|v| format!("{v:.2}%")).unwrap_or_else(|| "-".into())
}

/// Test errors of the run's `model.bpk` (the epoch chosen on validation): the centre crop at
/// the training scale, over the test split.
fn test_errors(
    paths: &RunPaths,
    data: &DataSet,
    vgg: &VggConfig,
    exp: &Experiment,
    spec: DeviceSpec,
) -> Result<(f64, Option<f64>), TrainError> {
    if !paths.best_model().is_file() {
        return Ok((f64::NAN, None));
    }
    let device = spec.device().map_err(TrainError::Device)?;
    let mut net = vgg.init(&device);
    crate::model::load_burnpack(&mut net, &paths.best_model()).map_err(TrainError::Resume)?;
    let plan = crate::eval::EvalPlan::center(
        data.default_test_scale(),
        exp.train.batch_size,
        vgg.pool_out(),
        exp.data.max_bad_images,
    );
    let report = crate::eval::evaluate(&net, &data.test, &data.pipeline, &plan, &device)?;
    let score = &report.scores[0];
    Ok((score.top1_err, score.top5_err))
}

/// Copies the best checkpoint to `model.bpk`, measures its test error and writes
/// `results.csv`.
fn finalize(
    exp: &Experiment,
    paths: &RunPaths,
    data: &DataSet,
    vgg: &VggConfig,
    provenance: Provenance,
    state: &SharedState,
    spec: DeviceSpec,
) -> Result<ResultRow, TrainError> {
    let Provenance {
        device,
        git_commit,
        wall_seconds,
        bad_images,
    } = provenance;
    let rows: Vec<EpochRow> = results::read_csv(&paths.metrics()).map_err(TrainError::Resume)?;
    let last = rows
        .last()
        .ok_or_else(|| TrainError::Training("no epoch was recorded in metrics.csv".into()))?;
    let best = rows
        .iter()
        .filter(|r| r.val_top1_err.is_finite() && r.train_loss.is_finite())
        .min_by(|a, b| a.val_top1_err.total_cmp(&b.val_top1_err))
        .unwrap_or(last);
    let best_ckpt = checkpoint::part_path(&paths.checkpoints(), "model", best.epoch);
    if best_ckpt.is_file() {
        let bytes = std::fs::read(&best_ckpt).map_err(|e| TrainError::io(&best_ckpt, e))?;
        write_atomic(&paths.best_model(), &bytes)
            .map_err(|e| TrainError::io(paths.best_model(), e))?;
    }
    let s = state.lock().clone();
    let status = if s.diverged {
        "diverged"
    } else if health::stalled_epochs(&rows, data.num_classes) >= health::STALL_EPOCHS {
        "stalled"
    } else if s.stop {
        "stopped"
    } else {
        "finished"
    };
    // Without a held-out split the best epoch's validation errors are the test errors.
    let (top1_err, top5_err) = if data.held_out {
        test_errors(paths, data, vgg, exp, spec)?
    } else {
        (best.val_top1_err, best.val_top5_err)
    };
    let row = ResultRow {
        epochs: last.epoch,
        top1_err,
        top5_err,
        val_top1_err: Some(best.val_top1_err),
        val_top5_err: best.val_top5_err,
        best_epoch: best.epoch,
        wall_seconds,
        git_commit,
        status: status.into(),
        final_top1_err: last.val_top1_err,
        final_top5_err: last.val_top5_err,
        train_images: data.train.len(),
        val_images: data.val.len(),
        test_images: data.test.len(),
        bad_images,
        scales: data.default_test_scale().to_string(),
        ..ResultRow::describing(exp, vgg, data.name, device)
    };
    results::write_csv(&paths.results(), std::slice::from_ref(&row))
        .map_err(|e| TrainError::io(paths.results(), e))?;
    Ok(row)
}
