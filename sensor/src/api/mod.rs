//! The agent's local API: HTTP/JSON over a unix socket that only root may use. Every
//! `sensor` command that asks the running agent goes through here.
//!
//! # Layout
//! - [`listener`]: the socket (mode 0600 in a 0700 directory) and the peer check.
//! - [`routes`]: the endpoints.
//! - [`client`]: the CLI's side.
//! - [`metrics`]: Prometheus text for `/metrics`.
//!
//! # Endpoints
//! `GET /v1/status`, `/v1/flows`, `/v1/conns`, `/v1/devices`, `/v1/devices/{who}`,
//! `/v1/devices/{who}/log`, `/v1/rules`, `/v1/actions`, `/v1/breaches`, `/v1/incidents`;
//! `POST /v1/actions` (block, suspend, quarantine), `POST /v1/actions/{id}/clear`;
//! `GET /metrics`.

pub mod actions;
pub mod client;
pub mod incidents;
pub mod listener;
pub mod metrics;
pub mod routes;

use std::{collections::BTreeMap, net::IpAddr};

use serde::{Deserialize, Serialize};

use crate::telemetry::AgentStats;

/// Where the agent listens unless told otherwise.
pub const DEFAULT_SOCKET: &str = "/run/sensor/sensor.sock";

/// `GET /v1/status`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Status {
    /// Where the maps are pinned.
    pub pin_dir: String,
    /// Live flows in the kernel table.
    pub flows: usize,
    /// The data path's counters, summed over CPUs.
    pub counters: BTreeMap<String, u64>,
    /// The agent's own counters.
    pub agent: Option<AgentStats>,
    /// Active response actions.
    pub active_actions: usize,
}

/// `GET /v1/flows` filters.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct FlowsQuery {
    /// Either side's address.
    pub addr: Option<IpAddr>,
    /// Either side's port.
    pub port: Option<u16>,
    /// `tcp`, `udp`, `icmp`, `icmpv6` or a number.
    pub proto: Option<String>,
    /// A VLAN id, outer or inner.
    pub vlan: Option<u16>,
}

impl FlowsQuery {
    /// Whether `flow` passes the filters.
    pub fn matches(&self, flow: &crate::capture::LiveFlow) -> bool {
        self.addr.is_none_or(|a| flow.involves_addr(a))
            && self.port.is_none_or(|p| flow.involves_port(p))
            && self.proto.as_ref().is_none_or(|p| &flow.proto == p)
            && self.vlan.is_none_or(|v| flow.vlan.contains(&v))
    }
}

/// `GET /v1/conns` filters.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ConnsQuery {
    /// Started at or after (RFC 3339).
    pub since: Option<chrono::DateTime<chrono::Utc>>,
    /// Started before (RFC 3339).
    pub until: Option<chrono::DateTime<chrono::Utc>>,
    /// Either side's address.
    pub addr: Option<IpAddr>,
    /// At most this many (0: all).
    pub limit: Option<usize>,
}

/// `GET /v1/actions` and `/v1/devices/{who}/log` filters.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ListQuery {
    /// Only actions in this state.
    pub state: Option<String>,
    /// At most this many (0: all).
    pub limit: Option<usize>,
}

/// `GET /v1/breaches` filters.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct BreachesQuery {
    /// The device: an address, a MAC, a host name or an id.
    pub device: Option<String>,
    /// The model.
    pub model: Option<String>,
    /// At least this score.
    pub min_score: Option<u8>,
    /// Since (RFC 3339).
    pub since: Option<chrono::DateTime<chrono::Utc>>,
    /// At most this many (0: all).
    pub limit: Option<usize>,
}

impl BreachesQuery {
    /// Runs the query on a store.
    pub fn run(
        &self,
        store: &mut crate::store::Store,
    ) -> anyhow::Result<Vec<crate::detect::Breach>> {
        let device = self
            .device
            .as_deref()
            .map(|who| device_id(store, who))
            .transpose()?;
        Ok(store.breaches(&crate::store::breaches::BreachQuery {
            device_id: device,
            model: self.model.clone(),
            min_score: self.min_score.unwrap_or(0),
            since: self.since,
            limit: self.limit.unwrap_or(50),
        })?)
    }
}

/// `GET /v1/edr_alerts` filters.
#[derive(Clone, Debug, Default, serde::Serialize, serde::Deserialize)]
pub struct EdrQuery {
    /// The device.
    pub device: Option<String>,
    /// At most this many.
    pub limit: Option<usize>,
    /// Only those that surfaced as unusual.
    #[serde(default)]
    pub unusual: bool,
}

impl EdrQuery {
    /// Runs the query on a store.
    pub fn run(
        &self,
        store: &mut crate::store::Store,
    ) -> anyhow::Result<Vec<crate::store::edr::StoredAlert>> {
        let device = self
            .device
            .as_deref()
            .map(|who| device_id(store, who))
            .transpose()?;
        Ok(store.edr_alerts_where(device, self.unusual, self.limit.unwrap_or(50))?)
    }
}

/// The device an analyst means by `who` (an address held now, a MAC, a host name, an id),
/// or an error that says where to look.
pub fn device_id(store: &mut crate::store::Store, who: &str) -> anyhow::Result<i64> {
    let now = chrono::Utc::now().timestamp_nanos_opt().unwrap_or(i64::MAX);
    store
        .find_device(who, now)?
        .ok_or_else(|| anyhow::anyhow!("no device known as {who} (see `sensor devices`)"))
}

/// `POST /v1/actions/{id}/clear`, `/approve` and `/reactivate`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ClearRequest {
    /// Who clears it.
    pub who: String,
}

/// `POST /v1/devices/{who}/tags`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct TagRequest {
    /// The tag.
    pub tag: String,
    /// Remove it instead.
    #[serde(default)]
    pub remove: bool,
}

/// `POST /v1/actions/{id}/extend`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ExtendRequest {
    /// The new total duration, in seconds, from when the action became active.
    pub total_s: u64,
    /// Who extends it.
    pub who: String,
}

/// The body of every error answer.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ErrorBody {
    /// What went wrong and, where it can, what to do.
    pub error: String,
}
