//! A SentinelOne threat to a normalized alert. Required: `id`, `threatInfo.threatName`,
//! `threatInfo.updatedAt` and a detection time; everything else is optional. There is no
//! console link in the payload: it is built from the console URL and the id.

use std::net::IpAddr;

use serde_json::Value;

use crate::edr::{
    alert::{EdrAlert, Vendor, label, normalize_mac},
    fields::{MapError, text, time},
};

/// Maps one threat; `console` is the console's base URL (for the pivot link).
pub fn map(t: &Value, console: Option<&str>) -> Result<EdrAlert, MapError> {
    if !t.is_object() {
        return Err(MapError::NotObject);
    }
    let id = text(t, &["id"]).ok_or(MapError::Field("id"))?.to_owned();
    let title = text(t, &["threatInfo", "threatName"])
        .ok_or(MapError::Field("threatInfo.threatName"))?
        .to_owned();
    let updated = time(t, &["threatInfo", "updatedAt"], "threatInfo.updatedAt")?;
    let detected = time(
        t,
        &["threatInfo", "identifiedAt"],
        "threatInfo.identifiedAt",
    )
    .or_else(|_| time(t, &["threatInfo", "createdAt"], "threatInfo.createdAt"))?;
    let severity: u8 = match text(t, &["threatInfo", "confidenceLevel"]) {
        Some("malicious") => 80,
        Some("suspicious") => 50,
        _ => 30,
    };
    // Addresses at detection time: a comma-separated string.
    let ips: Vec<IpAddr> = text(t, &["agentDetectionInfo", "agentIpV4"])
        .unwrap_or("")
        .split(',')
        .chain(
            text(t, &["agentDetectionInfo", "agentIpV6"])
                .unwrap_or("")
                .split(','),
        )
        .filter_map(|s| s.trim().parse().ok())
        .collect();
    let macs: Vec<String> = t["agentRealtimeInfo"]["networkInterfaces"]
        .as_array()
        .map(|a| {
            a.iter()
                .filter_map(|i| i["physical"].as_str().and_then(normalize_mac))
                .collect()
        })
        .unwrap_or_default();
    let mut techniques = Vec::new();
    let mut tactic = None;
    for ind in t["indicators"].as_array().into_iter().flatten() {
        for ta in ind["tactics"].as_array().into_iter().flatten() {
            if tactic.is_none() {
                tactic = ta["name"].as_str().map(str::to_owned);
            }
            for te in ta["techniques"].as_array().into_iter().flatten() {
                if let Some(name) = te["name"].as_str() {
                    techniques.push(name.to_owned());
                }
            }
        }
    }
    let s = |path: &[&str]| text(t, path).map(str::to_owned);
    Ok(EdrAlert {
        vendor: Vendor::Sentinelone,
        description: s(&["threatInfo", "classification"]).unwrap_or_default(),
        severity,
        severity_label: label(severity).to_owned(),
        tactic,
        techniques,
        detected,
        updated,
        vendor_device_id: s(&["agentRealtimeInfo", "agentId"]),
        hostname: s(&["agentRealtimeInfo", "agentComputerName"]),
        ips,
        macs,
        user: s(&["threatInfo", "processUser"]),
        process: s(&["threatInfo", "originatorProcess"]),
        file: s(&["threatInfo", "filePath"]),
        hash: s(&["threatInfo", "sha1"]),
        remote_ips: Vec::new(),
        remote_endpoints: Vec::new(),
        actor: None,
        urls: Vec::new(),
        link: console.map(|c| {
            format!(
                "{}/incidents/threats/{id}/overview",
                c.trim_end_matches('/')
            )
        }),
        id,
        title,
        raw: t.clone(),
    })
}
