//! Connection records in the style of Zeek's `conn.log`.
//!
//! One record per flow once it ends or goes idle: a unique id, the Community ID (so records
//! join with Zeek and Suricata data), start time and duration, originator and responder,
//! protocol and VLANs, packets and bytes each way, Zeek's connection state, and a history of
//! the TCP flags each side sent.

use std::net::IpAddr;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::{community_id::community_id, live_flow::LiveFlow, protocols::AppInfo};

/// One finished (or idle) connection.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ConnRecord {
    /// Unique id, `C` and 17 base-62 characters, as Zeek writes them.
    pub uid: String,
    /// Community ID v1, seed 0.
    pub community_id: String,
    /// First packet.
    pub ts: DateTime<Utc>,
    /// Last packet minus first, seconds.
    pub duration: f64,
    /// Originator address.
    pub orig_h: IpAddr,
    /// Originator port (ICMP: type).
    pub orig_p: u16,
    /// Responder address.
    pub resp_h: IpAddr,
    /// Responder port (ICMP: code).
    pub resp_p: u16,
    /// `tcp`, `udp`, `icmp`, `icmpv6` or the protocol number.
    pub proto: String,
    /// VLAN ids, outer first.
    pub vlan: Vec<u16>,
    /// Packets from the originator.
    pub orig_pkts: u64,
    /// Bytes from the originator (frames, Ethernet header included).
    pub orig_bytes: u64,
    /// Packets from the responder.
    pub resp_pkts: u64,
    /// Bytes from the responder.
    pub resp_bytes: u64,
    /// Zeek's connection state (`S0`, `S1`, `SF`, `REJ`, `RSTO`, `RSTR`, `SH`, `OTH`, …).
    pub conn_state: String,
    /// TCP flags each side sent, Zeek's letters: originator upper case, responder lower
    /// case (`S` SYN, `h` SYN-ACK, `A` ACK, `F` FIN, `R` RST). A set, not a sequence.
    pub history: String,
    /// The device the originator belongs to, once the inventory knows it.
    pub device_id: Option<i64>,
    /// The application protocol and what it said (HTTP, DNS, SSH, service).
    #[serde(default)]
    pub app: AppInfo,
    /// The connection's bursts of activity after silences (its rhythm inside itself).
    #[serde(default, skip_serializing_if = "Rhythm::is_empty")]
    pub rhythm: Rhythm,
}

/// Bursts of activity inside one connection: packets after a second or more of silence.
/// A beacon that holds one connection open (HTTP keep-alive, a raw TCP implant, a tunnel's
/// heartbeat) shows its rhythm here, where it opens no new connections to show it.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Rhythm {
    /// Bursts after the first.
    #[serde(default)]
    pub bursts: u32,
    /// The silences before the latest bursts (the kernel keeps eight), seconds, oldest first.
    #[serde(default)]
    pub gaps_s: Vec<f64>,
}

impl Rhythm {
    /// Whether the connection never fell silent and woke.
    pub fn is_empty(&self) -> bool {
        self.bursts == 0
    }
}

impl ConnRecord {
    /// Whether the connection is over: a TCP connection closed both ways, reset or refused.
    /// Other protocols have no end; their records are only idle.
    pub fn ended(&self) -> bool {
        self.proto == "tcp"
            && matches!(
                self.conn_state.as_str(),
                "SF" | "REJ" | "RSTO" | "RSTR" | "RSTOS0" | "RSTRH" | "SH" | "SHR"
            )
    }

    /// Whether the responder answered: sent a SYN-ACK (TCP), or anything at all. A scan's
    /// probe of a closed port was not answered.
    pub fn answered(&self) -> bool {
        if self.proto == "tcp" {
            self.history.contains('h')
        } else {
            self.resp_pkts > 0
        }
    }

    /// A record for a live flow, with a fresh uid.
    pub fn from_flow(flow: &LiveFlow) -> Self {
        let proto_num = proto_number(&flow.proto);
        Self {
            uid: new_uid(),
            community_id: community_id(
                0,
                flow.orig_addr,
                flow.orig_port,
                flow.resp_addr,
                flow.resp_port,
                proto_num,
            ),
            ts: flow.first_seen,
            duration: (flow.last_seen - flow.first_seen)
                .num_microseconds()
                .unwrap_or(0) as f64
                / 1e6,
            orig_h: flow.orig_addr,
            orig_p: flow.orig_port,
            resp_h: flow.resp_addr,
            resp_p: flow.resp_port,
            proto: flow.proto.clone(),
            vlan: flow.vlan.clone(),
            orig_pkts: flow.orig_packets,
            orig_bytes: flow.orig_bytes,
            resp_pkts: flow.resp_packets,
            resp_bytes: flow.resp_bytes,
            conn_state: conn_state(flow),
            history: history(&flow.orig_tcp_flags, &flow.resp_tcp_flags),
            device_id: None,
            app: AppInfo::default(),
            rhythm: Rhythm {
                bursts: flow.bursts,
                gaps_s: flow
                    .burst_gaps_ms
                    .iter()
                    .map(|ms| f64::from(*ms) / 1e3)
                    .collect(),
            },
        }
    }
}

fn proto_number(name: &str) -> u8 {
    match name {
        "tcp" => 6,
        "udp" => 17,
        "icmp" => 1,
        "icmpv6" => 58,
        n => n.parse().unwrap_or(0),
    }
}

/// `C` and 17 random base-62 characters.
pub fn new_uid() -> String {
    const ALPHABET: &[u8] = b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";
    let mut uid = String::with_capacity(18);
    uid.push('C');
    for _ in 0..17 {
        uid.push(ALPHABET[fastrand::usize(..ALPHABET.len())] as char);
    }
    uid
}

/// Zeek's connection state, from the flags each side sent (`LiveFlow` letters).
fn conn_state(flow: &LiveFlow) -> String {
    if flow.proto != "tcp" {
        return if flow.resp_packets > 0 { "SF" } else { "S0" }.to_owned();
    }
    let (o, r) = (&flow.orig_tcp_flags, &flow.resp_tcp_flags);
    let has = |s: &str, c| s.contains(c);
    let state = if !has(o, 'S') {
        "OTH"
    } else if has(o, 'R') && !has(r, 'S') {
        "RSTOS0"
    } else if has(r, 'R') && !has(r, 'S') {
        "REJ"
    } else if !has(r, 'S') {
        if has(o, 'F') { "SH" } else { "S0" }
    } else if has(o, 'R') {
        "RSTO"
    } else if has(r, 'R') {
        "RSTR"
    } else if has(o, 'F') && has(r, 'F') {
        "SF"
    } else if has(o, 'F') {
        "S2"
    } else if has(r, 'F') {
        "S3"
    } else {
        "S1"
    };
    state.to_owned()
}

/// Zeek history letters from the flag sets, originator upper case, responder lower case:
/// `S` the originator's SYN, `h` the responder's SYN-ACK (`s` a bare SYN), `A` ACK, `F` FIN,
/// `R` RST. The kernel keeps sets of flags, so this says which were seen, not their order.
fn history(orig: &str, resp: &str) -> String {
    let mut h = String::new();
    if orig.contains('S') {
        h.push('S');
    }
    for (flag, letter) in [('A', 'A'), ('F', 'F'), ('R', 'R')] {
        if orig.contains(flag) {
            h.push(letter);
        }
    }
    if resp.contains('S') {
        h.push(if resp.contains('A') { 'h' } else { 's' });
    }
    for (flag, letter) in [('A', 'a'), ('F', 'f'), ('R', 'r')] {
        if resp.contains(flag) {
            h.push(letter);
        }
    }
    h
}

#[cfg(test)]
mod tests {
    use chrono::Utc;

    use super::{ConnRecord, LiveFlow};

    fn flow(proto: &str, orig: &str, resp: &str, resp_packets: u64) -> LiveFlow {
        LiveFlow {
            proto: proto.to_owned(),
            orig_addr: "10.0.0.1".parse().unwrap(),
            orig_port: 40000,
            resp_addr: "10.0.0.2".parse().unwrap(),
            resp_port: 80,
            vlan: vec![],
            orig_packets: 3,
            orig_bytes: 300,
            resp_packets,
            resp_bytes: resp_packets * 100,
            orig_tcp_flags: orig.to_owned(),
            resp_tcp_flags: resp.to_owned(),
            first_seen: Utc::now(),
            last_seen: Utc::now(),
            bursts: 0,
            burst_gaps_ms: Vec::new(),
        }
    }

    #[test]
    fn states_follow_zeek() {
        let state = |p, o, r, n| ConnRecord::from_flow(&flow(p, o, r, n)).conn_state;
        assert_eq!(state("tcp", "S", "", 0), "S0");
        assert_eq!(state("tcp", "S", "AR", 1), "REJ");
        assert_eq!(state("tcp", "SAPF", "SAPF", 3), "SF");
        assert_eq!(state("tcp", "SAP", "SAP", 3), "S1");
        assert_eq!(state("tcp", "SAR", "SA", 3), "RSTO");
        assert_eq!(state("tcp", "A", "A", 3), "OTH");
        assert_eq!(state("udp", "", "", 1), "SF");
        assert_eq!(state("udp", "", "", 0), "S0");
    }

    #[test]
    fn history_and_uid() {
        let r = ConnRecord::from_flow(&flow("tcp", "SAPF", "SAF", 2));
        assert_eq!(r.history, "SAFhaf");
        assert_eq!(r.uid.len(), 18);
        assert!(r.uid.starts_with('C'));
        assert_ne!(r.uid, ConnRecord::from_flow(&flow("tcp", "S", "", 0)).uid);
        assert!(r.community_id.starts_with("1:"));
    }
}
