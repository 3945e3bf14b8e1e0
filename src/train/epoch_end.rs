//! The end of an epoch, decided in one place.
//!
//! burn-train 0.22 ends every epoch the same way: the validation split's final metrics reach
//! its event store (flushed), then it asks the checkpointing strategy what to save, then the
//! early-stopping strategy whether to go on. [`EpochEnd`] is that checkpointing strategy: it
//! reads the epoch's final validation top-1 accuracy and training loss from the event store, by
//! the names the metric objects themselves report ([`EpochMetricNames`]), and in one step
//!
//! 1. records the epoch in the [`RunState`](super::schedule::RunState): the best epoch so far,
//!    the plateau rule's drop or stop, a diverged loss;
//! 2. keeps the latest checkpoint (to resume) and the best one (lowest validation error), and
//!    saves nothing once the loss diverged, so the last good checkpoint survives.
//!
//! The rate the schedule uses next and the stop that [`StopRule`] reports are read from the
//! state this step wrote; the state travels in the scheduler's record, which burn saves right
//! after this decision, so a resumed run continues with the same counters. The epoch reporter
//! (`reporter.rs`) only writes rows: `metrics.csv`, the console line, TensorBoard.

use std::collections::BTreeSet;
use std::path::Path;

use burn::train::EarlyStoppingStrategy;
use burn::train::checkpoint::{CheckpointingAction, CheckpointingStrategy};
use burn::train::metric::store::{Aggregate, EventStoreClient, Split};
use burn::train::metric::{AccuracyMetric, LossMetric, Metric, MetricName};

use super::checkpoint::epochs_on_disk;
use super::reporter::MissingMetric;
use super::schedule::{PlateauRule, SharedState};

/// The names under which burn-train stores the two metrics the decision needs, taken from the
/// metric objects the run registers (never spelled out as strings here).
#[derive(Debug, Clone)]
pub struct EpochMetricNames {
    /// The top-1 accuracy metric, in %.
    pub accuracy: MetricName,
    /// The loss metric.
    pub loss: MetricName,
}

impl EpochMetricNames {
    /// The names of the metrics `fit` registers: [`AccuracyMetric`] and [`LossMetric`].
    pub fn of_registered_metrics() -> Self {
        Self {
            accuracy: AccuracyMetric::new().name(),
            loss: LossMetric::new().name(),
        }
    }
}

/// What the decision needs from an epoch.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct EpochOutcome {
    /// Validation top-1 error of the epoch's model, %.
    pub val_top1_err: f64,
    /// The epoch's mean training loss.
    pub train_loss: f64,
}

/// See the module docs: the checkpointing strategy that takes the end-of-epoch decision.
pub struct EpochEnd {
    state: SharedState,
    plateau: Option<PlateauRule>,
    names: EpochMetricNames,
    /// Epochs whose checkpoints are on disk.
    saved: BTreeSet<usize>,
}

impl EpochEnd {
    /// The decision for a run whose state is `state` and whose checkpoints are in `dir` (those
    /// of an earlier session included); `plateau` when `train.schedule = "plateau"`.
    pub fn new(
        state: SharedState,
        plateau: Option<PlateauRule>,
        names: EpochMetricNames,
        dir: &Path,
    ) -> Self {
        Self {
            state,
            plateau,
            names,
            saved: epochs_on_disk(dir).into_iter().collect(),
        }
    }

    /// The epoch's outcome from burn-train's event store, or the metric it lacks.
    fn outcome(
        &self,
        epoch: usize,
        store: &EventStoreClient,
    ) -> Result<EpochOutcome, MissingMetric> {
        let find = |name: &MetricName, split: Split, split_name: &'static str| {
            store
                .find_metric(name, epoch, Aggregate::Mean, &split)
                .ok_or(MissingMetric {
                    epoch,
                    metric: name.to_string(),
                    split: split_name,
                })
        };
        Ok(EpochOutcome {
            val_top1_err: 100.0 - find(&self.names.accuracy, Split::Valid, "validation")?,
            train_loss: find(&self.names.loss, Split::Train, "train")?,
        })
    }

    /// The whole end of `epoch`: the run state's update, what to tell the user, and the
    /// checkpoint actions. A missing metric stops and fails the run, and saves nothing.
    fn decide(
        &mut self,
        epoch: usize,
        outcome: Result<EpochOutcome, MissingMetric>,
    ) -> Vec<CheckpointingAction> {
        let outcome = match outcome {
            Ok(outcome) => outcome,
            Err(missing) => {
                self.state.lock().fail(missing);
                return Vec::new();
            }
        };
        let (message, diverged, best) = {
            let mut state = self.state.lock();
            let message = state.end_epoch(
                epoch,
                outcome.val_top1_err,
                outcome.train_loss,
                self.plateau,
            );
            (message, state.diverged, state.best_epoch)
        };
        if let Some(m) = message {
            crate::console::out(format!("epoch {epoch}: {m}"));
        }
        if diverged {
            crate::console::warning(format!(
                "epoch {epoch}: the training loss is {}; stopping and keeping the last good checkpoint (try a lower train.lr)",
                outcome.train_loss
            ));
            return Vec::new();
        }
        let mut actions = vec![CheckpointingAction::Save];
        let stale: Vec<usize> = self
            .saved
            .iter()
            .copied()
            .filter(|e| *e != epoch && *e != best)
            .collect();
        for e in stale {
            self.saved.remove(&e);
            actions.push(CheckpointingAction::Delete(e));
        }
        self.saved.insert(epoch);
        actions
    }
}

impl CheckpointingStrategy for EpochEnd {
    fn checkpointing(
        &mut self,
        epoch: usize,
        store: &EventStoreClient,
    ) -> Vec<CheckpointingAction> {
        let outcome = self.outcome(epoch, store);
        self.decide(epoch, outcome)
    }
}

/// burn-train's early stop: reports the stop that [`EpochEnd`] decided (the plateau schedule
/// done, a diverged loss, a missing metric).
#[derive(Clone)]
pub struct StopRule(pub SharedState);

impl EarlyStoppingStrategy for StopRule {
    fn should_stop(&mut self, _epoch: usize, _store: &EventStoreClient) -> bool {
        self.0.lock().stop
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn end(dir: &Path, plateau: Option<PlateauRule>) -> (EpochEnd, SharedState) {
        let state = SharedState::default();
        let names = EpochMetricNames::of_registered_metrics();
        (EpochEnd::new(state.clone(), plateau, names, dir), state)
    }

    fn outcome(val_top1_err: f64, train_loss: f64) -> Result<EpochOutcome, MissingMetric> {
        Ok(EpochOutcome {
            val_top1_err,
            train_loss,
        })
    }

    #[test]
    fn keeps_only_the_latest_and_the_best_epoch() {
        let dir = tempfile::tempdir().unwrap();
        let (mut s, _) = end(dir.path(), None);
        let mut run = |epoch: usize, err: f64| {
            let actions = s.decide(epoch, outcome(err, 1.0));
            (actions, s.saved.iter().copied().collect::<Vec<_>>())
        };
        assert_eq!(run(1, 50.0).1, vec![1]);
        assert_eq!(run(2, 60.0).1, vec![1, 2]);
        let (actions, kept) = run(3, 55.0);
        assert_eq!(kept, vec![1, 3]);
        assert!(actions.contains(&CheckpointingAction::Delete(2)));
        let (_, kept) = run(4, 10.0);
        assert_eq!(kept, vec![4]);
    }

    #[test]
    fn a_diverged_loss_stops_the_run_and_saves_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let (mut s, state) = end(dir.path(), None);
        assert!(s.decide(1, outcome(50.0, f64::INFINITY)).is_empty());
        let state = state.lock();
        assert!(state.diverged && state.stop);
    }

    #[test]
    fn the_plateau_rule_drops_the_rate_and_stops_in_the_same_step_that_saves() {
        let dir = tempfile::tempdir().unwrap();
        let rule = PlateauRule {
            patience: 1,
            gamma: 0.1,
            max_drops: 1,
        };
        let (mut s, state) = end(dir.path(), Some(rule));
        s.decide(1, outcome(20.0, 1.0));
        s.decide(2, outcome(21.0, 1.0));
        assert!((state.lock().factor - 0.1).abs() < 1e-12 && !state.lock().stop);
        let actions = s.decide(3, outcome(22.0, 1.0));
        assert!(
            state.lock().stop,
            "the plateau after the last drop stops the run"
        );
        // The stopping epoch is still saved, beside the best (epoch 1).
        assert_eq!(actions[0], CheckpointingAction::Save);
        assert_eq!(s.saved.iter().copied().collect::<Vec<_>>(), vec![1, 3]);
        assert_eq!(state.lock().best_epoch, 1);
    }

    #[test]
    fn a_metric_missing_from_the_store_fails_the_run_naming_it() {
        let dir = tempfile::tempdir().unwrap();
        let (mut s, state) = end(dir.path(), None);
        let missing = MissingMetric {
            epoch: 2,
            metric: "Accuracy".into(),
            split: "validation",
        };
        assert!(s.decide(2, Err(missing)).is_empty());
        let state = state.lock();
        assert!(state.stop);
        let failure = state.failure.as_deref().unwrap();
        assert!(failure.contains("'Accuracy'") && failure.contains("validation"));
    }

    #[test]
    fn the_names_are_those_under_which_the_reporter_writes_the_rows() {
        // The reporter matches burn's display names; the decision asks the store by the
        // metric objects' names. A burn release that renames a metric breaks this test, not
        // silently the run.
        let names = EpochMetricNames::of_registered_metrics();
        assert_eq!(names.accuracy.as_str(), "Accuracy");
        assert_eq!(names.loss.as_str(), "Loss");
    }
}
