//! A Graph `alerts_v2` alert to a normalized alert. Required: `id`, `title`,
//! `lastUpdateDateTime` and a detection time (`firstActivityDateTime` or
//! `createdDateTime`). The device, user, process, file and network indicators come from the
//! typed `evidence[]`: the first `deviceEvidence` names the device (its `ipInterfaces`
//! without loopback and link-local addresses; Graph gives no MAC).

use serde_json::Value;

use crate::edr::{
    alert::{EdrAlert, Vendor, routable},
    fields::{MapError, text, time},
};

/// Graph's severities on the 0-100 scale.
fn severity(label: Option<&str>) -> u8 {
    match label {
        Some("informational") => 10,
        Some("low") => 30,
        Some("medium") => 55,
        Some("high") => 80,
        _ => 0,
    }
}

/// `DOMAIN\account`, or the account alone.
fn account(v: &Value) -> Option<String> {
    let name = text(v, &["accountName"])?;
    Some(text(v, &["domainName"]).map_or_else(|| name.to_owned(), |d| format!("{d}\\{name}")))
}

/// `evidence[]`'s kind: `deviceEvidence` from `#microsoft.graph.security.deviceEvidence`.
fn kind(e: &Value) -> &str {
    e["@odata.type"]
        .as_str()
        .and_then(|t| t.rsplit('.').next())
        .unwrap_or("")
}

/// Maps one alert.
pub fn map(a: &Value) -> Result<EdrAlert, MapError> {
    if !a.is_object() {
        return Err(MapError::NotObject);
    }
    let id = text(a, &["id"]).ok_or(MapError::Field("id"))?.to_owned();
    let title = text(a, &["title"])
        .ok_or(MapError::Field("title"))?
        .to_owned();
    let updated = time(a, &["lastUpdateDateTime"], "lastUpdateDateTime")?;
    let detected = time(a, &["firstActivityDateTime"], "firstActivityDateTime")
        .or_else(|_| time(a, &["createdDateTime"], "createdDateTime"))?;
    let label = text(a, &["severity"]);
    let s = |v: &Value, path: &[&str]| text(v, path).map(str::to_owned);
    let mut alert = EdrAlert {
        vendor: Vendor::Microsoft,
        description: s(a, &["description"]).unwrap_or_default(),
        severity: severity(label),
        severity_label: label.unwrap_or("unknown").to_owned(),
        tactic: s(a, &["category"]),
        techniques: a["mitreTechniques"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|t| t.as_str().map(str::to_owned))
            .collect(),
        detected,
        updated,
        vendor_device_id: None,
        hostname: None,
        ips: Vec::new(),
        macs: Vec::new(),
        user: None,
        process: None,
        file: None,
        hash: None,
        remote_ips: Vec::new(),
        remote_endpoints: Vec::new(),
        actor: s(a, &["actorDisplayName"]),
        urls: Vec::new(),
        link: s(a, &["alertWebUrl"]),
        id,
        title,
        raw: a.clone(),
    };
    for e in a["evidence"].as_array().into_iter().flatten() {
        match kind(e) {
            "deviceEvidence" if alert.vendor_device_id.is_none() => {
                alert.vendor_device_id = s(e, &["mdeDeviceId"]);
                alert.hostname = s(e, &["deviceDnsName"]);
                alert.ips = e["ipInterfaces"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .filter_map(|i| i.as_str()?.parse().ok())
                    .filter(routable)
                    .collect();
                if alert.user.is_none() {
                    alert.user = e["loggedOnUsers"]
                        .as_array()
                        .and_then(|u| u.first())
                        .and_then(account);
                }
            }
            "processEvidence" if alert.process.is_none() => {
                alert.process = s(e, &["processCommandLine"]);
                let image = &e["imageFile"];
                alert.file = match (text(image, &["filePath"]), text(image, &["fileName"])) {
                    (Some(dir), Some(name)) => Some(format!("{dir}\\{name}")),
                    (_, name) => name.map(str::to_owned),
                };
                alert.hash = s(image, &["sha256"]).or_else(|| s(image, &["sha1"]));
                if let Some(u) = account(&e["userAccount"]) {
                    alert.user = Some(u);
                }
            }
            "fileEvidence" if alert.file.is_none() => {
                let f = &e["fileDetails"];
                alert.file = s(f, &["filePath"]).or_else(|| s(f, &["fileName"]));
                alert.hash = s(f, &["sha256"]).or_else(|| s(f, &["sha1"]));
            }
            "ipEvidence" => {
                if let Some(ip) = text(e, &["ipAddress"]).and_then(|i| i.parse().ok()) {
                    alert.remote_ips.push(ip);
                }
            }
            "urlEvidence" => alert.urls.extend(s(e, &["url"])),
            "userEvidence" => {
                if let Some(u) = account(&e["userAccount"]) {
                    alert.user = Some(u);
                }
            }
            _ => {}
        }
    }
    Ok(alert)
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    #[test]
    fn evidence_fills_device_process_and_indicators() {
        let a = json!({
            "id": "da1", "title": "C2", "severity": "high", "category": "CommandAndControl",
            "mitreTechniques": ["T1071.001"],
            "createdDateTime": "2026-11-19T14:25:00Z", "lastUpdateDateTime": "2026-11-19T14:27:00Z",
            "alertWebUrl": "https://security.microsoft.com/alerts/da1",
            "actorDisplayName": "LabActor-0408",
            "evidence": [
                {"@odata.type": "#microsoft.graph.security.deviceEvidence", "mdeDeviceId": "c3f2",
                 "deviceDnsName": "ws-03.corp.example",
                 "ipInterfaces": ["10.77.1.13", "127.0.0.1", "::1", "fe80::1", "169.254.1.1"],
                 "loggedOnUsers": [{"accountName": "user3", "domainName": "CORP"}]},
                {"@odata.type": "#microsoft.graph.security.processEvidence",
                 "processCommandLine": "rundll32.exe x", "imageFile": {"fileName": "rundll32.exe",
                 "filePath": "C:\\Windows\\System32", "sha256": null}},
                {"@odata.type": "#microsoft.graph.security.ipEvidence", "ipAddress": "203.0.113.66"},
                {"@odata.type": "#microsoft.graph.security.urlEvidence", "url": "https://c2.example/x"}
            ]
        });
        let m = super::map(&a).unwrap();
        assert_eq!(m.severity, 80);
        assert_eq!(m.detected.to_rfc3339(), "2026-11-19T14:25:00+00:00");
        assert_eq!(
            m.ips,
            vec!["10.77.1.13".parse::<std::net::IpAddr>().unwrap()]
        );
        assert_eq!(m.vendor_device_id.as_deref(), Some("c3f2"));
        assert_eq!(m.user.as_deref(), Some("CORP\\user3"));
        assert_eq!(
            m.file.as_deref(),
            Some("C:\\Windows\\System32\\rundll32.exe")
        );
        assert_eq!(
            m.remote_ips,
            vec!["203.0.113.66".parse::<std::net::IpAddr>().unwrap()]
        );
        assert_eq!(m.urls, vec!["https://c2.example/x".to_owned()]);
        assert_eq!(m.headline(), "C2 (actor: LabActor-0408)");
        assert_eq!(
            m.link.as_deref(),
            Some("https://security.microsoft.com/alerts/da1")
        );
        assert!(super::map(&json!({"id": "x", "title": "t"})).is_err());
    }
}
