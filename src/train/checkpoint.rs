//! Checkpoints: burnpack files written atomically, a keep-last-and-best strategy, and the
//! discovery of the latest complete checkpoint for resuming.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use burn::lr_scheduler::LrSchedulerRecord;
use burn::train::checkpoint::{
    Checkpoint, Checkpointer, CheckpointerError, CheckpointingAction, CheckpointingStrategy,
};
use burn::train::metric::store::EventStoreClient;

use super::schedule::SharedState;
use crate::results::write_atomic;

/// The three files of one checkpoint, by burn-train's naming.
pub const PARTS: [&str; 3] = ["model", "optim", "scheduler"];

/// Path of `part` (`model`, `optim`, `scheduler`) at `epoch`.
pub fn part_path(dir: &Path, part: &str, epoch: usize) -> PathBuf {
    dir.join(format!("{part}-{epoch}.bpk"))
}

/// Like burn's `FileCheckpointer`, but each file is written to a temporary name, synced and
/// renamed, so a crash never leaves a torn checkpoint under the final name.
#[derive(Debug, Clone)]
pub struct AtomicFileCheckpointer {
    dir: PathBuf,
    part: &'static str,
}

impl AtomicFileCheckpointer {
    /// Checkpointer for `part` files in `dir`.
    pub fn new(dir: &Path, part: &'static str) -> Self {
        Self {
            dir: dir.to_path_buf(),
            part,
        }
    }
}

impl<R: Checkpoint> Checkpointer<R> for AtomicFileCheckpointer {
    fn save(&self, epoch: usize, record: R) -> Result<(), CheckpointerError> {
        let bytes = record
            .checkpoint_into_bytes()
            .map_err(CheckpointerError::Record)?;
        write_atomic(&part_path(&self.dir, self.part, epoch), &bytes)
            .map_err(CheckpointerError::IOError)
    }

    fn delete(&self, epoch: usize) -> Result<(), CheckpointerError> {
        let path = part_path(&self.dir, self.part, epoch);
        match std::fs::remove_file(path) {
            Ok(()) => Ok(()),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
            Err(e) => Err(CheckpointerError::IOError(e)),
        }
    }

    fn restore(&self, epoch: usize) -> Result<R, CheckpointerError> {
        R::load(part_path(&self.dir, self.part, epoch))
    }
}

/// Keeps the latest checkpoint (to resume) and the best one (lowest validation top-1 error);
/// saves nothing once the run has diverged, so the last good checkpoint survives.
pub struct KeepLastAndBest {
    state: SharedState,
    saved: BTreeSet<usize>,
}

impl KeepLastAndBest {
    /// The strategy, aware of the checkpoints already in `dir` (from an earlier session).
    pub fn new(state: SharedState, dir: &Path) -> Self {
        Self {
            state,
            saved: epochs_on_disk(dir).into_iter().collect(),
        }
    }
}

impl KeepLastAndBest {
    /// The actions for the end of `epoch`.
    fn decide(&mut self, epoch: usize) -> Vec<CheckpointingAction> {
        let (diverged, best) = {
            let s = self.state.lock();
            (s.diverged, s.best_epoch)
        };
        if diverged {
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

impl CheckpointingStrategy for KeepLastAndBest {
    fn checkpointing(
        &mut self,
        epoch: usize,
        _store: &EventStoreClient,
    ) -> Vec<CheckpointingAction> {
        self.decide(epoch)
    }
}

/// Epochs that have at least one checkpoint file in `dir`.
pub fn epochs_on_disk(dir: &Path) -> Vec<usize> {
    let Ok(rd) = std::fs::read_dir(dir) else {
        return Vec::new();
    };
    let mut epochs: BTreeSet<usize> = BTreeSet::new();
    for entry in rd.flatten() {
        let name = entry.file_name().to_string_lossy().into_owned();
        if let Some(stem) = name.strip_suffix(".bpk")
            && let Some((part, epoch)) = stem.rsplit_once('-')
            && PARTS.contains(&part)
            && let Ok(e) = epoch.parse()
        {
            epochs.insert(e);
        }
    }
    epochs.into_iter().collect()
}

/// Whether all three files of `epoch` exist and decode.
pub fn is_complete(dir: &Path, epoch: usize) -> bool {
    use burn::optim::OptimizerRecord;
    use burn::store::ModuleRecord;
    ModuleRecord::load(part_path(dir, "model", epoch)).is_ok()
        && OptimizerRecord::load(part_path(dir, "optim", epoch)).is_ok()
        && LrSchedulerRecord::load(part_path(dir, "scheduler", epoch)).is_ok()
}

/// The latest epoch `<= max_epoch` with a complete checkpoint.
pub fn latest_complete(dir: &Path, max_epoch: usize) -> Option<usize> {
    epochs_on_disk(dir)
        .into_iter()
        .rev()
        .filter(|e| *e <= max_epoch)
        .find(|e| is_complete(dir, *e))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keeps_only_the_latest_and_the_best_epoch() {
        let dir = tempfile::tempdir().unwrap();
        let state = SharedState::default();
        let mut s = KeepLastAndBest::new(state.clone(), dir.path());
        let mut run = |epoch: usize, err: f64| {
            state.lock().end_epoch(epoch, err, 1.0, None);
            let actions = s.decide(epoch);
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
    fn saves_nothing_after_divergence() {
        let dir = tempfile::tempdir().unwrap();
        let state = SharedState::default();
        let mut s = KeepLastAndBest::new(state.clone(), dir.path());
        state.lock().end_epoch(1, 50.0, f64::INFINITY, None);
        assert!(s.decide(1).is_empty());
    }

    #[test]
    fn finds_epochs_on_disk_and_ignores_other_files() {
        let dir = tempfile::tempdir().unwrap();
        for name in [
            "model-3.bpk",
            "optim-3.bpk",
            "model-10.bpk",
            "notes.txt",
            "x-1.bpk",
        ] {
            std::fs::write(dir.path().join(name), b"x").unwrap();
        }
        assert_eq!(epochs_on_disk(dir.path()), vec![3, 10]);
        // Garbage bytes are not a complete checkpoint.
        assert_eq!(latest_complete(dir.path(), 100), None);
    }
}
