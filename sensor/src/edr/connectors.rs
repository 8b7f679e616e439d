//! The agent's EDR connectors, as the config file lists them, each polling on its own
//! interval; their state for `sensor edr status`.
//!
//! ```toml
//! [[edr]]
//! name = "defender"
//! vendor = "microsoft"
//! tenant = "5f2e7c1a-0b7d-4c55-9a51-2f1d6c8e9a10"
//! client_id = "0a1b2c3d-..."                 # an app with SecurityAlert.Read.All
//! token_env = "GRAPH_CLIENT_SECRET"          # (and ThreatHunting.Read.All for hosts)
//! # console = "https://graph.microsoft.com"  # the default; a national cloud's Graph
//! # hunting_per_minute = 10                  # 0: no OS/CVE enrichment
//! # hosts_every = "6h"                       # how old a host's context may get
//!
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
    poll::{PollError, Poller, Source},
};

const fn default_interval() -> Duration {
    Duration::from_mins(1)
}

const fn default_hosts_every() -> Duration {
    Duration::from_hours(6)
}

const fn default_hunting_per_minute() -> u32 {
    10
}

/// One connector, as the config file gives it.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EdrConfig {
    /// A name, unique among connectors: it keys the cursor.
    pub name: String,
    /// The vendor.
    pub vendor: Vendor,
    /// The console (SentinelOne, required) or API base URL (Falcon: the region's, by
    /// default `https://api.crowdstrike.com`; Microsoft: Graph's, by default
    /// `https://graph.microsoft.com`).
    #[serde(default)]
    pub console: Option<String>,
    /// Falcon and Microsoft: the API client (app) id; its secret goes in `token_file` or
    /// `token_env`.
    #[serde(default)]
    pub client_id: Option<String>,
    /// Microsoft: the Entra ID tenant.
    #[serde(default)]
    pub tenant: Option<String>,
    /// Microsoft: the Entra ID authority.
    #[serde(default)]
    pub login: Option<String>,
    /// Microsoft: Advanced Hunting queries a minute for host enrichment (0: none).
    #[serde(default = "default_hunting_per_minute")]
    pub hunting_per_minute: u32,
    /// How old what the EDR knows of a host may get before it is asked again.
    #[serde(
        default = "default_hosts_every",
        deserialize_with = "crate::config_file::duration"
    )]
    pub hosts_every: Duration,
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
    /// Hosts the vendor told us about (OS, vulnerabilities) since the agent started.
    pub hosts: u64,
}

/// Every connector's status, by name.
pub type Statuses = Arc<Mutex<BTreeMap<String, ConnectorStatus>>>;

/// The token a connector is configured with.
fn token(c: &EdrConfig) -> Result<String, String> {
    if let Some(f) = &c.token_file {
        return std::fs::read_to_string(f)
            .map(|t| t.trim().to_owned())
            .map_err(|e| format!("failed to read token_file {}: {e}", f.display()));
    }
    if let Some(v) = &c.token_env {
        return std::env::var(v)
            .map(|t| t.trim().to_owned())
            .map_err(|_| format!("environment variable {v} is not set"));
    }
    Err("give token_file or token_env (secrets never go in the config)".to_owned())
}

/// The vendor API a connector polls.
fn source(c: &EdrConfig) -> Result<Box<dyn Source>, String> {
    let console = c.console.as_deref().map(|u| u.trim_end_matches('/'));
    let client_id = || {
        c.client_id
            .as_deref()
            .ok_or_else(|| format!("a {} connector needs client_id", c.vendor.as_str()))
    };
    Ok(match c.vendor {
        Vendor::Sentinelone => Box::new(super::sentinelone::api::Api::new(
            console.ok_or("a sentinelone connector needs console (its URL)")?,
            &token(c)?,
            c.ca_file.as_deref(),
        )?),
        Vendor::Crowdstrike => Box::new(super::crowdstrike::api::Api::new(
            console.unwrap_or("https://api.crowdstrike.com"),
            client_id()?,
            &token(c)?,
            c.ca_file.as_deref(),
        )?),
        Vendor::Microsoft => Box::new(super::microsoft::api::Api::new(
            &super::microsoft::api::Endpoints {
                graph: console.unwrap_or("https://graph.microsoft.com").to_owned(),
                login: c
                    .login
                    .clone()
                    .unwrap_or_else(|| "https://login.microsoftonline.com".to_owned()),
                tenant: c
                    .tenant
                    .clone()
                    .ok_or("a microsoft connector needs tenant (the Entra ID tenant id)")?,
            },
            client_id()?,
            &token(c)?,
            c.ca_file.as_deref(),
            c.hunting_per_minute,
        )?),
    })
}

/// Starts one polling task per connector.
pub fn spawn_all(
    configs: &[EdrConfig],
    db_path: &Path,
    statuses: &Statuses,
    wake: &Arc<tokio::sync::Notify>,
    polling: &Arc<std::sync::atomic::AtomicUsize>,
) -> Result<Vec<JoinHandle<()>>, String> {
    let mut tasks = Vec::new();
    for c in configs {
        let source = source(c).map_err(|e| format!("connector {}: {e}", c.name))?;
        let poller = Poller {
            name: c.name.clone(),
            source,
            db_path: db_path.to_path_buf(),
            backoff: Duration::from_secs(2),
        };
        let statuses = Arc::clone(statuses);
        let (interval, hosts_every) = (c.interval, c.hosts_every);
        let wake = Arc::clone(wake);
        let polling = Arc::clone(polling);
        if let Ok(mut s) = statuses.lock() {
            c.vendor
                .as_str()
                .clone_into(&mut s.entry(c.name.clone()).or_default().vendor);
        }
        tasks.push(tokio::spawn(async move {
            let mut tick = tokio::time::interval(interval);
            loop {
                tick.tick().await;
                polling.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                let outcome = poller.poll().await;
                polling.fetch_sub(1, std::sync::atomic::Ordering::SeqCst);
                if outcome.as_ref().is_ok_and(|s| s.stored + s.updated > 0) {
                    wake.notify_one();
                }
                let hosts = match outcome {
                    Ok(_) => Some(poller.refresh_hosts(hosts_every).await),
                    Err(_) => None,
                };
                let now = Utc::now();
                let Ok(mut all) = statuses.lock() else {
                    continue;
                };
                let s = all.entry(poller.name.clone()).or_default();
                s.last_poll = Some(now);
                let failed = |s: &mut ConnectorStatus, what: &str, err: &PollError| {
                    s.errors += 1;
                    let text = match err {
                        // The store's errors say what failed; their causes say why.
                        PollError::Store(e) => format!("{what}: {}", crate::http_client::chain(e)),
                        PollError::Fetch { .. } => format!("{what}: {err}"),
                    };
                    if s.last_error.as_deref() != Some(text.as_str()) {
                        warn!(connector = %poller.name, error = %text, "EDR connector failed; retrying next interval");
                    }
                    s.last_error = Some(text);
                };
                match outcome {
                    Ok(stats) => {
                        s.last_ok = Some(now);
                        s.stored += stats.stored;
                        s.updated += stats.updated;
                        s.invalid += stats.invalid;
                    }
                    Err(err) => {
                        // An answer that is not the vendor's shape is an invalid record too.
                        if matches!(
                            err,
                            PollError::Fetch {
                                source: super::poll::FetchError::Body(_),
                                ..
                            }
                        ) {
                            s.invalid += 1;
                        }
                        failed(s, "alert poll", &err);
                    }
                }
                match hosts {
                    Some(Ok(n)) => s.hosts += n as u64,
                    Some(Err(err)) => failed(s, "host enrichment", &err),
                    None => {}
                }
            }
        }));
    }
    Ok(tasks)
}
