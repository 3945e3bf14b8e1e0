//! Learning-rate schedules and the run state they share with the epoch reporter.
//!
//! burn's schedulers are stepped once per iteration and see no metrics, and burn has no
//! reduce-on-plateau. [`EpochSchedule`] implements every `train.schedule` in one
//! [`LrScheduler`]; the plateau decision is taken by [`RunState::end_epoch`], called by the
//! end-of-epoch step (`epoch_end.rs`) when the epoch's validation error is known and before the
//! checkpoint is written, and the state travels in the scheduler's record, so a resumed run
//! continues with the same counters.

use std::sync::{Arc, Mutex, MutexGuard};

use burn::lr_scheduler::{LrScheduler, LrSchedulerRecord};

use crate::config::{Schedule, TrainConfig};

/// The run's state: written by the end-of-epoch decision (`epoch_end.rs`), read by the schedule
/// (the plateau factor) and the stop rule; a metric missing from a row also stops it.
#[derive(Debug, Clone, PartialEq)]
pub struct RunState {
    /// Multiplier on the base learning rate (plateau drops).
    pub factor: f64,
    /// Lowest validation top-1 error so far, %.
    pub best_err: f64,
    /// Epoch of `best_err` (0 = none yet).
    pub best_epoch: usize,
    /// Epochs since the plateau schedule last saw an improvement or dropped the rate.
    pub epochs_without_improvement: usize,
    /// Plateau drops so far.
    pub drops: usize,
    /// Training should stop after this epoch.
    pub stop: bool,
    /// A non-finite loss was seen.
    pub diverged: bool,
    /// Last epoch whose metrics were recorded.
    pub epoch: usize,
    /// Why the run must fail (a metric burn-train did not report); not checkpointed.
    pub failure: Option<String>,
}

impl Default for RunState {
    fn default() -> Self {
        Self {
            factor: 1.0,
            best_err: f64::INFINITY,
            best_epoch: 0,
            epochs_without_improvement: 0,
            drops: 0,
            stop: false,
            diverged: false,
            epoch: 0,
            failure: None,
        }
    }
}

/// The plateau rule's parameters.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct PlateauRule {
    /// Epochs without improvement before a drop.
    pub patience: usize,
    /// Multiplier per drop.
    pub gamma: f64,
    /// Drops before the next plateau stops training.
    pub max_drops: usize,
}

impl RunState {
    /// Records epoch `epoch`'s validation top-1 error and training loss; applies the plateau
    /// rule when `plateau` is given. Returns a message when the learning rate changed.
    pub fn end_epoch(
        &mut self,
        epoch: usize,
        val_top1_err: f64,
        train_loss: f64,
        plateau: Option<PlateauRule>,
    ) -> Option<String> {
        self.epoch = epoch;
        if !train_loss.is_finite() {
            self.diverged = true;
            self.stop = true;
            return None;
        }
        if val_top1_err < self.best_err - 1e-9 {
            self.best_err = val_top1_err;
            self.best_epoch = epoch;
            self.epochs_without_improvement = 0;
            return None;
        }
        self.epochs_without_improvement += 1;
        let rule = plateau?;
        if self.epochs_without_improvement < rule.patience {
            return None;
        }
        self.epochs_without_improvement = 0;
        if self.drops >= rule.max_drops {
            self.stop = true;
            return Some(format!(
                "val top-1 error has not improved for {} epochs after {} drops: stopping",
                rule.patience, self.drops
            ));
        }
        self.drops += 1;
        self.factor *= rule.gamma;
        Some(format!(
            "val top-1 error has not improved for {} epochs: learning rate x{} (drop {}/{})",
            rule.patience, rule.gamma, self.drops, rule.max_drops
        ))
    }

    /// Stops the run and fails it with `why` (the first reason wins): what the epoch reporter
    /// and the end-of-epoch step do when burn-train did not report a metric.
    pub fn fail(&mut self, why: impl ToString) {
        self.stop = true;
        self.failure.get_or_insert_with(|| why.to_string());
    }

    fn to_record(&self, record: LrSchedulerRecord) -> LrSchedulerRecord {
        record
            .with_scalar("factor", self.factor)
            .with_scalar("best_err", self.best_err)
            .with_scalar("best_epoch", self.best_epoch as u64)
            .with_scalar(
                "epochs_without_improvement",
                self.epochs_without_improvement as u64,
            )
            .with_scalar("drops", self.drops as u64)
            .with_scalar("stop", self.stop as u64)
            .with_scalar("diverged", self.diverged as u64)
            .with_scalar("epoch", self.epoch as u64)
    }

    /// The state saved in a scheduler record, if the record holds one.
    pub fn from_record(r: &LrSchedulerRecord) -> Option<RunState> {
        let u = |k: &str| r.scalar::<u64>(k);
        Some(RunState {
            factor: r.scalar::<f64>("factor")?,
            best_err: r.scalar::<f64>("best_err")?,
            best_epoch: u("best_epoch")? as usize,
            epochs_without_improvement: u("epochs_without_improvement")? as usize,
            drops: u("drops")? as usize,
            stop: u("stop")? != 0,
            diverged: u("diverged")? != 0,
            epoch: u("epoch")? as usize,
            failure: None,
        })
    }
}

/// A handle on the shared [`RunState`].
#[derive(Debug, Clone, Default)]
pub struct SharedState(Arc<Mutex<RunState>>);

impl SharedState {
    /// Locks the state (a poisoned lock still yields the data: the state stays consistent
    /// because every update is a plain assignment).
    pub fn lock(&self) -> MutexGuard<'_, RunState> {
        self.0.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// Every `train.schedule`, stepped once per iteration.
#[derive(Debug, Clone)]
pub struct EpochSchedule {
    schedule: Schedule,
    base_lr: f64,
    min_lr: f64,
    gamma: f64,
    step_epochs: usize,
    iters_per_epoch: usize,
    total_iters: usize,
    /// Iterations stepped so far.
    iteration: usize,
    state: SharedState,
}

impl EpochSchedule {
    /// The schedule of `cfg` for `iters_per_epoch` steps per epoch.
    pub fn new(cfg: &TrainConfig, iters_per_epoch: usize, state: SharedState) -> Self {
        let iters_per_epoch = iters_per_epoch.max(1);
        Self {
            schedule: cfg.schedule,
            base_lr: cfg.lr,
            min_lr: cfg.min_lr,
            gamma: cfg.gamma,
            step_epochs: cfg.step_epochs.max(1),
            iters_per_epoch,
            total_iters: iters_per_epoch * cfg.epochs,
            iteration: 0,
            state,
        }
    }

    /// The learning rate of iteration `iteration` (0-based).
    pub fn lr_at(&self, iteration: usize) -> f64 {
        let epoch = iteration / self.iters_per_epoch; // 0-based
        match self.schedule {
            Schedule::Constant => self.base_lr,
            Schedule::Step => self.base_lr * self.gamma.powi((epoch / self.step_epochs) as i32),
            Schedule::Cosine => {
                let t = iteration.min(self.total_iters) as f64 / self.total_iters.max(1) as f64;
                self.min_lr
                    + (self.base_lr - self.min_lr) * 0.5 * (1.0 + (std::f64::consts::PI * t).cos())
            }
            Schedule::Plateau => self.base_lr * self.state.lock().factor,
        }
    }
}

impl LrScheduler for EpochSchedule {
    fn step(&mut self) -> f64 {
        let lr = self.lr_at(self.iteration);
        self.iteration += 1;
        lr
    }

    fn to_record(&self) -> LrSchedulerRecord {
        let record = LrSchedulerRecord::new().with_scalar("iteration", self.iteration as u64);
        self.state.lock().to_record(record)
    }

    fn load_record(&mut self, record: LrSchedulerRecord) {
        if let Some(i) = record.scalar::<u64>("iteration") {
            self.iteration = i as usize;
        }
        if let Some(s) = RunState::from_record(&record) {
            *self.state.lock() = s;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const RULE: PlateauRule = PlateauRule {
        patience: 2,
        gamma: 0.1,
        max_drops: 3,
    };

    #[test]
    fn plateau_drops_after_patience_and_stops_after_max_drops() {
        let mut s = RunState::default();
        assert!(s.end_epoch(1, 50.0, 1.0, Some(RULE)).is_none());
        assert!(s.end_epoch(2, 40.0, 1.0, Some(RULE)).is_none());
        assert!(s.end_epoch(3, 41.0, 1.0, Some(RULE)).is_none());
        assert!(s.end_epoch(4, 40.0, 1.0, Some(RULE)).is_some()); // 2 epochs w/o improvement
        assert_eq!((s.drops, s.best_epoch), (1, 2));
        assert!((s.factor - 0.1).abs() < 1e-12);
        let mut epoch = 5;
        while !s.stop {
            s.end_epoch(epoch, 45.0, 1.0, Some(RULE));
            epoch += 1;
        }
        assert_eq!(s.drops, 3);
        assert!((s.factor - 1e-3).abs() < 1e-15);
        assert_eq!(epoch, 11); // 3 more drops need 6 epochs, then stop on the 4th plateau
    }

    #[test]
    fn a_non_finite_loss_marks_divergence_and_stops() {
        let mut s = RunState::default();
        s.end_epoch(1, 50.0, f64::NAN, Some(RULE));
        assert!(s.diverged && s.stop);
    }

    #[test]
    fn schedules_give_the_documented_rates() {
        let cfg = TrainConfig {
            lr: 0.1,
            epochs: 4,
            step_epochs: 2,
            min_lr: 0.0,
            ..TrainConfig::default()
        };
        let step = EpochSchedule::new(
            &TrainConfig {
                schedule: Schedule::Step,
                ..cfg.clone()
            },
            10,
            SharedState::default(),
        );
        assert!((step.lr_at(19) - 0.1).abs() < 1e-12);
        assert!((step.lr_at(20) - 0.01).abs() < 1e-12);
        let cos = EpochSchedule::new(
            &TrainConfig {
                schedule: Schedule::Cosine,
                ..cfg.clone()
            },
            10,
            SharedState::default(),
        );
        assert!((cos.lr_at(0) - 0.1).abs() < 1e-12);
        assert!((cos.lr_at(20) - 0.05).abs() < 1e-12);
        assert!(cos.lr_at(40).abs() < 1e-12);
    }

    #[test]
    fn record_round_trips_iteration_and_plateau_state() {
        let shared = SharedState::default();
        let cfg = TrainConfig::default();
        let mut a = EpochSchedule::new(&cfg, 5, shared.clone());
        for _ in 0..7 {
            a.step();
        }
        shared.lock().end_epoch(1, 30.0, 1.0, None);
        shared.lock().factor = 0.01;
        let record = a.to_record();
        let other = SharedState::default();
        let mut b = EpochSchedule::new(&cfg, 5, other.clone());
        b.load_record(record);
        assert_eq!(b.iteration, 7);
        assert_eq!(*other.lock(), *shared.lock());
        assert!((b.step() - 1e-4).abs() < 1e-15);
    }
}
