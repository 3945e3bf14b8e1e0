//! How a run ended: the `status` column of `results.csv`, typed.

use serde::{Deserialize, Serialize};

/// How a run ended (or what its row measures), written in lowercase in `results.csv`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    /// Trained for `train.epochs`.
    Finished,
    /// The plateau schedule stopped it after its last drop.
    Stopped,
    /// The training loss stayed at chance level (see `train::health`).
    Stalled,
    /// The training loss became NaN or infinite.
    Diverged,
    /// Measured on weights this run did not train (`eval --weights`).
    Pretrained,
}

impl Status {
    /// The name `results.csv` holds.
    pub fn name(self) -> &'static str {
        match self {
            Status::Finished => "finished",
            Status::Stopped => "stopped",
            Status::Stalled => "stalled",
            Status::Diverged => "diverged",
            Status::Pretrained => "pretrained",
        }
    }

    /// Whether the run failed to train (stalled at chance or diverged).
    pub fn failed(self) -> bool {
        matches!(self, Status::Stalled | Status::Diverged)
    }
}

impl std::fmt::Display for Status {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.pad(self.name())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_what_serde_writes() {
        for s in [
            Status::Finished,
            Status::Stopped,
            Status::Stalled,
            Status::Diverged,
            Status::Pretrained,
        ] {
            let json = serde_json::to_string(&s).unwrap();
            assert_eq!(json, format!("\"{}\"", s.name()));
            assert_eq!(serde_json::from_str::<Status>(&json).unwrap(), s);
        }
    }
}
