//! The epoch reporter: a burn renderer that collects each epoch's final metric values, hands
//! them to [`EpochSink`] (metrics.csv, one plain line per epoch, TensorBoard), and forwards
//! everything to burn's TUI when stdout is a terminal. It decides nothing: the end-of-epoch
//! decision (best epoch, plateau, stop, checkpoints) is `epoch_end.rs`'s.

use std::collections::HashMap;
use std::time::Instant;

use burn::train::LearnerSummary;
use burn::train::logger::{EvaluationProgressLogger, TrainingProgressLogger};
use burn::train::metric::{MetricDefinition, MetricId, NumericEntry};
use burn::train::renderer::{
    EvaluationName, MetricState, MetricsRenderer, MetricsRendererEvaluation,
    MetricsRendererTraining,
};

use crate::results::EpochRow;

/// A metric burn-train did not report for an epoch: the run stops rather than make a row up.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "epoch {epoch}: burn-train reported no final '{metric}' for the {split} split; no metrics row is written for it"
)]
pub struct MissingMetric {
    /// The epoch (from 1).
    pub epoch: usize,
    /// burn-train's name of the metric.
    pub metric: String,
    /// `train` or `validation`.
    pub split: &'static str,
}

/// Receives one finished epoch.
pub trait EpochSink: Send + Sync {
    /// Called once per epoch, after validation and before the checkpoint is written; `Err`
    /// names a metric burn-train did not report (the run must stop: no row may be made up).
    fn epoch_done(&mut self, row: Result<EpochRow, MissingMetric>);

    /// Called for each training batch's loss: `batch` counts from 1 within `epoch`.
    fn batch_loss(&mut self, _epoch: usize, _batch: usize, _loss: f64) {}
}

/// The metrics the runs register, as burn-train names them.
const LOSS: &str = "Loss";
const ACCURACY: &str = "Accuracy";
const LEARNING_RATE: &str = "Learning Rate";
const TOP_K: &str = "Top-K Accuracy";

#[derive(Debug, Default, Clone)]
struct SplitValues {
    loss: Option<f64>,
    top1_acc: Option<f64>,
    topk_acc: Option<f64>,
    lr: Option<f64>,
    items: usize,
}

impl SplitValues {
    /// A value of the epoch, or the error naming the missing metric.
    fn get(
        value: Option<f64>,
        metric: &'static str,
        split: &'static str,
        epoch: usize,
    ) -> Result<f64, MissingMetric> {
        value.ok_or_else(|| MissingMetric {
            epoch,
            metric: metric.to_string(),
            split,
        })
    }
}

/// See the module docs.
pub struct EpochReporter<S: EpochSink> {
    inner: Option<Box<dyn MetricsRenderer>>,
    names: HashMap<MetricId, String>,
    split: String,
    train: SplitValues,
    valid: SplitValues,
    epoch: usize,
    epoch_start: Option<Instant>,
    train_seconds: f64,
    split_start: Option<Instant>,
    /// Training batches whose loss this epoch reported so far.
    batches: usize,
    sink: S,
}

impl<S: EpochSink> EpochReporter<S> {
    /// `inner` is burn's TUI (or `None` for plain output); `first_epoch` is the epoch the
    /// training starts at (1, or the one after the resumed checkpoint).
    pub fn new(inner: Option<Box<dyn MetricsRenderer>>, first_epoch: usize, sink: S) -> Self {
        Self {
            inner,
            names: HashMap::new(),
            split: String::new(),
            train: SplitValues::default(),
            valid: SplitValues::default(),
            epoch: first_epoch,
            epoch_start: None,
            train_seconds: 0.0,
            split_start: None,
            batches: 0,
            sink,
        }
    }

    fn record(&mut self, state: &MetricState, valid: bool) {
        let MetricState::Numeric(entry, Some(value)) = state else {
            return;
        };
        let Some(name) = self.names.get(&entry.metric_id) else {
            return;
        };
        let v = match value {
            NumericEntry::Final(v) => v,
            NumericEntry::Value(v)
            | NumericEntry::Aggregated {
                aggregated_value: v,
                ..
            } => {
                if !valid && name == LOSS {
                    self.batches += 1;
                    self.sink.batch_loss(self.epoch, self.batches, *v);
                }
                return;
            }
        };
        let values = if valid {
            &mut self.valid
        } else {
            &mut self.train
        };
        match name.as_str() {
            LOSS => values.loss = Some(*v),
            ACCURACY => values.top1_acc = Some(*v),
            LEARNING_RATE => values.lr = Some(*v),
            n if n.starts_with(TOP_K) => values.topk_acc = Some(*v),
            _ => {}
        }
    }

    /// The epoch's row from the recorded values; top-5 only when a top-k metric is registered.
    fn epoch_row(&self, seconds: f64) -> Result<EpochRow, MissingMetric> {
        let e = self.epoch;
        let (t, v) = (&self.train, &self.valid);
        let top_k = self.names.values().any(|n| n.starts_with(TOP_K));
        let err = |acc: Option<f64>, split: &'static str| -> Result<Option<f64>, MissingMetric> {
            if !top_k {
                return Ok(None);
            }
            SplitValues::get(acc, TOP_K, split, e).map(|a| Some(100.0 - a))
        };
        Ok(EpochRow {
            epoch: e,
            lr: SplitValues::get(t.lr, LEARNING_RATE, "train", e)?,
            train_loss: SplitValues::get(t.loss, LOSS, "train", e)?,
            train_top1_err: 100.0 - SplitValues::get(t.top1_acc, ACCURACY, "train", e)?,
            train_top5_err: err(t.topk_acc, "train")?,
            val_loss: SplitValues::get(v.loss, LOSS, "validation", e)?,
            val_top1_err: 100.0 - SplitValues::get(v.top1_acc, ACCURACY, "validation", e)?,
            val_top5_err: err(v.topk_acc, "validation")?,
            epoch_seconds: seconds,
            train_img_s: if self.train_seconds > 0.0 {
                self.train.items as f64 / self.train_seconds
            } else {
                0.0
            },
        })
    }

    fn finish_epoch(&mut self) {
        let seconds = self
            .epoch_start
            .map(|t| t.elapsed().as_secs_f64())
            .unwrap_or(0.0);
        let row = self.epoch_row(seconds);
        self.sink.epoch_done(row);
        self.epoch += 1;
        self.batches = 0;
        self.epoch_start = None;
        // Each epoch reports afresh: a value must not carry over into the next row.
        let items = self.train.items;
        self.train = SplitValues {
            items,
            ..SplitValues::default()
        };
        self.valid = SplitValues::default();
    }
}

impl<S: EpochSink> MetricsRendererTraining for EpochReporter<S> {
    fn update_train(&mut self, state: MetricState) {
        self.record(&state, false);
        if let Some(inner) = &mut self.inner {
            inner.update_train(state);
        }
    }

    fn update_valid(&mut self, state: MetricState) {
        self.record(&state, true);
        if let Some(inner) = &mut self.inner {
            inner.update_valid(state);
        }
    }

    fn on_train_end(
        &mut self,
        summary: Option<LearnerSummary>,
    ) -> Result<(), Box<dyn core::error::Error>> {
        match &mut self.inner {
            Some(inner) => inner.on_train_end(summary),
            None => Ok(()),
        }
    }
}

impl<S: EpochSink> MetricsRendererEvaluation for EpochReporter<S> {
    fn update_test(&mut self, name: EvaluationName, state: MetricState) {
        if let Some(inner) = &mut self.inner {
            inner.update_test(name, state);
        }
    }
}

impl<S: EpochSink> TrainingProgressLogger for EpochReporter<S> {
    fn start(&mut self, total: usize, start: usize, items: Option<usize>, label: Option<&str>) {
        if let Some(inner) = &mut self.inner {
            inner.start(total, start, items, label);
        }
    }

    fn update_epoch(&mut self, epoch: usize) {
        if let Some(inner) = &mut self.inner {
            inner.update_epoch(epoch);
        }
    }

    fn start_split(&mut self, split: &str, total_items: usize) {
        self.split = split.to_lowercase();
        if self.split.starts_with("train") {
            self.epoch_start = Some(Instant::now());
            self.train.items = total_items;
        }
        self.split_start = Some(Instant::now());
        if let Some(inner) = &mut self.inner {
            inner.start_split(split, total_items);
        }
    }

    fn update_split(&mut self, items_processed: usize) {
        if let Some(inner) = &mut self.inner {
            inner.update_split(items_processed);
        }
    }

    fn end_split(&mut self) {
        if let Some(inner) = &mut self.inner {
            inner.end_split();
        }
        let elapsed = self
            .split_start
            .map(|t| t.elapsed().as_secs_f64())
            .unwrap_or(0.0);
        if self.split.starts_with("train") {
            self.train_seconds = elapsed;
        } else if self.split.starts_with("valid") {
            self.finish_epoch();
        }
    }

    fn end(&mut self) {
        if let Some(inner) = &mut self.inner {
            TrainingProgressLogger::end(inner.as_mut());
        }
    }

    fn log_event_training(&mut self, event: String) {
        if let Some(inner) = &mut self.inner {
            inner.log_event_training(event);
        }
    }
}

impl<S: EpochSink> EvaluationProgressLogger for EpochReporter<S> {
    fn start_global_progress(&mut self, total_tests: usize) {
        if let Some(inner) = &mut self.inner {
            inner.start_global_progress(total_tests);
        }
    }
    fn start_test(&mut self, name: &str, total_items: usize) {
        if let Some(inner) = &mut self.inner {
            inner.start_test(name, total_items);
        }
    }
    fn update_test_progress(&mut self, items_processed: usize) {
        if let Some(inner) = &mut self.inner {
            inner.update_test_progress(items_processed);
        }
    }
    fn end_test(&mut self) {
        if let Some(inner) = &mut self.inner {
            inner.end_test();
        }
    }
    fn end_global_progress(&mut self) {
        if let Some(inner) = &mut self.inner {
            inner.end_global_progress();
        }
    }
    fn log_event_evaluation(&mut self, event: String) {
        if let Some(inner) = &mut self.inner {
            inner.log_event_evaluation(event);
        }
    }
}

impl<S: EpochSink> MetricsRenderer for EpochReporter<S> {
    fn manual_close(&mut self) {
        if let Some(inner) = &mut self.inner {
            inner.manual_close();
        }
    }

    fn register_metric(&mut self, definition: MetricDefinition) {
        self.names
            .insert(definition.metric_id.clone(), definition.name.to_string());
        if let Some(inner) = &mut self.inner {
            inner.register_metric(definition);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    struct Keep(Vec<Result<EpochRow, MissingMetric>>);

    impl EpochSink for Keep {
        fn epoch_done(&mut self, row: Result<EpochRow, MissingMetric>) {
            self.0.push(row);
        }
    }

    fn reporter(top_k: bool) -> EpochReporter<Keep> {
        let mut r = EpochReporter::new(None, 1, Keep(Vec::new()));
        for name in [LOSS, ACCURACY, LEARNING_RATE] {
            r.names
                .insert(MetricId::new(std::sync::Arc::new(name.into())), name.into());
        }
        if top_k {
            r.names.insert(
                MetricId::new(std::sync::Arc::new("topk".into())),
                format!("{TOP_K} @ 5"),
            );
        }
        r
    }

    fn complete(r: &mut EpochReporter<Keep>) {
        for v in [&mut r.train, &mut r.valid] {
            v.loss = Some(1.0);
            v.top1_acc = Some(60.0);
            v.topk_acc = Some(90.0);
        }
        r.train.lr = Some(0.1);
    }

    #[test]
    fn an_epoch_missing_a_metric_is_an_error_naming_it_never_a_made_up_row() {
        let mut r = reporter(true);
        complete(&mut r);
        r.valid.top1_acc = None;
        r.finish_epoch();
        let err = r.sink.0[0].clone().unwrap_err().to_string();
        assert!(
            err.contains("'Accuracy'") && err.contains("validation"),
            "{err}"
        );
    }

    #[test]
    fn complete_epochs_give_error_rows_and_top5_only_with_a_top_k_metric() {
        let mut r = reporter(true);
        complete(&mut r);
        r.finish_epoch();
        let row = r.sink.0[0].clone().unwrap();
        assert_eq!((row.val_top1_err, row.val_top5_err), (40.0, Some(10.0)));
        // The next epoch starts empty: nothing carries over.
        r.finish_epoch();
        assert!(r.sink.0[1].is_err());
        let mut r = reporter(false);
        complete(&mut r);
        r.finish_epoch();
        assert_eq!(r.sink.0[0].clone().unwrap().val_top5_err, None);
    }
}
