//! Host enrichment by Advanced Hunting (`POST <graph>/v1.0/security/runHuntingQuery`,
//! `{"Query": "<KQL>"}`): the OS of each device (`DeviceInfo`) and the vulnerabilities on it
//! (`DeviceTvmSoftwareVulnerabilities`), two queries for a batch of devices. The quota is
//! small (about 45 calls a minute, shared with every other tool of the tenant), so calls
//! are spaced out, and what comes back is kept in the store and asked again only when old.
//! Device ids go into KQL, so only ids of letters, digits and dashes are ever sent.

use std::{
    collections::BTreeMap,
    time::{Duration, Instant},
};

use chrono::Utc;
use serde_json::{Value, json};

use super::api::Api;
use crate::edr::{
    Vendor,
    host::{HostContext, Vulnerability},
    poll::FetchError,
};

/// Vulnerabilities kept per host (the worst).
const MAX_VULNERABILITIES: usize = 50;

/// The pace of hunting queries.
#[derive(Debug)]
pub struct Hunting {
    gap: Duration,
    last: tokio::sync::Mutex<Option<Instant>>,
}

/// Whether `id` can go into a KQL string literal as it is.
fn safe(id: &str) -> bool {
    !id.is_empty() && id.len() <= 64 && id.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
}

/// `("a", "b")`.
fn list(ids: &[&str]) -> String {
    let quoted: Vec<String> = ids.iter().map(|i| format!("\"{i}\"")).collect();
    format!("({})", quoted.join(", "))
}

/// The latest OS facts of `ids`.
pub fn device_info_query(ids: &[&str]) -> String {
    format!(
        "DeviceInfo\n| where DeviceId in {}\n| summarize arg_max(Timestamp, *) by DeviceId\n\
         | project DeviceId, DeviceName, OSPlatform, OSVersion, OSBuild, PublicIP",
        list(ids)
    )
}

/// The vulnerabilities on `ids`.
pub fn vulnerabilities_query(ids: &[&str]) -> String {
    format!(
        "DeviceTvmSoftwareVulnerabilities\n| where DeviceId in {}\n\
         | project DeviceId, SoftwareName, SoftwareVersion, CveId, VulnerabilitySeverityLevel",
        list(ids)
    )
}

/// A result cell as text (Graph sends `OSBuild` as a number).
fn cell(row: &Value, name: &str) -> Option<String> {
    match &row[name] {
        Value::String(s) if !s.is_empty() => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        _ => None,
    }
}

/// The hosts of `ids` from the two queries' rows; ids absent from both are not returned.
pub fn hosts_from(ids: &[&str], info: &[Value], vulnerabilities: &[Value]) -> Vec<HostContext> {
    let now = Utc::now();
    let mut hosts: BTreeMap<String, HostContext> = BTreeMap::new();
    for row in info {
        let Some(id) = cell(row, "DeviceId").filter(|i| ids.contains(&i.as_str())) else {
            continue;
        };
        let mut h = HostContext::unknown(Vendor::Microsoft, &id, now);
        h.name = cell(row, "DeviceName");
        h.os_platform = cell(row, "OSPlatform");
        h.os_version = cell(row, "OSVersion");
        h.os_build = cell(row, "OSBuild");
        h.public_ip = cell(row, "PublicIP");
        hosts.insert(id, h);
    }
    for row in vulnerabilities {
        let (Some(id), Some(cve)) = (cell(row, "DeviceId"), cell(row, "CveId")) else {
            continue;
        };
        if !ids.contains(&id.as_str()) {
            continue;
        }
        let h = hosts
            .entry(id.clone())
            .or_insert_with(|| HostContext::unknown(Vendor::Microsoft, &id, now));
        h.vulnerabilities.push(Vulnerability {
            cve,
            severity: cell(row, "VulnerabilitySeverityLevel").unwrap_or_default(),
            software: cell(row, "SoftwareName").unwrap_or_default(),
            version: cell(row, "SoftwareVersion"),
        });
    }
    hosts
        .into_values()
        .map(|mut h| {
            h.vulnerabilities
                .sort_by(|a, b| a.rank().cmp(&b.rank()).then_with(|| b.cve.cmp(&a.cve)));
            h.vulnerabilities.dedup_by(|a, b| a.cve == b.cve);
            h.vulnerabilities.truncate(MAX_VULNERABILITIES);
            h
        })
        .collect()
}

impl Hunting {
    /// At most `n` queries a minute; none if 0.
    pub fn per_minute(n: u32) -> Option<Self> {
        (n > 0).then(|| Self {
            gap: Duration::from_mins(1) / n,
            last: tokio::sync::Mutex::new(None),
        })
    }

    /// Runs one query when its turn comes; its result rows.
    async fn run(&self, api: &Api, query: &str) -> Result<Vec<Value>, FetchError> {
        {
            let mut last = self.last.lock().await;
            if let Some(wait) = last.and_then(|at| self.gap.checked_sub(at.elapsed())) {
                tokio::time::sleep(wait).await;
            }
            *last = Some(Instant::now());
        }
        let url = format!("{}/v1.0/security/runHuntingQuery", api.graph);
        let body = serde_json::to_vec(&json!({ "Query": query }))
            .map_err(|e| FetchError::Body(e.to_string()))?;
        let answer = api
            .auth
            .send(&api.client, |t| {
                api.client
                    .post(&url)
                    .header(reqwest::header::CONTENT_TYPE, "application/json")
                    .body(body.clone())
                    .bearer_auth(t)
            })
            .await?;
        answer["results"]
            .as_array()
            .cloned()
            .ok_or_else(|| FetchError::Body("no `results` array in the hunting answer".to_owned()))
    }

    /// What Defender knows of `device_ids` (those it can be asked about).
    pub async fn hosts(
        &self,
        api: &Api,
        device_ids: &[String],
    ) -> Result<Vec<HostContext>, FetchError> {
        let ids: Vec<&str> = device_ids
            .iter()
            .map(String::as_str)
            .filter(|i| safe(i))
            .collect();
        if ids.is_empty() {
            return Ok(Vec::new());
        }
        let info = self.run(api, &device_info_query(&ids)).await?;
        let vulnerabilities = self.run(api, &vulnerabilities_query(&ids)).await?;
        Ok(hosts_from(&ids, &info, &vulnerabilities))
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    #[test]
    fn ids_that_could_break_out_of_kql_are_never_sent() {
        assert!(super::safe("b2e1d4c3f5a6079889706b5c4d3e2f1a0b9c8d7e"));
        assert!(!super::safe("x\") | take 1 //"));
        assert!(!super::safe(""));
        let q = super::device_info_query(&["a1", "b2"]);
        assert!(q.contains("DeviceId in (\"a1\", \"b2\")"), "{q}");
    }

    #[test]
    fn rows_make_hosts_with_worst_vulnerabilities_first() {
        let info = [
            json!({"DeviceId": "a1", "DeviceName": "fs-01", "OSPlatform": "WindowsServer2022",
                           "OSVersion": "10.0", "OSBuild": 20348}),
        ];
        let vulns = [
            json!({"DeviceId": "a1", "CveId": "CVE-1", "VulnerabilitySeverityLevel": "Medium", "SoftwareName": "x"}),
            json!({"DeviceId": "a1", "CveId": "CVE-2", "VulnerabilitySeverityLevel": "Critical", "SoftwareName": "y"}),
            json!({"DeviceId": "zz", "CveId": "CVE-3", "VulnerabilitySeverityLevel": "High"}),
        ];
        let hosts = super::hosts_from(&["a1"], &info, &vulns);
        assert_eq!(hosts.len(), 1);
        assert_eq!(
            hosts[0].os().as_deref(),
            Some("WindowsServer2022 10.0 build 20348")
        );
        let cves: Vec<&str> = hosts[0]
            .vulnerabilities
            .iter()
            .map(|v| v.cve.as_str())
            .collect();
        assert_eq!(cves, ["CVE-2", "CVE-1"]);
    }
}
