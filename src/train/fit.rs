//! One training session with burn-train's `SupervisedTraining` + `Learner`: the model and its
//! optimiser, the loaders, the metrics, the checkpointers, the schedule, and the per-epoch sink
//! that writes `metrics.csv`.

use std::io::IsTerminal;

use burn::optim::SgdConfig;
use burn::optim::decay::WeightDecayConfig;
use burn::optim::momentum::MomentumConfig;
use burn::tensor::Device;
use burn::train::metric::{AccuracyMetric, LearningRateMetric, LossMetric, TopKAccuracyMetric};
use burn::train::renderer::default_renderer;
use burn::train::{
    ExecutionStrategy, Learner, MultiDeviceOptim, SupervisedTraining, TrainingStrategy,
};

use super::TrainError;
use super::checkpoint::AtomicFileCheckpointer;
use super::epoch_end::{EpochEnd, EpochMetricNames, StopRule};
use super::finish::percent;
use super::reporter::{EpochReporter, EpochSink, MissingMetric};
use super::resume::Restored;
use super::schedule::{EpochSchedule, PlateauRule, SharedState};
use super::{TrainOptions, health, warm_start};
use crate::config::{Experiment, Schedule};
use crate::data::{BatchLoader, DataSet, LoaderOptions};
use crate::model::VggConfig;
use crate::results::{self, EpochRow, RunPaths};

/// Writes metrics.csv and the TensorBoard events and prints one line per epoch.
struct RunSink {
    rows: Vec<EpochRow>,
    path: std::path::PathBuf,
    state: SharedState,
    epochs: usize,
    num_classes: usize,
    model: crate::config::ModelConfig,
    print: bool,
    /// The run's TensorBoard events (`run.tensorboard`); dropped after a write failure.
    events: Option<super::events::EventLog>,
    /// Training steps per epoch (the global step of a batch's loss in the events).
    steps_per_epoch: usize,
}

impl EpochSink for RunSink {
    fn batch_loss(&mut self, epoch: usize, batch: usize, loss: f64) {
        let step = (epoch.saturating_sub(1) * self.steps_per_epoch + batch) as i64;
        if let Some(events) = &mut self.events
            && let Err(e) = events.batch_loss(step, self.steps_per_epoch, loss)
        {
            crate::console::warning(format!(
                "warning: {e}; no more TensorBoard events this session"
            ));
            self.events = None;
        }
    }

    fn epoch_done(&mut self, row: Result<EpochRow, MissingMetric>) {
        let row = match row {
            Ok(row) => row,
            Err(missing) => {
                // No row is made up: the run stops and fails with the reason.
                self.state.lock().fail(missing);
                return;
            }
        };
        if self.print {
            crate::console::out(format!(
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
            ));
        }
        self.rows.retain(|r| r.epoch < row.epoch);
        let epoch = row.epoch;
        self.rows.push(row);
        let stalled = health::stalled_epochs(&self.rows, self.num_classes);
        if stalled >= health::STALL_EPOCHS {
            crate::console::warning(format!(
                "warning: epoch {epoch}: {}",
                health::stall_message(stalled, self.num_classes, &self.model)
            ));
        }
        if let Err(e) = results::write_csv(&self.path, &self.rows) {
            crate::console::warning(format!("{}: {e}", self.path.display()));
        }
        if let (Some(events), Some(row)) = (&mut self.events, self.rows.last())
            && let Err(e) = events.epoch(row)
        {
            crate::console::warning(format!(
                "warning: {e}; no more TensorBoard events this session"
            ));
            self.events = None;
        }
    }
}

/// Everything one training session needs.
pub(super) struct Session<'a> {
    /// The experiment.
    pub exp: &'a Experiment,
    /// Its run directory.
    pub paths: &'a RunPaths,
    /// The data set.
    pub data: &'a DataSet,
    /// The network.
    pub vgg: &'a VggConfig,
    /// The devices (the first validates and checkpoints).
    pub devices: Vec<Device>,
    /// Where the run continues from.
    pub restored: Restored,
    /// Terminal output.
    pub opts: &'a TrainOptions,
}

/// Trains from `session.restored` to the last epoch (or until the schedule stops); returns the
/// distinct unreadable images skipped.
pub(super) fn fit(session: Session<'_>) -> Result<usize, TrainError> {
    let Session {
        exp,
        paths,
        data,
        vgg,
        devices,
        restored,
        opts,
    } = session;
    let Restored {
        epoch: resume,
        rows,
        state,
    } = restored;
    let t = &exp.train;
    let device = devices[0].clone();
    device.seed(t.seed);
    let mut model = vgg.init(&device.clone().autodiff());
    // burn-train sums the devices' gradients; each contributes 1/n, so that a step follows the
    // mean gradient over all n × batch_size images and weight decay is added to it once, as on
    // one device.
    model.gradient_scale = 1.0 / devices.len() as f64;
    if resume.is_none() && !exp.model.init_from.as_os_str().is_empty() {
        warm_start::warm_start_from(
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
    let val_handle = val_loader.clone();
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
    let steps_per_epoch = train_loader.steps_per_epoch();
    let scheduler = EpochSchedule::new(t, steps_per_epoch, state.clone());
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
        .with_checkpointing_strategy(EpochEnd::new(
            state.clone(),
            plateau,
            EpochMetricNames::of_registered_metrics(),
            &ckpt_dir,
        ))
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
    let events = if exp.run.tensorboard {
        super::events::EventLog::open(&paths.dir, &exp.to_toml(), &rows)
            .map_err(|e| {
                crate::console::warning(format!("warning: {e}; no TensorBoard events this session"))
            })
            .ok()
    } else {
        None
    };
    let sink = RunSink {
        rows,
        path: paths.metrics(),
        state: state.clone(),
        epochs: t.epochs,
        num_classes: data.num_classes,
        model: exp.model.clone(),
        print: !tui,
        events,
        steps_per_epoch,
    };
    training = training.renderer(Box::new(EpochReporter::new(
        inner,
        resume.unwrap_or(0) + 1,
        sink,
    )));
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
