//! Importing alerts from a file: JSON lines of vendor objects, or whole vendor answers
//! (`{"data": [...]}` for SentinelOne, `{"resources": [...]}` for Falcon, `{"value": [...]}`
//! for Graph). For air-gapped sites, and to load a vendor export.
//! A record that cannot be read is logged with its reason and counted; the rest go on.

use serde::Serialize;
use tracing::warn;

use super::{EdrAlert, Vendor, join, sentinelone};
use crate::store::{Store, StoreError};

/// What an import did.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize)]
pub struct ImportStats {
    /// Alerts read.
    pub read: u64,
    /// New alerts stored.
    pub stored: u64,
    /// Alerts already stored, updated in place.
    pub updated: u64,
    /// Alerts joined to a device.
    pub joined: u64,
    /// Records that could not be read (malformed JSON, missing fields).
    pub invalid: u64,
}

fn map(vendor: Vendor, v: &serde_json::Value, console: Option<&str>) -> Result<EdrAlert, String> {
    let alert = match vendor {
        Vendor::Sentinelone => sentinelone::map::map(v, console).map_err(|e| e.to_string()),
        Vendor::Crowdstrike => super::crowdstrike::map::map(v).map_err(|e| e.to_string()),
        Vendor::Microsoft => super::microsoft::map::map(v).map_err(|e| e.to_string()),
    }?;
    super::fields::check(&alert).map_err(|e| e.to_string())?;
    Ok(alert)
}

/// The vendor objects in one JSON value: a page's `data` (SentinelOne), `resources`
/// (Falcon) or `value` (Graph) array, an array, or one object.
fn items(v: serde_json::Value) -> Vec<serde_json::Value> {
    match v {
        serde_json::Value::Object(mut o) => {
            for key in ["data", "resources", "value"] {
                if o.get(key).is_some_and(serde_json::Value::is_array)
                    && let Some(serde_json::Value::Array(a)) = o.remove(key)
                {
                    return a;
                }
            }
            vec![serde_json::Value::Object(o)]
        }
        serde_json::Value::Array(a) => a,
        other => vec![other],
    }
}

/// Imports `text` (from `origin`, for messages) into `store`.
pub fn import(
    store: &mut Store,
    vendor: Vendor,
    text: &str,
    origin: &str,
    console: Option<&str>,
) -> Result<ImportStats, StoreError> {
    let mut stats = ImportStats::default();
    // A whole document first (a vendor answer); else one record per line.
    let docs: Vec<(usize, Result<serde_json::Value, serde_json::Error>)> =
        match serde_json::from_str::<serde_json::Value>(text) {
            Ok(v) => vec![(0, Ok(v))],
            Err(_) => text
                .lines()
                .enumerate()
                .filter(|(_, l)| !l.trim().is_empty())
                .map(|(i, l)| (i + 1, serde_json::from_str(l)))
                .collect(),
        };
    for (line, doc) in docs {
        let where_ = if line == 0 {
            origin.to_owned()
        } else {
            format!("{origin}:{line}")
        };
        let value = match doc {
            Ok(v) => v,
            Err(err) => {
                stats.invalid += 1;
                warn!(vendor = vendor.as_str(), at = %where_, error = %err, "invalid EDR record: not JSON");
                continue;
            }
        };
        for item in items(value) {
            let alert = match map(vendor, &item, console) {
                Ok(a) => a,
                Err(reason) => {
                    stats.invalid += 1;
                    warn!(vendor = vendor.as_str(), at = %where_, %reason, "invalid EDR record");
                    continue;
                }
            };
            stats.read += 1;
            let (joined, new) = join::store(store, &alert)?;
            if joined.device_id.is_some() {
                stats.joined += 1;
            }
            if new {
                stats.stored += 1;
            } else {
                stats.updated += 1;
            }
        }
    }
    Ok(stats)
}

#[cfg(test)]
pub(crate) mod tests {
    use std::path::PathBuf;

    use super::import;
    use crate::{edr::Vendor, store::Store};

    pub(crate) fn fixtures() -> PathBuf {
        std::env::var_os("SENSOR_SHARED_DIR")
            .map_or_else(
                || PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../shared"),
                PathBuf::from,
            )
            .join("edr-fixtures")
    }

    /// The lab network of the fixtures: four devices with MACs and addresses since
    /// 2026-11-01.
    pub(crate) fn lab_store() -> Store {
        let mut store = Store::open_in_memory().unwrap();
        let since = chrono::DateTime::parse_from_rfc3339("2026-11-01T00:00:00Z")
            .unwrap()
            .timestamp_nanos_opt()
            .unwrap();
        for (ip, mac, name) in [
            ("10.77.1.11", "02:00:0a:4d:01:0b", "ws-01"),
            ("10.77.1.12", "02:00:0a:4d:01:0c", "ws-02"),
            ("10.77.1.13", "02:00:0a:4d:01:0d", "ws-03"),
            ("10.77.1.20", "02:00:0a:4d:01:14", "fs-01"),
        ] {
            let id = store.create_device(Some(mac), true, since).unwrap();
            store
                .assign_address(id, ip.parse().unwrap(), since)
                .unwrap();
            store.set_hostname(id, name).unwrap();
        }
        store
    }

    #[test]
    fn sentinelone_pages_import_once_and_join_the_lab_devices() {
        let mut store = lab_store();
        let dir = fixtures().join("sentinelone");
        let mut total = super::ImportStats::default();
        for page in ["threats.page1.json", "threats.page2.json"] {
            let text = std::fs::read_to_string(dir.join(page)).unwrap();
            let s = import(
                &mut store,
                Vendor::Sentinelone,
                &text,
                page,
                Some("https://s1.example"),
            )
            .unwrap();
            total.read += s.read;
            total.stored += s.stored;
            total.joined += s.joined;
            total.invalid += s.invalid;
        }
        assert_eq!(total.invalid, 0);
        assert_eq!(total.read, 111, "the pages' totalItems");
        assert_eq!(total.stored, 111);
        assert_eq!(total.joined, 111, "every fixture alert is on a lab device");
        // Importing again stores nothing twice.
        let text = std::fs::read_to_string(dir.join("threats.page1.json")).unwrap();
        let again = import(&mut store, Vendor::Sentinelone, &text, "again", None).unwrap();
        assert_eq!((again.stored, again.updated), (0, 100));
        // The C2 alert from ws-03 joined ws-03 by the address it had then.
        let ws03 = store.device_by_hostname("ws-03").unwrap().unwrap();
        let alerts = store.edr_alerts(Some(ws03), 0).unwrap();
        assert!(!alerts.is_empty());
        assert!(
            alerts
                .iter()
                .all(|a| a.joined.key.as_deref() == Some("ip 10.77.1.13"))
        );
        assert!(
            alerts[0]
                .alert
                .link
                .as_deref()
                .unwrap()
                .starts_with("https://s1.example/")
        );
        let log = store.device_log(ws03, 0).unwrap();
        assert!(log.iter().any(|e| e.kind == "edr_alert"));
    }

    #[test]
    fn falcon_alerts_import_once_and_join_the_lab_devices() {
        let mut store = lab_store();
        let text = std::fs::read_to_string(fixtures().join("crowdstrike/entities-alerts-v2.json"))
            .unwrap();
        let s = import(&mut store, Vendor::Crowdstrike, &text, "entities", None).unwrap();
        assert_eq!((s.read, s.stored, s.joined, s.invalid), (111, 111, 111, 0));
        let again = import(&mut store, Vendor::Crowdstrike, &text, "entities", None).unwrap();
        assert_eq!((again.stored, again.updated), (0, 111));
        let fs01 = store.device_by_hostname("fs-01").unwrap().unwrap();
        let alerts = store.edr_alerts(Some(fs01), 0).unwrap();
        assert!(!alerts.is_empty());
        let a = &alerts[0].alert;
        assert!(
            a.link
                .as_deref()
                .unwrap()
                .starts_with("https://falcon.crowdstrike.com/")
        );
        assert_eq!(a.macs, vec!["02:00:0a:4d:01:14".to_owned()]);
        // The same stream in SentinelOne's shape lands on the same devices, in its own rows.
        let s1 =
            std::fs::read_to_string(fixtures().join("sentinelone/threats.page2.json")).unwrap();
        import(&mut store, Vendor::Sentinelone, &s1, "s1", None).unwrap();
        assert_eq!(store.edr_alerts(None, 0).unwrap().len(), 111 + 11);
    }

    #[test]
    fn graph_pages_import_once_and_join_the_lab_devices() {
        let mut store = lab_store();
        let dir = fixtures().join("microsoft-graph");
        let mut stored = 0;
        for n in 1..=3 {
            let text =
                std::fs::read_to_string(dir.join(format!("alerts_v2.page{n}.json"))).unwrap();
            let s = import(&mut store, Vendor::Microsoft, &text, "graph", None).unwrap();
            assert_eq!(s.invalid, 0);
            assert_eq!(s.joined, s.read, "every fixture alert is on a lab device");
            stored += s.stored;
        }
        assert_eq!(stored, 111);
        // The C2 alert: on ws-03 by the address it had then, naming the C2 server.
        let ws03 = store.device_by_hostname("ws-03").unwrap().unwrap();
        let alerts = store.edr_alerts(Some(ws03), 0).unwrap();
        let c2 = alerts
            .iter()
            .find(|a| a.alert.tactic.as_deref() == Some("CommandAndControl"))
            .expect("the C2 alert");
        assert_eq!(c2.joined.key.as_deref(), Some("ip 10.77.1.13"));
        assert_eq!(
            c2.alert.remote_ips,
            vec!["203.0.113.66".parse::<std::net::IpAddr>().unwrap()]
        );
        assert!(
            c2.alert
                .link
                .as_deref()
                .unwrap()
                .starts_with("https://security.microsoft.com/alerts/")
        );
        // Loopback and link-local interface addresses are not kept.
        assert_eq!(c2.alert.ips.len(), 1);
    }

    #[test]
    fn malformed_payloads_are_counted_and_never_fatal() {
        let mut store = lab_store();
        let dir = fixtures().join("malformed");
        let mut files: Vec<_> = std::fs::read_dir(&dir)
            .unwrap()
            .map(|e| e.unwrap().path())
            .collect();
        files.sort();
        assert!(files.len() >= 7);
        for vendor in [Vendor::Sentinelone, Vendor::Crowdstrike, Vendor::Microsoft] {
            for f in &files {
                let bytes = std::fs::read(f).unwrap();
                let text = String::from_utf8_lossy(&bytes);
                let s = import(&mut store, vendor, &text, &f.display().to_string(), None).unwrap();
                assert_eq!(s.stored, 0, "{vendor:?} {}: nothing stored", f.display());
                assert!(
                    s.invalid >= 1,
                    "{vendor:?} {}: counted as invalid",
                    f.display()
                );
            }
        }
        assert!(store.edr_alerts(None, 0).unwrap().is_empty());
    }
}
