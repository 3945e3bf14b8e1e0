//! Run health: the stall at chance. With N(0, 0.01) weights a plain VGG's logits start near
//! zero and can stay there, so the loss sits at ln(classes) (chance) epoch after epoch; the
//! paper avoided it by initialising deeper nets from a trained A. With He or Glorot init a
//! plain net can still stall when its first steps at a high learning rate leave every ReLU of
//! a layer at zero (the depth study's B seed 2 at lr 0.02); the warning names the remedy that
//! fits the run's own initialisation.

use crate::config::{Init, ModelConfig};
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

/// The warning for a run of `model` stalled for `epochs` epochs.
pub fn stall_message(epochs: usize, num_classes: usize, model: &ModelConfig) -> String {
    let cause = match (model.init, model.batch_norm) {
        (Init::Paper | Init::Torchvision, false) if model.init_from.as_os_str().is_empty() => {
            "as the paper's N(0, 0.01) init does to deep plain nets; use model.init = \"kaiming\" or \"xavier\", start from a trained A (model.init_from), or set model.batch_norm = true"
        }
        (_, false) => {
            "its first steps have left the plain net's ReLUs dead, which the learning rate risks at any init; lower train.lr, start from a trained A (model.init_from), or set model.batch_norm = true"
        }
        (_, true) => "lower train.lr",
    };
    format!(
        "the training loss has stayed at ln({num_classes}) = {:.3} (chance) for {epochs} epochs: the network is stalled, {cause}",
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
    }

    #[test]
    fn stall_advice_fits_the_runs_initialisation() {
        let mut model = ModelConfig {
            init: Init::Paper,
            ..ModelConfig::default()
        };
        let paper = stall_message(2, 10, &model);
        assert!(
            paper.contains("2.303") && paper.contains("N(0, 0.01)"),
            "{paper}"
        );
        model.init = Init::Kaiming;
        let he = stall_message(2, 10, &model);
        assert!(
            !he.contains("model.init = ") && he.contains("lower train.lr"),
            "{he}"
        );
        model.batch_norm = true;
        assert!(!stall_message(2, 10, &model).contains("batch_norm"));
    }
}
