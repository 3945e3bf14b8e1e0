//! The epoch reporter: a burn renderer that collects each epoch's final metric values, hands
//! them to [`EpochSink`] (metrics.csv, schedule state, one plain line per epoch), and forwards
//! everything to burn's TUI when stdout is a terminal.

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

/// Receives one finished epoch.
pub trait EpochSink: Send + Sync {
    /// Called once per epoch, after validation and before the checkpoint is written.
    fn epoch_done(&mut self, row: EpochRow);
}

#[derive(Debug, Default, Clone)]
struct SplitValues {
    loss: f64,
    top1_acc: f64,
    topk_acc: f64,
    lr: f64,
    items: usize,
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
            sink,
        }
    }

    fn record(&mut self, state: &MetricState, valid: bool) {
        let MetricState::Numeric(entry, Some(NumericEntry::Final(v))) = state else {
            return;
        };
        let Some(name) = self.names.get(&entry.metric_id) else {
            return;
        };
        let values = if valid {
            &mut self.valid
        } else {
            &mut self.train
        };
        match name.as_str() {
            "Loss" => values.loss = *v,
            "Accuracy" => values.top1_acc = *v,
            "Learning Rate" => values.lr = *v,
            n if n.starts_with("Top-K Accuracy") => values.topk_acc = *v,
            _ => {}
        }
    }

    fn finish_epoch(&mut self) {
        let seconds = self
            .epoch_start
            .map(|t| t.elapsed().as_secs_f64())
            .unwrap_or(0.0);
        let row = EpochRow {
            epoch: self.epoch,
            lr: self.train.lr,
            train_loss: self.train.loss,
            train_top1_err: 100.0 - self.train.top1_acc,
            train_top5_err: 100.0 - self.train.topk_acc,
            val_loss: self.valid.loss,
            val_top1_err: 100.0 - self.valid.top1_acc,
            val_top5_err: 100.0 - self.valid.topk_acc,
            epoch_seconds: seconds,
            train_img_s: if self.train_seconds > 0.0 {
                self.train.items as f64 / self.train_seconds
            } else {
                0.0
            },
        };
        self.sink.epoch_done(row);
        self.epoch += 1;
        self.epoch_start = None;
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
