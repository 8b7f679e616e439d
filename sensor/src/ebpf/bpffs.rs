//! The BPF filesystem the maps are pinned on.
//!
//! Pins only work on a `bpf` filesystem (normally mounted at `/sys/fs/bpf`). Checking that up
//! front turns a puzzling `EPERM` from the pin call into a message that says what to mount.

use std::{
    fs, io,
    path::{Path, PathBuf},
};

use nix::{
    mount::{MsFlags, mount},
    sys::statfs::{FsType, statfs},
};
use tracing::info;

/// `BPF_FS_MAGIC` from `include/uapi/linux/magic.h`.
const BPF_FS_MAGIC: FsType = FsType(0xcafe_4a11);

/// Why a pin directory cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum BpffsError {
    /// The directory is not on a bpf filesystem.
    #[error(
        "{path} is not on a bpf filesystem; mount one with `mount -t bpf bpf /sys/fs/bpf` \
         or choose another --pin-dir"
    )]
    NotBpffs {
        /// The directory.
        path: PathBuf,
    },
    /// The directory could not be created or inspected.
    #[error("failed to prepare pin directory {path}")]
    Io {
        /// The directory.
        path: PathBuf,
        /// The cause.
        #[source]
        source: io::Error,
    },
}

/// Where the kernel's bpf filesystem is conventionally mounted.
pub const BPFFS_ROOT: &str = "/sys/fs/bpf";

/// Makes sure `dir` exists on a bpf filesystem. When `dir` is under `/sys/fs/bpf` and nothing
/// is mounted there yet (a minimal host without systemd's mount), mounts it, as bpftool does.
pub fn prepare(dir: &Path) -> Result<(), BpffsError> {
    let root = Path::new(BPFFS_ROOT);
    if dir.starts_with(root) && root.is_dir() && !is_bpffs(root)? {
        mount(
            Some("bpf"),
            root,
            Some("bpf"),
            MsFlags::empty(),
            None::<&str>,
        )
        .map_err(|errno| BpffsError::Io {
            path: root.to_path_buf(),
            source: errno.into(),
        })?;
        info!(path = BPFFS_ROOT, "mounted the bpf filesystem");
    }
    let existing = dir.ancestors().find(|p| p.exists()).unwrap_or(dir);
    if !is_bpffs(existing)? {
        return Err(BpffsError::NotBpffs {
            path: existing.to_path_buf(),
        });
    }
    fs::create_dir_all(dir).map_err(|source| BpffsError::Io {
        path: dir.to_path_buf(),
        source,
    })
}

fn is_bpffs(path: &Path) -> Result<bool, BpffsError> {
    let stat = statfs(path).map_err(|errno| BpffsError::Io {
        path: path.to_path_buf(),
        source: errno.into(),
    })?;
    Ok(stat.filesystem_type().0 == BPF_FS_MAGIC.0)
}

/// Removes a pin if it exists; returns whether there was one.
pub fn remove_pin(path: &Path) -> Result<bool, BpffsError> {
    match fs::remove_file(path) {
        Ok(()) => Ok(true),
        Err(err) if err.kind() == io::ErrorKind::NotFound => Ok(false),
        Err(source) => Err(BpffsError::Io {
            path: path.to_path_buf(),
            source,
        }),
    }
}
