//! Community ID flow hashing, version 1, as published by Corelight
//! (<https://github.com/corelight/community-id-spec>), so connection records join with
//! Zeek's `conn.log` and Suricata's `eve.json` on the same string.
//!
//! `1:` + base64(SHA-1(seed ‖ lower address ‖ higher address ‖ protocol ‖ 0 ‖ lower port ‖
//! higher port)), where "lower" orders endpoints by address, then port; seed and ports are
//! 16-bit big-endian. ICMP and `ICMPv6` use the message type as the source port and the
//! counterpart type (echo request ↔ reply, …) as the destination port, so both directions of
//! an exchange hash alike; a type without a counterpart is one-way and is not reordered.
//! Protocols without ports hash only addresses and protocol.

use std::net::IpAddr;

use base64::{Engine as _, engine::general_purpose::STANDARD};
use sensor_common::flow::icmp_ports;
use sha1::{Digest as _, Sha1};

const TCP: u8 = 6;
const UDP: u8 = 17;
const SCTP: u8 = 132;
const ICMP: u8 = 1;
const ICMPV6: u8 = 58;

/// The Community ID of a flow from `src` to `dst`. For ICMP and `ICMPv6`, `src_port` is the
/// message type and `dst_port` the code (or, as the kernel keys flows, the counterpart type:
/// either gives the same hash for paired types).
pub fn community_id(
    seed: u16,
    src: IpAddr,
    src_port: u16,
    dst: IpAddr,
    dst_port: u16,
    proto: u8,
) -> String {
    let (mut sport, mut dport, mut one_way) = (src_port, dst_port, false);
    if proto == ICMP || proto == ICMPV6 {
        let (t, other, paired) = icmp_ports(proto, src_port as u8, dst_port as u8);
        (sport, dport, one_way) = (t, other, !paired);
    }
    let (a, b) = (octets(src), octets(dst));
    let swap = !one_way && (a > b || (a == b && sport > dport));
    let ((a, ap), (b, bp)) = if swap {
        ((b, dport), (a, sport))
    } else {
        ((a, sport), (b, dport))
    };
    let mut hash = Sha1::new();
    hash.update(seed.to_be_bytes());
    hash.update(&a);
    hash.update(&b);
    hash.update([proto, 0]);
    if matches!(proto, TCP | UDP | SCTP | ICMP | ICMPV6) {
        hash.update(ap.to_be_bytes());
        hash.update(bp.to_be_bytes());
    }
    format!("1:{}", STANDARD.encode(hash.finalize()))
}

/// Address bytes as the spec hashes them: 4 for IPv4, 16 for IPv6.
fn octets(addr: IpAddr) -> Vec<u8> {
    match addr {
        IpAddr::V4(a) => a.octets().to_vec(),
        IpAddr::V6(a) => a.octets().to_vec(),
    }
}

#[cfg(test)]
mod tests {
    use super::community_id;

    fn ip(s: &str) -> std::net::IpAddr {
        s.parse().unwrap()
    }

    /// Computed by tshark 4.0's `communityid` dissector on `zeek__web.pcap`.
    #[test]
    fn matches_tshark_on_a_tcp_flow_both_ways() {
        let want = "1:3okdsHzODTZ2rI34EhggYTHOl0c=";
        let fwd = community_id(
            0,
            ip("141.42.64.125"),
            56729,
            ip("125.190.109.199"),
            12345,
            6,
        );
        let rev = community_id(
            0,
            ip("125.190.109.199"),
            12345,
            ip("141.42.64.125"),
            56729,
            6,
        );
        assert_eq!(fwd, want);
        assert_eq!(rev, want);
    }

    #[test]
    fn icmp_echo_request_and_reply_hash_alike() {
        let req = community_id(0, ip("10.0.0.1"), 8, ip("10.0.0.2"), 0, 1);
        let rep = community_id(0, ip("10.0.0.2"), 0, ip("10.0.0.1"), 0, 1);
        assert_eq!(req, rep);
    }

    #[test]
    fn seed_changes_the_hash() {
        let a = community_id(0, ip("10.0.0.1"), 1, ip("10.0.0.2"), 2, 17);
        let b = community_id(1, ip("10.0.0.1"), 1, ip("10.0.0.2"), 2, 17);
        assert_ne!(a, b);
    }
}
