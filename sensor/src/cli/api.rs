//! How a command reaches the agent: its API socket, or (for reads that make sense without
//! an agent) a database or pinned maps read directly.

use std::path::PathBuf;

use crate::api::{DEFAULT_SOCKET, client::Client};

/// The agent's socket.
#[derive(Debug, clap::Args)]
pub struct ApiArgs {
    /// The running agent's API socket.
    #[arg(long, value_name = "PATH", default_value = DEFAULT_SOCKET, env = "SENSOR_SOCKET")]
    pub socket: PathBuf,
}

impl ApiArgs {
    /// A client of the agent.
    pub fn client(&self) -> Client {
        Client::new(&self.socket)
    }
}

/// For reads that make sense without an agent: the agent's API, or a database read
/// directly.
#[derive(Debug, clap::Args)]
pub struct DbSource {
    #[command(flatten)]
    pub api: ApiArgs,
    /// Read the database in this state directory directly instead of asking the agent
    /// (a replay's, or the agent's while it is down).
    #[arg(long, value_name = "DIR")]
    pub state_dir: Option<PathBuf>,
}

/// Who is asking, for the action log: `cli:` and the login behind sudo, else the user.
pub fn who() -> String {
    let uid = nix::unistd::getuid();
    let user = std::env::var("SUDO_USER")
        .ok()
        .filter(|u| !u.is_empty())
        .or_else(|| {
            nix::unistd::User::from_uid(uid)
                .ok()
                .flatten()
                .map(|u| u.name)
        })
        .unwrap_or_else(|| format!("uid {uid}"));
    format!("cli:{user}")
}
