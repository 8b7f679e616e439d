//! One agent per run directory.
//!
//! `sensor run` owns the pinned maps under its pin directory and removes stale ones on
//! start; a second agent doing the same would pull the maps from under the first. An
//! exclusive `flock` on `<run dir>/sensor.lock` stops that, and the kernel drops the lock
//! when the process dies, however it dies.

use std::{
    fs::{self, DirBuilder, OpenOptions},
    io,
    os::unix::fs::DirBuilderExt,
    path::{Path, PathBuf},
};

use nix::fcntl::{Flock, FlockArg};

/// Why the lock could not be taken.
#[derive(Debug, thiserror::Error)]
pub enum LockError {
    /// The run directory or lock file could not be made.
    #[error("failed to create {path}")]
    Create {
        /// The path.
        path: PathBuf,
        /// The cause.
        #[source]
        source: io::Error,
    },
    /// Another agent holds the lock.
    #[error("another sensor agent is running with run directory {dir} (lock {path} is held)")]
    Held {
        /// The run directory.
        dir: PathBuf,
        /// The lock file.
        path: PathBuf,
    },
}

/// Held for as long as the agent runs.
#[derive(Debug)]
pub struct InstanceLock {
    _lock: Flock<fs::File>,
}

impl InstanceLock {
    /// Creates `dir` (mode 0700) if needed and takes the lock without waiting.
    pub fn acquire(dir: &Path) -> Result<Self, LockError> {
        DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(dir)
            .map_err(|source| LockError::Create {
                path: dir.to_path_buf(),
                source,
            })?;
        let path = dir.join("sensor.lock");
        let file = OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&path)
            .map_err(|source| LockError::Create {
                path: path.clone(),
                source,
            })?;
        let lock =
            Flock::lock(file, FlockArg::LockExclusiveNonblock).map_err(|_| LockError::Held {
                dir: dir.to_path_buf(),
                path,
            })?;
        Ok(Self { _lock: lock })
    }
}

#[cfg(test)]
mod tests {
    use super::{InstanceLock, LockError};

    #[test]
    fn second_lock_is_refused_until_first_is_dropped() {
        let dir = std::env::temp_dir().join(format!("sensor-lock-test-{}", std::process::id()));
        let first = InstanceLock::acquire(&dir).unwrap();
        assert!(matches!(
            InstanceLock::acquire(&dir),
            Err(LockError::Held { .. })
        ));
        drop(first);
        assert!(InstanceLock::acquire(&dir).is_ok());
        let _ = std::fs::remove_dir_all(dir);
    }
}
