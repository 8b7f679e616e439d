//! ARP requests as pseudo-records: an ARP sweep is a ping sweep, and the scan models see
//! it when each request reaches them as a record.

use chrono::{DateTime, Utc};

use crate::capture::ConnRecord;

/// The protocol name of ARP pseudo-records.
pub const ARP: &str = "arp";

/// An ARP request as a record, so the scan models see ARP sweeps: `orig_p` 1 (the
/// request op), no uid (there is no connection record to point to).
pub fn arp_record(
    ts: DateTime<Utc>,
    sender: std::net::IpAddr,
    target: std::net::IpAddr,
    device_id: Option<i64>,
) -> ConnRecord {
    ConnRecord {
        uid: String::new(),
        community_id: String::new(),
        ts,
        duration: 0.0,
        orig_h: sender,
        orig_p: 1,
        resp_h: target,
        resp_p: 0,
        proto: ARP.to_owned(),
        vlan: Vec::new(),
        orig_pkts: 1,
        orig_bytes: 0,
        resp_pkts: 0,
        resp_bytes: 0,
        conn_state: "OTH".to_owned(),
        history: String::new(),
        device_id,
        app: crate::capture::protocols::AppInfo::default(),
        rhythm: crate::capture::conn_record::Rhythm::default(),
    }
}
