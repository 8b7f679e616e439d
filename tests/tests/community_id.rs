//! Our Community ID against tshark's `communityid` dissector, packet by packet, on real
//! captures: TCP, UDP, ICMP and ICMPv6, IPv4 and IPv6.

use std::net::IpAddr;

use sensor::capture::community_id::community_id;
use sensor_tests::fixtures;

const FILES: [&str; 5] = [
    "benign_mixed/zeek__web.pcap",
    "benign_mixed/zeek__dhcp.pcap",
    "dns/zeek__dns_mdns.pcap",
    "vlan_ipv6_tunnels/zeek__ipv6-http-atomic-frag.pcap",
    "vlan_ipv6_tunnels/suricata__covert_send6.pcap",
];

#[test]
fn r5_community_id_matches_tshark_packet_by_packet() {
    let mut checked = 0;
    for file in FILES {
        let path = fixtures::pcaps_dir().join(file);
        let out = std::process::Command::new("tshark")
            .arg("-r")
            .arg(&path)
            .args([
                "--enable-protocol",
                "communityid",
                "-T",
                "fields",
                "-E",
                "separator=/t",
            ])
            .args([
                "-e", "ip.src", "-e", "ip.dst", "-e", "ipv6.src", "-e", "ipv6.dst",
            ])
            .args([
                "-e",
                "ip.proto",
                "-e",
                "ipv6.nxt",
                "-e",
                "tcp.srcport",
                "-e",
                "tcp.dstport",
            ])
            .args([
                "-e",
                "udp.srcport",
                "-e",
                "udp.dstport",
                "-e",
                "icmp.type",
                "-e",
                "icmp.code",
            ])
            .args([
                "-e",
                "icmpv6.type",
                "-e",
                "icmpv6.code",
                "-e",
                "communityid",
            ])
            .output()
            .expect("run tshark (installed by cargo xtask setup)");
        assert!(out.status.success(), "tshark failed on {file}");
        for line in String::from_utf8_lossy(&out.stdout).lines() {
            let raw: Vec<&str> = line.split('\t').collect();
            let c: Vec<&str> = raw
                .iter()
                .map(|f| f.split(',').next().unwrap_or(""))
                .collect();
            let want = c[14];
            if want.is_empty() {
                continue;
            }
            let (src, dst) = if c[0].is_empty() {
                (c[2], c[3])
            } else {
                (c[0], c[1])
            };
            let (Ok(src), Ok(dst)) = (src.parse::<IpAddr>(), dst.parse::<IpAddr>()) else {
                continue;
            };
            let num = |s: &str| s.parse::<u16>().ok();
            // The upper-layer protocol: after any IPv6 extension headers.
            let (proto, sp, dp): (u8, _, _) = if !c[6].is_empty() {
                (6, num(c[6]), num(c[7]))
            } else if !c[8].is_empty() {
                (17, num(c[8]), num(c[9]))
            } else if !c[10].is_empty() {
                (1, num(c[10]), num(c[11]))
            } else if !c[12].is_empty() {
                (58, num(c[12]), num(c[13]))
            } else {
                let last = |s: &str| s.rsplit(',').next().and_then(|v| v.parse().ok());
                let p = if c[4].is_empty() {
                    last(raw[5])
                } else {
                    last(raw[4])
                };
                (p.unwrap_or(0), Some(0), Some(0))
            };
            let (Some(sp), Some(dp)) = (sp, dp) else {
                continue;
            };
            let got = community_id(0, src, sp, dst, dp, proto);
            assert_eq!(got, want, "{file}: {src}:{sp} -> {dst}:{dp} proto {proto}");
            checked += 1;
        }
    }
    assert!(checked > 100, "only {checked} packets compared");
}
