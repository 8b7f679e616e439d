//! The API socket. The agent is privileged and its API can quarantine devices, so it is
//! for root alone: the socket is mode 0600 inside a 0700 directory, and every connection's
//! peer credentials are checked as well (a second lock, should the modes ever be loosened).

use std::{
    fs::{self, DirBuilder, Permissions},
    io,
    os::unix::fs::{DirBuilderExt as _, PermissionsExt as _},
    path::{Path, PathBuf},
    time::Duration,
};

use tokio::net::{UnixListener, UnixStream, unix::SocketAddr};
use tracing::warn;

/// Why the socket could not be made.
#[derive(Debug, thiserror::Error)]
#[error("failed to {what} {path}")]
pub struct BindError {
    what: &'static str,
    path: PathBuf,
    #[source]
    source: io::Error,
}

/// A listener that accepts only the peers `allowed` says yes to (root and the agent's own
/// user by default).
pub struct RootOnly {
    inner: UnixListener,
    allowed: fn(u32, u32) -> bool,
    own_uid: u32,
}

/// Root, or whoever the agent runs as.
pub fn root_or_self(peer: u32, own: u32) -> bool {
    peer == 0 || peer == own
}

impl RootOnly {
    /// Binds `path`: makes its directory (0700) if needed, replaces a stale socket, and
    /// sets the socket's mode to 0600.
    pub fn bind(path: &Path) -> Result<Self, BindError> {
        let err = |what, path: &Path| {
            let path = path.to_path_buf();
            move |source| BindError { what, path, source }
        };
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            DirBuilder::new()
                .recursive(true)
                .mode(0o700)
                .create(dir)
                .map_err(err("create", dir))?;
        }
        match fs::remove_file(path) {
            Ok(()) => {}
            Err(e) if e.kind() == io::ErrorKind::NotFound => {}
            Err(e) => return Err(err("remove the stale socket", path)(e)),
        }
        let inner = UnixListener::bind(path).map_err(err("bind", path))?;
        fs::set_permissions(path, Permissions::from_mode(0o600))
            .map_err(err("restrict the mode of", path))?;
        Ok(Self {
            inner,
            allowed: root_or_self,
            own_uid: nix::unistd::geteuid().as_raw(),
        })
    }

    /// Uses `allowed(peer_uid, own_uid)` to decide who may talk (tests use it to lock
    /// root out).
    #[must_use]
    pub fn with_policy(mut self, allowed: fn(u32, u32) -> bool) -> Self {
        self.allowed = allowed;
        self
    }
}

impl axum::serve::Listener for RootOnly {
    type Io = UnixStream;
    type Addr = SocketAddr;

    async fn accept(&mut self) -> (Self::Io, Self::Addr) {
        loop {
            let (stream, addr) = match self.inner.accept().await {
                Ok(pair) => pair,
                Err(err) => {
                    // Out of descriptors, most likely: wait rather than spin.
                    warn!(error = %err, "failed to accept an API connection");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    continue;
                }
            };
            match stream.peer_cred() {
                Ok(cred) if (self.allowed)(cred.uid(), self.own_uid) => return (stream, addr),
                Ok(cred) => {
                    warn!(
                        uid = cred.uid(),
                        pid = cred.pid(),
                        "refused an API connection from another user"
                    );
                }
                Err(err) => warn!(error = %err, "refused an API connection without credentials"),
            }
        }
    }

    fn local_addr(&self) -> io::Result<Self::Addr> {
        self.inner.local_addr()
    }
}
