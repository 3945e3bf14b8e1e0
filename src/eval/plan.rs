//! From a config's `[eval]` section to results rows: the plan of protocols and scales, whether
//! it adds anything to the training row, and the rows of a report. Shared by the `eval`
//! command and the evaluation after training.

use crate::config::{Experiment, Protocol};
use crate::data::DataSet;
use crate::model::VggConfig;
use crate::results::{ResultRow, Scales};

use super::{EvalPlan, EvalReport};

/// The plan of `exp`'s `[eval]` section for `data`.
pub fn plan_for(exp: &Experiment, data: &DataSet, vgg: &VggConfig) -> EvalPlan {
    EvalPlan::new(
        &exp.eval,
        data.default_test_scale(),
        exp.eval.batch_size_of(&exp.train),
        vgg.pool_out(),
        exp.data.max_bad_images,
    )
}

/// Whether the plan measures more than the training run's own validation (centre crop at the
/// default scale), which the training row already holds.
pub fn adds_to_training(plan: &EvalPlan, data: &DataSet) -> bool {
    plan.protocols.iter().any(|p| *p != Protocol::Center)
        || plan.scales.iter().any(|q| *q != data.default_test_scale())
}

/// The rows of `report`, each a copy of `base` with the protocol's errors.
pub fn rows_from(base: &ResultRow, report: &EvalReport) -> Vec<ResultRow> {
    report
        .scores
        .iter()
        .map(|s| ResultRow {
            top1_err: s.top1_err,
            top5_err: s.top5_err,
            val_top1_err: None,
            val_top5_err: None,
            final_top1_err: s.top1_err,
            final_top5_err: s.top5_err,
            test_images: report.images,
            bad_images: report.bad_images,
            protocol: s.protocol,
            scales: Scales::from(&s.scales[..]),
            ..base.clone()
        })
        .collect()
}
