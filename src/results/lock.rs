//! One process per run directory: an advisory lock (`flock`) on `<run dir>/lock`, holding the
//! owner's pid. The operating system drops the lock when its process dies, so the lock of a
//! killed run is taken over by the next one, which says so.

use std::fs::{File, OpenOptions, TryLockError};
use std::io::{Read, Seek, Write};
use std::path::Path;

use super::ResultsError;

/// A held run-directory lock; released on drop.
#[derive(Debug)]
pub struct RunLock {
    file: File,
}

impl RunLock {
    /// Locks `dir` (creating it), or fails if another live process holds it.
    pub fn acquire(dir: &Path) -> Result<RunLock, ResultsError> {
        std::fs::create_dir_all(dir).map_err(|e| ResultsError::io(dir, e))?;
        let path = dir.join("lock");
        let mut file = OpenOptions::new()
            .create(true)
            .truncate(false)
            .read(true)
            .write(true)
            .open(&path)
            .map_err(|e| ResultsError::io(&path, e))?;
        let mut owner = String::new();
        let _ = file.read_to_string(&mut owner);
        let owner = owner.trim().to_string();
        match file.try_lock() {
            Ok(()) => {}
            Err(TryLockError::WouldBlock) => {
                return Err(ResultsError::Locked {
                    dir: dir.to_path_buf(),
                    pid: if owner.is_empty() {
                        "unknown".into()
                    } else {
                        owner
                    },
                });
            }
            Err(TryLockError::Error(e)) => return Err(ResultsError::io(&path, e)),
        }
        if !owner.is_empty() && owner != std::process::id().to_string() {
            crate::console::warning(format!(
                "note: {}: process {owner} died holding this run; taking over its lock",
                dir.display()
            ));
        }
        file.set_len(0).map_err(|e| ResultsError::io(&path, e))?;
        file.rewind().map_err(|e| ResultsError::io(&path, e))?;
        write!(file, "{}", std::process::id()).map_err(|e| ResultsError::io(&path, e))?;
        file.sync_all().map_err(|e| ResultsError::io(&path, e))?;
        Ok(RunLock { file })
    }
}

impl Drop for RunLock {
    fn drop(&mut self) {
        // An empty lock file means "released cleanly"; the flock goes with the descriptor.
        let _ = self.file.set_len(0);
        let _ = self.file.unlock();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_second_lock_on_the_same_directory_is_refused_until_the_first_is_dropped() {
        let dir = tempfile::tempdir().unwrap();
        let first = RunLock::acquire(dir.path()).unwrap();
        let err = RunLock::acquire(dir.path()).unwrap_err().to_string();
        assert!(err.contains("another vgg-train process"), "{err}");
        assert!(err.contains(&std::process::id().to_string()), "{err}");
        drop(first);
        assert!(RunLock::acquire(dir.path()).is_ok());
    }

    #[test]
    fn the_lock_of_a_dead_process_is_taken_over() {
        let dir = tempfile::tempdir().unwrap();
        // A pid left behind by a killed process, with no flock held any more.
        std::fs::write(dir.path().join("lock"), "999999").unwrap();
        let lock = RunLock::acquire(dir.path()).unwrap();
        let owner = std::fs::read_to_string(dir.path().join("lock")).unwrap();
        assert_eq!(owner, std::process::id().to_string());
        drop(lock);
    }
}
