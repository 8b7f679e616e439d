//! A Falcon alert entity to a normalized alert. Required: `composite_id`, a name
//! (`display_name` or `name`), `updated_timestamp` and a detection time (`timestamp` or
//! `created_timestamp`); everything else is optional. Falcon's severity is already 0-100.

use std::net::IpAddr;

use serde_json::Value;

use crate::edr::{
    alert::{EdrAlert, RemoteEndpoint, Vendor, label, normalize_mac},
    fields::{MapError, text, time},
};

/// Maps one alert entity.
pub fn map(a: &Value) -> Result<EdrAlert, MapError> {
    if !a.is_object() {
        return Err(MapError::NotObject);
    }
    let id = text(a, &["composite_id"])
        .ok_or(MapError::Field("composite_id"))?
        .to_owned();
    let title = text(a, &["display_name"])
        .or_else(|| text(a, &["name"]))
        .ok_or(MapError::Field("display_name"))?
        .to_owned();
    let updated = time(a, &["updated_timestamp"], "updated_timestamp")?;
    let detected = time(a, &["timestamp"], "timestamp")
        .or_else(|_| time(a, &["created_timestamp"], "created_timestamp"))?;
    let severity = a["severity"].as_u64().map_or(0, |s| s.min(100) as u8);
    let s = |path: &[&str]| text(a, path).map(str::to_owned);
    let ips: Vec<IpAddr> = text(a, &["device", "local_ip"])
        .and_then(|ip| ip.parse().ok())
        .into_iter()
        .collect();
    let remote_ips: Vec<IpAddr> = a["network_accesses"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|n| n["remote_address"].as_str().and_then(|r| r.parse().ok()))
        .collect();
    let remote_endpoints: Vec<RemoteEndpoint> = a["network_accesses"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|n| {
            Some(RemoteEndpoint {
                addr: n["remote_address"].as_str()?.parse().ok()?,
                port: u16::try_from(n["remote_port"].as_u64()?).ok()?,
                proto: n["protocol"].as_str().unwrap_or("tcp").to_ascii_lowercase(),
            })
        })
        .collect();
    let technique = match (s(&["technique_id"]), s(&["technique"])) {
        (Some(id), Some(name)) => vec![format!("{id} {name}")],
        (Some(one), None) | (None, Some(one)) => vec![one],
        (None, None) => Vec::new(),
    };
    Ok(EdrAlert {
        vendor: Vendor::Crowdstrike,
        description: s(&["description"]).unwrap_or_default(),
        severity,
        severity_label: s(&["severity_name"])
            .map_or_else(|| label(severity).to_owned(), |n| n.to_ascii_lowercase()),
        tactic: s(&["tactic"]),
        techniques: technique,
        detected,
        updated,
        vendor_device_id: s(&["device", "device_id"]),
        hostname: s(&["device", "hostname"]),
        ips,
        macs: text(a, &["device", "mac_address"])
            .and_then(normalize_mac)
            .into_iter()
            .collect(),
        user: s(&["user_name"]),
        process: s(&["cmdline"]).or_else(|| s(&["filename"])),
        file: s(&["filepath"]),
        hash: s(&["sha256"]),
        remote_ips,
        remote_endpoints,
        actor: None,
        urls: Vec::new(),
        link: s(&["falcon_host_link"]),
        id,
        title,
        raw: a.clone(),
    })
}
