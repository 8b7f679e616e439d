//! Which network device an EDR alert is about. In order: an address the alert carried at
//! detection time, matched against who held it then (DHCP, ARP, flows); a MAC; the host
//! name. The key that joined and why are kept with the alert; an alert that joins nothing
//! is kept and shown as unjoined.

use serde::{Deserialize, Serialize};

use super::EdrAlert;
use crate::store::{Store, StoreError};

/// The join's result.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Joined {
    /// The device, if one matched.
    pub device_id: Option<i64>,
    /// The key that matched (`ip 10.77.1.12`, `mac 02:…`, `hostname ws-02`).
    pub key: Option<String>,
    /// Why, in words.
    pub reason: String,
}

/// Joins `alert` to a device and stores it (new or updated in place); a device joined by
/// address or MAC that has no name yet takes the alert's host name (EDRs know names the
/// network rarely shows). Returns the join and whether the alert was new.
pub fn store(store: &mut Store, alert: &EdrAlert) -> Result<(Joined, bool), StoreError> {
    let joined = join(store, alert)?;
    if let (Some(device), Some(host)) = (joined.device_id, &alert.hostname)
        && let Some(short) = host.split('.').next().filter(|s| !s.is_empty())
    {
        store.set_hostname_if_missing(device, &short.to_ascii_lowercase())?;
    }
    let new = store.upsert_edr_alert(alert, &joined)?;
    Ok((joined, new))
}

/// Joins `alert` to a device in `store`.
pub fn join(store: &mut Store, alert: &EdrAlert) -> Result<Joined, StoreError> {
    let at = alert.detected.timestamp_nanos_opt().unwrap_or(i64::MAX);
    for ip in &alert.ips {
        if !super::alert::routable(ip) {
            continue;
        }
        if let Some(id) = store.device_at(*ip, at)? {
            return Ok(Joined {
                device_id: Some(id),
                key: Some(format!("ip {ip}")),
                reason: format!(
                    "device {id} held {ip} at the detection time {}",
                    alert.detected.format("%Y-%m-%d %H:%M:%S UTC")
                ),
            });
        }
    }
    for mac in &alert.macs {
        if let Some(id) = store.device_by_mac(mac)? {
            return Ok(Joined {
                device_id: Some(id),
                key: Some(format!("mac {mac}")),
                reason: format!("device {id} has MAC {mac}"),
            });
        }
    }
    if let Some(host) = &alert.hostname {
        let short = host.split('.').next().unwrap_or(host);
        for name in [host.as_str(), short] {
            if let Some(id) = store.device_by_hostname(name)? {
                return Ok(Joined {
                    device_id: Some(id),
                    key: Some(format!("hostname {name}")),
                    reason: format!("device {id} is named {name} (no address or MAC matched)"),
                });
            }
        }
    }
    Ok(Joined {
        device_id: None,
        key: None,
        reason: "no device held its addresses, MACs or host name".to_owned(),
    })
}
