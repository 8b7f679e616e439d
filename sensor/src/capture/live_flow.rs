//! A live flow: one flow table entry, oriented the way an analyst reads it.
//!
//! The kernel keys flows canonically (lower endpoint first) and records which side opened
//! the flow; here that becomes originator and responder, as in Zeek's `conn.log`, with
//! addresses unmapped back to IPv4 where they were IPv4 and times in UTC.

use std::net::{IpAddr, Ipv6Addr};

use chrono::{DateTime, Utc};
use sensor_common::{
    Direction, FlowKey, FlowStats,
    flow::{BURST_GAPS, tcp_flags},
};
use serde::Serialize;

use crate::clock::Clock;

/// One flow, originator first.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, serde::Deserialize)]
pub struct LiveFlow {
    /// Protocol name (`tcp`, `udp`, `icmp`, `icmpv6`) or number.
    pub proto: String,
    /// Address of the side that opened the flow.
    pub orig_addr: IpAddr,
    /// Its port (0 for protocols without ports).
    pub orig_port: u16,
    /// Address of the other side.
    pub resp_addr: IpAddr,
    /// Its port.
    pub resp_port: u16,
    /// VLAN ids, outer first; empty when untagged.
    pub vlan: Vec<u16>,
    /// Packets from the originator.
    pub orig_packets: u64,
    /// Bytes from the originator (frames, Ethernet header included).
    pub orig_bytes: u64,
    /// Packets from the responder.
    pub resp_packets: u64,
    /// Bytes from the responder.
    pub resp_bytes: u64,
    /// TCP flags the originator sent, tcpdump letters (`S`, `A`, `P`, `F`, `R`, `U`).
    pub orig_tcp_flags: String,
    /// TCP flags the responder sent.
    pub resp_tcp_flags: String,
    /// First packet.
    pub first_seen: DateTime<Utc>,
    /// Latest packet.
    pub last_seen: DateTime<Utc>,
    /// Bursts after the first: packets after a second or more of silence.
    #[serde(default)]
    pub bursts: u32,
    /// The silences before the latest bursts (up to eight), ms, oldest first.
    #[serde(default)]
    pub burst_gaps_ms: Vec<u32>,
}

impl LiveFlow {
    /// Orients a kernel entry; `clock` converts its monotonic stamps.
    pub fn from_kernel(key: &FlowKey, stats: &FlowStats, clock: &Clock) -> Self {
        let lo = (addr(key.addr_lo), key.port_lo);
        let hi = (addr(key.addr_hi), key.port_hi);
        let (orig_dir, (orig_addr, orig_port), (resp_addr, resp_port)) =
            if stats.initiator == Direction::HiToLo as u8 {
                (Direction::HiToLo, hi, lo)
            } else {
                (Direction::LoToHi, lo, hi)
            };
        let o = orig_dir.index();
        let r = orig_dir.reverse().index();
        let is_tcp = key.proto == 6;
        Self {
            proto: proto_name(key.proto),
            orig_addr,
            orig_port,
            resp_addr,
            resp_port,
            vlan: key.vlan.iter().copied().filter(|&v| v != 0).collect(),
            orig_packets: stats.packets[o],
            orig_bytes: stats.bytes[o],
            resp_packets: stats.packets[r],
            resp_bytes: stats.bytes[r],
            orig_tcp_flags: if is_tcp {
                flags(stats.tcp_flags[o])
            } else {
                String::new()
            },
            resp_tcp_flags: if is_tcp {
                flags(stats.tcp_flags[r])
            } else {
                String::new()
            },
            first_seen: clock.to_utc(stats.first_seen_ns),
            last_seen: clock.to_utc(stats.last_seen_ns),
            bursts: stats.bursts,
            burst_gaps_ms: burst_gaps(stats),
        }
    }

    /// Whether either endpoint has address `a`.
    pub fn involves_addr(&self, a: IpAddr) -> bool {
        self.orig_addr == a || self.resp_addr == a
    }

    /// Whether either endpoint has port `p`.
    pub fn involves_port(&self, p: u16) -> bool {
        self.orig_port == p || self.resp_port == p
    }
}

/// An address from the key, IPv4 again if it is IPv4-mapped.
pub(crate) fn addr(bytes: [u8; 16]) -> IpAddr {
    let v6 = Ipv6Addr::from(bytes);
    v6.to_ipv4_mapped().map_or(IpAddr::V6(v6), IpAddr::V4)
}

/// The name of an IP protocol number, as used on the command line.
pub fn proto_name(proto: u8) -> String {
    match proto {
        1 => "icmp".to_owned(),
        6 => "tcp".to_owned(),
        17 => "udp".to_owned(),
        58 => "icmpv6".to_owned(),
        n => n.to_string(),
    }
}

/// The inverse of [`proto_name`]: `tcp` is 6, `"47"` is 47.
pub fn proto_number(name: &str) -> Option<u8> {
    match name {
        "icmp" => Some(1),
        "tcp" => Some(6),
        "udp" => Some(17),
        "icmpv6" => Some(58),
        other => other.parse().ok(),
    }
}

fn flags(bits: u8) -> String {
    [
        (tcp_flags::SYN, 'S'),
        (tcp_flags::ACK, 'A'),
        (tcp_flags::PSH, 'P'),
        (tcp_flags::FIN, 'F'),
        (tcp_flags::RST, 'R'),
        (tcp_flags::URG, 'U'),
    ]
    .iter()
    .filter(|(bit, _)| bits & bit != 0)
    .map(|&(_, c)| c)
    .collect()
}

/// The ring of a flow's latest silences, oldest first.
fn burst_gaps(stats: &FlowStats) -> Vec<u32> {
    let n = stats.bursts as usize;
    let kept = n.min(BURST_GAPS);
    (n + 1 - kept..=n)
        .filter(|_| kept > 0)
        .map(|k| stats.burst_gaps_ms[k % BURST_GAPS])
        .collect()
}

#[cfg(test)]
mod tests {
    use sensor_common::{Direction, FlowKey, FlowStats};

    use super::LiveFlow;
    use crate::clock::Clock;

    fn v4(a: [u8; 4]) -> [u8; 16] {
        let mut out = [0u8; 16];
        out[10] = 0xff;
        out[11] = 0xff;
        out[12..].copy_from_slice(&a);
        out
    }

    #[test]
    fn originator_is_the_initiator_even_when_it_is_the_higher_endpoint() {
        // Client 10.0.0.2:40000 connects to server 10.0.0.1:80; the server is `lo`.
        let (key, dir) =
            FlowKey::canonical(v4([10, 0, 0, 2]), 40000, v4([10, 0, 0, 1]), 80, 6, [0, 0]);
        assert_eq!(dir, Direction::HiToLo);
        let mut stats = FlowStats {
            initiator: dir as u8,
            first_seen_ns: 1_000_000_000,
            last_seen_ns: 3_000_000_000,
            ..FlowStats::default()
        };
        stats.packets = [4, 6];
        stats.bytes = [400, 600];
        stats.tcp_flags = [0x12, 0x02 | 0x10 | 0x01];
        let flow = LiveFlow::from_kernel(&key, &stats, &Clock::from_offset(0));
        assert_eq!(flow.orig_addr.to_string(), "10.0.0.2");
        assert_eq!(flow.orig_port, 40000);
        assert_eq!(flow.resp_port, 80);
        assert_eq!((flow.orig_packets, flow.orig_bytes), (6, 600));
        assert_eq!((flow.resp_packets, flow.resp_bytes), (4, 400));
        assert_eq!(flow.orig_tcp_flags, "SAF");
        assert_eq!(flow.resp_tcp_flags, "SA");
        assert_eq!(flow.proto, "tcp");
        assert!(flow.vlan.is_empty());
        assert_eq!((flow.last_seen - flow.first_seen).num_seconds(), 2);
    }
}
