//! Checkpoints: burnpack files written atomically, and the discovery of the latest complete
//! checkpoint for resuming (which checkpoints to keep is decided in `epoch_end.rs`).

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use crate::results::write_atomic;
use burn::lr_scheduler::LrSchedulerRecord;
use burn::train::checkpoint::{Checkpoint, Checkpointer, CheckpointerError};

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
