//! Step one: what happened around the device in the window. Its connections, breaches and
//! EDR alerts; the inside devices it spoke with that have breaches or alerts of their own
//! or that it reached over an admin service (one hop: the next host of a lateral chain).

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};

use super::incident::{IncidentDevice, Link, Step};
use crate::detect::baseline::ADMIN_PORTS;
use crate::{
    capture::ConnRecord,
    detect::Breach,
    store::{Store, StoreError, connections::ConnQuery, edr::StoredAlert, ns},
};

/// Related devices gathered at most.
const MAX_RELATED: usize = 10;

/// Connections read per address at most.
const MAX_CONNECTIONS: usize = 5_000;

/// What the gather step found.
#[derive(Clone, Debug, Default)]
pub struct Gathered {
    /// The window.
    pub from: Option<DateTime<Utc>>,
    /// The window.
    pub to: Option<DateTime<Utc>>,
    /// The device investigated first, then related ones.
    pub devices: Vec<IncidentDevice>,
    /// Their breaches.
    pub breaches: Vec<Breach>,
    /// Their EDR alerts.
    pub alerts: Vec<StoredAlert>,
    /// The first device's connections.
    pub connections: Vec<ConnRecord>,
    /// Who spoke with whom.
    pub links: Vec<Link>,
}

fn describe(
    store: &mut Store,
    id: i64,
    origin: bool,
) -> Result<Option<IncidentDevice>, StoreError> {
    let Some(d) = store.device(id)? else {
        return Ok(None);
    };
    let addrs: Vec<String> = d.addresses.iter().map(|a| a.addr.to_string()).collect();
    let name = d
        .hostname
        .clone()
        .or_else(|| addrs.first().cloned())
        .unwrap_or_else(|| format!("device {id}"));
    Ok(Some(IncidentDevice {
        id,
        name,
        addrs,
        origin,
    }))
}

/// Gathers around `device` over `[from, to]`.
pub fn gather(
    store: &mut Store,
    device: i64,
    from: DateTime<Utc>,
    to: DateTime<Utc>,
) -> Result<(Gathered, Step), StoreError> {
    let mut g = Gathered {
        from: Some(from),
        to: Some(to),
        ..Gathered::default()
    };
    let mut lines = Vec::new();
    let Some(origin) = describe(store, device, true)? else {
        lines.push(format!("device {device} is not known"));
        return Ok((g, step(lines)));
    };
    for addr in &origin.addrs {
        let Ok(ip) = addr.parse() else { continue };
        g.connections.extend(store.connections(&ConnQuery {
            since: Some(from),
            until: Some(to),
            addr: Some(ip),
            limit: MAX_CONNECTIONS,
        })?);
    }
    g.breaches = store.breaches_between(device, from, to)?;
    g.alerts = store.edr_alerts_between(device, from, to)?;
    lines.push(format!(
        "{}: {} connections, {} breaches, {} EDR alerts between {} and {}",
        origin.name,
        g.connections.len(),
        g.breaches.len(),
        g.alerts.len(),
        from.format("%Y-%m-%d %H:%M"),
        to.format("%Y-%m-%d %H:%M")
    ));
    // Links, and the inside peers worth a look.
    let mut pairs: BTreeMap<(String, String, String), (u64, u64)> = BTreeMap::new();
    let mut peers: BTreeMap<i64, bool> = BTreeMap::new();
    for c in &g.connections {
        let e = pairs
            .entry((
                c.orig_h.to_string(),
                c.resp_h.to_string(),
                format!("{}/{}", c.proto, c.resp_p),
            ))
            .or_default();
        e.0 += 1;
        e.1 += c.orig_bytes + c.resp_bytes;
        let mine = origin.addrs.contains(&c.orig_h.to_string());
        let peer = if mine { c.resp_h } else { c.orig_h };
        if let Some(p) = store.device_at(peer, ns(c.ts))?
            && p != device
        {
            let admin = mine && ADMIN_PORTS.contains(&c.resp_p);
            *peers.entry(p).or_default() |= admin;
        }
    }
    g.links = pairs
        .into_iter()
        .map(|((from, to, service), (connections, bytes))| Link {
            from,
            to,
            service,
            connections,
            bytes,
        })
        .collect();
    g.links.sort_by_key(|l| std::cmp::Reverse(l.connections));
    g.links.truncate(50);
    g.devices.push(origin);
    for (peer, admin) in peers {
        if g.devices.len() > MAX_RELATED {
            lines.push(format!(
                "more related devices left out (at most {MAX_RELATED})"
            ));
            break;
        }
        let Some(d) = describe(store, peer, false)? else {
            continue;
        };
        let breaches = store.breaches_between(peer, from, to)?;
        let alerts = store.edr_alerts_between(peer, from, to)?;
        if !admin && breaches.is_empty() && alerts.is_empty() {
            continue;
        }
        lines.push(format!(
            "related: {}{} with {} breaches and {} EDR alerts",
            d.name,
            if admin {
                " (reached over an admin service)"
            } else {
                ""
            },
            breaches.len(),
            alerts.len()
        ));
        g.breaches.extend(breaches);
        g.alerts.extend(alerts);
        g.devices.push(d);
    }
    Ok((g, step(lines)))
}

fn step(lines: Vec<String>) -> Step {
    Step {
        name: "gather".to_owned(),
        lines,
    }
}
