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

/// Who is asking, for the action log: `cli:` and the login behind sudo, else the user.
pub fn who() -> String {
    let user = std::env::var("SUDO_USER")
        .or_else(|_| std::env::var("USER"))
        .unwrap_or_else(|_| format!("uid {}", nix::unistd::getuid()));
    format!("cli:{user}")
}
