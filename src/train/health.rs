//! Run health: the paper-init stall. With N(0, 0.01) weights a plain VGG's logits start near
//! zero and can stay there, so the loss sits at ln(classes) (chance) epoch after epoch; the
//! paper avoided it by initialising deeper nets from a trained A.

use crate::results::EpochRow;

/// Consecutive epochs at chance-level loss before a run is reported as stalled.
pub const STALL_EPOCHS: usize = 2;

/// Whether a training loss is the chance-level loss ln(classes), within 1 %.
pub fn at_chance(train_loss: f64, num_classes: usize) -> bool {
    let chance = (num_classes as f64).ln();
    (train_loss - chance).abs() <= 0.01 * chance
}

/// Trailing epochs of `rows` whose training loss is at chance level.
pub fn stalled_epochs(rows: &[EpochRow], num_classes: usize) -> usize {
    rows.iter()
        .rev()
        .take_while(|r| at_chance(r.train_loss, num_classes))
        .count()
}

/// The warning for a run stalled for `epochs` epochs.
pub fn stall_message(epochs: usize, num_classes: usize) -> String {
    format!(
        "the training loss has stayed at ln({num_classes}) = {:.3} (chance) for {epochs} epochs: the network is stalled, as the paper's N(0, 0.01) init does to deep plain nets; use model.init = \"kaiming\" or \"xavier\", or batch_norm = true",
        (num_classes as f64).ln()
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(epoch: usize, train_loss: f64) -> EpochRow {
        EpochRow {
            epoch,
            lr: 0.01,
            train_loss,
            train_top1_err: 90.0,
            train_top5_err: Some(50.0),
            val_loss: train_loss,
            val_top1_err: 90.0,
            val_top5_err: Some(50.0),
            epoch_seconds: 1.0,
            train_img_s: 1.0,
        }
    }

    #[test]
    fn counts_trailing_epochs_at_ln_classes() {
        let ln10 = 10f64.ln();
        let rows = [row(1, 1.2), row(2, ln10 + 0.001), row(3, ln10 - 0.01)];
        assert_eq!(stalled_epochs(&rows, 10), 2);
        assert_eq!(stalled_epochs(&rows[..1], 10), 0);
        assert!(!at_chance(2.0, 10));
        assert!(stall_message(2, 10).contains("2.303"));
    }
}
