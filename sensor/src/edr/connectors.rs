//! The agent's EDR connectors, as the config file lists them, each polling on its own
//! interval; their state for `sensor edr status`.
//!
//! ```toml
//! [[edr]]
//! name = "falcon"
//! vendor = "crowdstrike"
//! console = "https://api.eu-1.crowdstrike.com"
//! client_id = "0123abcd..."
//! token_env = "FALCON_CLIENT_SECRET"
//!
//! [[edr]]
//! name = "s1"
//! vendor = "sentinelone"
//! console = "https://usea1-acme.sentinelone.net"
//! token_file = "/etc/sensor/s1.token"   # or token_env = "S1_API_TOKEN"; never logged
//! interval = "60s"
//! ca_file = "/etc/sensor/private-ca.pem" # optional extra roots; TLS is always verified
//! ```

use std::{
    collections::BTreeMap,
    path::{Path, PathBuf},
    sync::{Arc, Mutex},
    time::Duration,
};

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use tokio::task::JoinHandle;
use tracing::warn;

use super::{
    Vendor,
    poll::{Poller, Source},
};

const fn default_interval() -> Duration {
    Duration::from_mins(1)
}

/// One connector, as the config file gives it.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EdrConfig {
    /// A name, unique among connectors: it keys the cursor.
    pub name: String,
    /// The vendor.
    pub vendor: Vendor,
    /// The console (SentinelOne) or API base URL (Falcon: the region's, e.g.
    /// `https://api.eu-1.crowdstrike.com`).
    pub console: String,
    /// Falcon: the API client id (its secret goes in `token_file` or `token_env`).
    #[serde(default)]
    pub client_id: Option<String>,
    /// A file holding the API token (Falcon: the client secret).
    #[serde(default)]
    pub token_file: Option<PathBuf>,
    /// An environment variable holding the API token.
    #[serde(default)]
    pub token_env: Option<String>,
    /// Extra roots to trust.
    #[serde(default)]
    pub ca_file: Option<PathBuf>,
    /// Time between polls.
    #[serde(
        default = "default_interval",
        deserialize_with = "crate::config_file::duration"
    )]
    pub interval: Duration,
}

/// What `sensor edr status` shows of one connector.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ConnectorStatus {
    /// The vendor.
    pub vendor: String,
    /// The last poll's end.
    pub last_poll: Option<DateTime<Utc>>,
    /// The last poll that succeeded.
    pub last_ok: Option<DateTime<Utc>>,
    /// Alerts stored since the agent started.
    pub stored: u64,
    /// Alerts updated in place since the agent started.
    pub updated: u64,
    /// Records that could not be read since the agent started.
    pub invalid: u64,
    /// Polls that failed since the agent started.
    pub errors: u64,
    /// The last failure.
    pub last_error: Option<String>,
    /// The stored cursor.
    pub cursor: Option<String>,
}

/// Every connector's status, by name.
pub type Statuses = Arc<Mutex<BTreeMap<String, ConnectorStatus>>>;

/// The token a connector is configured with.
fn token(c: &EdrConfig) -> Result<String, String> {
    if let Some(f) = &c.token_file {
        return std::fs::read_to_string(f)
            .map(|t| t.trim().to_owned())
            .map_err(|e| {
                format!(
                    "connector {}: failed to read token_file {}: {e}",
                    c.name,
                    f.display()
                )
            });
    }
    if let Some(v) = &c.token_env {
        return std::env::var(v)
            .map(|t| t.trim().to_owned())
            .map_err(|_| format!("connector {}: environment variable {v} is not set", c.name));
    }
    Err(format!(
        "connector {}: give token_file or token_env (secrets never go in the config)",
        c.name
    ))
}

/// Starts one polling task per connector.
pub fn spawn_all(
    configs: &[EdrConfig],
    db_path: &Path,
    statuses: &Statuses,
) -> Result<Vec<JoinHandle<()>>, String> {
    let mut tasks = Vec::new();
    for c in configs {
        let source: Box<dyn Source> = match c.vendor {
            Vendor::Sentinelone => Box::new(
                super::sentinelone::api::Api::new(&c.console, &token(c)?, c.ca_file.as_deref())
                    .map_err(|e| format!("connector {}: {e}", c.name))?,
            ),
            Vendor::Crowdstrike => {
                let id = c.client_id.as_deref().ok_or_else(|| {
                    format!("connector {}: a Falcon connector needs client_id", c.name)
                })?;
                Box::new(
                    super::crowdstrike::api::Api::new(
                        &c.console,
                        id,
                        &token(c)?,
                        c.ca_file.as_deref(),
                    )
                    .map_err(|e| format!("connector {}: {e}", c.name))?,
                )
            }
            Vendor::Microsoft => {
                return Err(format!(
                    "connector {}: the {} poller is not built yet (import its alerts with \
                     `sensor edr import`)",
                    c.name,
                    c.vendor.as_str()
                ));
            }
        };
        let poller = Poller {
            name: c.name.clone(),
            source,
            db_path: db_path.to_path_buf(),
            backoff: Duration::from_secs(2),
        };
        let statuses = Arc::clone(statuses);
        let interval = c.interval;
        if let Ok(mut s) = statuses.lock() {
            c.vendor
                .as_str()
                .clone_into(&mut s.entry(c.name.clone()).or_default().vendor);
        }
        tasks.push(tokio::spawn(async move {
            let mut tick = tokio::time::interval(interval);
            loop {
                tick.tick().await;
                let result = poller.poll().await;
                let now = Utc::now();
                let Ok(mut all) = statuses.lock() else {
                    continue;
                };
                let s = all.entry(poller.name.clone()).or_default();
                s.last_poll = Some(now);
                match result {
                    Ok(stats) => {
                        s.last_ok = Some(now);
                        s.stored += stats.stored;
                        s.updated += stats.updated;
                        s.invalid += stats.invalid;
                    }
                    Err(err) => {
                        s.errors += 1;
                        let text = format!("{err:#}");
                        if s.last_error.as_deref() != Some(text.as_str()) {
                            warn!(connector = %poller.name, error = %text, "EDR poll failed; retrying next interval");
                        }
                        s.last_error = Some(text);
                    }
                }
            }
        }));
    }
    Ok(tasks)
}
