//! What an analyst asks about one device: a summary (services it used and served, its
//! peers, breaches, EDR alerts and what the EDRs know of it, actions on it) and its event
//! log, one timeline of connections and events.

use chrono::{DateTime, Utc};
use rusqlite::params;
use serde::{Deserialize, Serialize};

use super::{Store, StoreError, devices::Device, sql};
use crate::response::Action;

/// A service by protocol and port, with how often and how much.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ServiceUse {
    /// `tcp`, `udp`, ...
    pub proto: String,
    /// The responder's port.
    pub port: u16,
    /// What the payload said it is (`http`, `tls`, `ssh`, ...), if anything.
    pub service: Option<String>,
    /// Connections.
    pub connections: u64,
    /// Bytes both ways.
    pub bytes: u64,
}

/// A peer and how much the device spoke with it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Peer {
    /// The peer's address.
    pub addr: String,
    /// Connections.
    pub connections: u64,
    /// Bytes both ways.
    pub bytes: u64,
}

/// `sensor device`'s answer.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct DeviceSummary {
    /// The device, with its addresses over time.
    pub device: Device,
    /// Services it connected to.
    pub services_used: Vec<ServiceUse>,
    /// Services others connected to on it.
    pub services_served: Vec<ServiceUse>,
    /// Its busiest peers.
    pub peers: Vec<Peer>,
    /// Actions taken on it, newest first.
    pub actions: Vec<Action>,
    /// Its latest breaches, newest first.
    pub breaches: Vec<crate::detect::Breach>,
    /// Its risk, 0-100: its breaches of the week before the latest, aggregated so that
    /// many weak ones cannot outweigh a strong one (see `detect::device_risk`).
    pub risk: u8,
    /// Its latest EDR alerts, newest first, with their links to the vendors' consoles.
    pub edr_alerts: Vec<super::edr::StoredAlert>,
    /// What the EDRs know of it: OS, vulnerabilities.
    pub edr_hosts: Vec<crate::edr::host::HostContext>,
    /// Its tags.
    #[serde(default)]
    pub tags: Vec<String>,
}

/// One entry of a device's timeline.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct LogEntry {
    /// When.
    pub ts: DateTime<Utc>,
    /// `connection`, `action`, `action_cleared`, `action_expired`, later breaches and EDR
    /// alerts.
    pub kind: String,
    /// The record it refers to (a connection's uid, an action's id).
    pub reference: Option<String>,
    /// One line.
    pub summary: String,
}

/// Rows of the summary.
const TOP: i64 = 20;

impl Store {
    /// The summary of device `id`.
    pub fn device_summary(&mut self, id: i64) -> Result<Option<DeviceSummary>, StoreError> {
        let Some(device) = self.device(id)? else {
            return Ok(None);
        };
        let addrs: Vec<String> = device
            .addresses
            .iter()
            .map(|a| a.addr.to_string())
            .collect();
        let list = serde_json::to_string(&addrs).unwrap_or_else(|_| "[]".to_owned());
        let actions = self
            .actions(None, 0)?
            .into_iter()
            .filter(|a| a.device_id == Some(id))
            .collect();
        let breaches = self.breaches(&super::breaches::BreachQuery {
            device_id: Some(id),
            limit: 200,
            ..Default::default()
        })?;
        let risk = breaches.first().map_or(0, |newest| {
            let week = newest.ts - chrono::Duration::days(7);
            let scores: Vec<u8> = breaches
                .iter()
                .filter(|b| b.ts >= week)
                .map(|b| b.score)
                .collect();
            crate::detect::device_risk(&scores)
        });
        let edr_alerts = self.edr_alerts(Some(id), TOP as usize)?;
        let edr_hosts = self.edr_hosts_of(id)?;
        let tags = self.device_tags(id)?;
        let conn = self.conn();
        let services = |side: &str| -> Result<Vec<ServiceUse>, StoreError> {
            let mut stmt = conn
                .prepare_cached(&format!(
                    "SELECT proto, resp_p, max(service), count(*), \
                     sum(orig_bytes + resp_bytes) FROM connections \
                     WHERE {side} IN (SELECT value FROM json_each(?1)) \
                     GROUP BY proto, resp_p ORDER BY count(*) DESC LIMIT ?2"
                ))
                .map_err(sql("prepare the services query"))?;
            stmt.query_map(params![list, TOP], |r| {
                Ok(ServiceUse {
                    proto: r.get(0)?,
                    port: r.get(1)?,
                    service: r.get(2)?,
                    connections: r.get::<_, i64>(3)? as u64,
                    bytes: r.get::<_, i64>(4)? as u64,
                })
            })
            .map_err(sql("query services"))?
            .collect::<Result<_, _>>()
            .map_err(sql("read a service"))
        };
        let services_used = services("orig_h")?;
        let services_served = services("resp_h")?;
        let mut stmt = conn
            .prepare_cached(
                "SELECT peer, count(*), sum(bytes) FROM ( \
                   SELECT resp_h AS peer, orig_bytes + resp_bytes AS bytes FROM connections \
                   WHERE orig_h IN (SELECT value FROM json_each(?1)) \
                   UNION ALL \
                   SELECT orig_h, orig_bytes + resp_bytes FROM connections \
                   WHERE resp_h IN (SELECT value FROM json_each(?1))) \
                 GROUP BY peer ORDER BY count(*) DESC LIMIT ?2",
            )
            .map_err(sql("prepare the peers query"))?;
        let peers = stmt
            .query_map(params![list, TOP], |r| {
                Ok(Peer {
                    addr: r.get(0)?,
                    connections: r.get::<_, i64>(1)? as u64,
                    bytes: r.get::<_, i64>(2)? as u64,
                })
            })
            .map_err(sql("query peers"))?
            .collect::<Result<_, _>>()
            .map_err(sql("read a peer"))?;
        Ok(Some(DeviceSummary {
            device,
            services_used,
            services_served,
            peers,
            actions,
            breaches: breaches.into_iter().take(20).collect(),
            risk,
            edr_alerts,
            edr_hosts,
            tags,
        }))
    }

    /// Device `id`'s timeline, newest first: its connections and its logged events.
    pub fn device_log(&mut self, id: i64, limit: usize) -> Result<Vec<LogEntry>, StoreError> {
        let limit = if limit == 0 { -1 } else { limit as i64 };
        let mut stmt = self
            .conn()
            .prepare_cached(
                "SELECT ts_ns, kind, ref, summary FROM ( \
                   SELECT ts_ns, 'connection' AS kind, uid AS ref, \
                     proto || ' ' || orig_h || ':' || orig_p || ' -> ' || resp_h || ':' || \
                     resp_p || coalesce(' ' || service, '') || ' ' || conn_state || ' ' || \
                     orig_bytes || '/' || resp_bytes || ' bytes' AS summary \
                   FROM connections WHERE device_id = ?1 \
                   UNION ALL \
                   SELECT ts_ns, kind, CAST(ref_id AS TEXT), summary FROM device_events \
                   WHERE device_id = ?1) \
                 ORDER BY ts_ns DESC LIMIT ?2",
            )
            .map_err(sql("prepare the device log query"))?;
        stmt.query_map(params![id, limit], |r| {
            Ok(LogEntry {
                ts: DateTime::from_timestamp_nanos(r.get(0)?),
                kind: r.get(1)?,
                reference: r.get(2)?,
                summary: r.get(3)?,
            })
        })
        .map_err(sql("query the device log"))?
        .collect::<Result<_, _>>()
        .map_err(sql("read a device log entry"))
    }
}
