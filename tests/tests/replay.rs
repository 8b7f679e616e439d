//! `sensor replay` on the shared captures against tshark on the same files: per conversation,
//! packets and bytes each way; per connection, the first HTTP request's host and user agent
//! and the first DNS query name.

use std::{collections::BTreeMap, net::IpAddr};

use sensor_tests::{
    cli::{field, sensor_json},
    env, fixtures,
};
use serde_json::Value;

/// Untagged, unfragmented captures (what tshark's conversations and ours agree on); the
/// last five hold frames longer than a page (GRO/TSO captures), which the frags-aware
/// program must count whole.
const FILES: [&str; 11] = [
    "benign_mixed/zeek__web.pcap",
    "benign_mixed/zeek__wikipedia.pcap",
    "benign_mixed/zeek__http_bro.org.pcap",
    "benign_mixed/zeek__workshop_2011_browse.pcap",
    "http_useragent/zeek__http_methods.pcap",
    "dns/zeek__dns_mdns.pcap",
    "beacon_c2/caldera__sandcat.pcap",
    "exfil_bulk/zeek__ssh.pcap",
    "exfil_bulk/zeek__smb3_multichannel.pcap",
    "exfil_bulk/zeek__http_putty-upload.pcap",
    "exfil_bulk/zeek__ftp_bigtransfer.pcap",
];

/// A conversation named the same way from both sides: proto and the two endpoints, ordered.
type Conv = (String, (IpAddr, u16), (IpAddr, u16));

/// Packets and bytes sent by the lower endpoint, then by the higher.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
struct Counts {
    lo: (u64, u64),
    hi: (u64, u64),
}

fn conv(proto: &str, a: (IpAddr, u16), b: (IpAddr, u16)) -> (Conv, bool) {
    if a <= b {
        ((proto.to_owned(), a, b), true)
    } else {
        ((proto.to_owned(), b, a), false)
    }
}

struct Tshark {
    counts: BTreeMap<Conv, Counts>,
    /// First HTTP request (host, user agent) per conversation.
    http: BTreeMap<Conv, (String, String)>,
    /// First DNS query name per conversation.
    dns: BTreeMap<Conv, String>,
}

fn tshark(path: &std::path::Path) -> Tshark {
    let out = std::process::Command::new("tshark")
        .arg("-r")
        .arg(path)
        .args(["-T", "fields", "-E", "separator=/t", "-e", "frame.len"])
        .args([
            "-e", "ip.src", "-e", "ip.dst", "-e", "ipv6.src", "-e", "ipv6.dst",
        ])
        .args([
            "-e",
            "tcp.srcport",
            "-e",
            "tcp.dstport",
            "-e",
            "udp.srcport",
            "-e",
            "udp.dstport",
        ])
        .args([
            "-e",
            "http.request",
            "-e",
            "http.host",
            "-e",
            "http.user_agent",
        ])
        .args(["-e", "dns.flags.response", "-e", "dns.qry.name"])
        .output()
        .expect("run tshark");
    assert!(out.status.success());
    let mut t = Tshark {
        counts: BTreeMap::new(),
        http: BTreeMap::new(),
        dns: BTreeMap::new(),
    };
    for line in String::from_utf8_lossy(&out.stdout).lines() {
        let raw: Vec<&str> = line.split('\t').collect();
        let c: Vec<&str> = raw
            .iter()
            .map(|f| f.split(',').next().unwrap_or(""))
            .collect();
        let (src, dst) = if c[1].is_empty() {
            (c[3], c[4])
        } else {
            (c[1], c[2])
        };
        let (Ok(src), Ok(dst)) = (src.parse::<IpAddr>(), dst.parse::<IpAddr>()) else {
            continue;
        };
        let (proto, sp, dp) = if !c[5].is_empty() {
            ("tcp", c[5], c[6])
        } else if !c[7].is_empty() {
            ("udp", c[7], c[8])
        } else {
            continue;
        };
        let (Ok(sp), Ok(dp)) = (sp.parse::<u16>(), dp.parse::<u16>()) else {
            continue;
        };
        let len: u64 = c[0].parse().unwrap();
        let (key, src_is_lo) = conv(proto, (src, sp), (dst, dp));
        let e = t.counts.entry(key.clone()).or_default();
        let side = if src_is_lo { &mut e.lo } else { &mut e.hi };
        side.0 += 1;
        side.1 += len;
        if !c[9].is_empty() && !t.http.contains_key(&key) {
            t.http
                .insert(key.clone(), (c[10].to_owned(), raw[11].to_owned()));
        }
        if c[12] == "0" && !c[13].is_empty() && !t.dns.contains_key(&key) {
            t.dns.insert(key, c[13].to_owned());
        }
    }
    t
}

#[test]
fn r5_replay_matches_tshark_per_conversation() {
    if !env::require_root("r5_replay_matches_tshark_per_conversation") {
        return;
    }
    let mut compared = (0, 0, 0);
    for file in FILES {
        let path = fixtures::pcaps_dir().join(file);
        let scratch = env::Scratch::new(&format!("replay-{}", compared.0));
        let state = scratch.path().to_string_lossy().into_owned();
        let path_str = path.to_string_lossy().into_owned();
        let summary = sensor_json(&["replay", "--json", "--state-dir", &state, &path_str]);
        assert_eq!(
            field(&summary, "cut"),
            0,
            "{file}: no frame longer than the program takes"
        );
        let records = sensor_json(&["conns", "--json", "--limit", "0", "--state-dir", &state]);
        let mut ours: BTreeMap<Conv, Counts> = BTreeMap::new();
        let mut http: BTreeMap<Conv, Value> = BTreeMap::new();
        let mut dns: BTreeMap<Conv, Value> = BTreeMap::new();
        for r in records.as_array().unwrap() {
            let proto = r["proto"].as_str().unwrap();
            if proto != "tcp" && proto != "udp" {
                continue;
            }
            let ip = |k: &str| r[k].as_str().unwrap().parse::<IpAddr>().unwrap();
            let orig = (ip("orig_h"), field(r, "orig_p") as u16);
            let resp = (ip("resp_h"), field(r, "resp_p") as u16);
            let (key, orig_is_lo) = conv(proto, orig, resp);
            let o = (field(r, "orig_pkts"), field(r, "orig_bytes"));
            let s = (field(r, "resp_pkts"), field(r, "resp_bytes"));
            let e = ours.entry(key.clone()).or_default();
            let (lo, hi) = if orig_is_lo { (o, s) } else { (s, o) };
            e.lo = (e.lo.0 + lo.0, e.lo.1 + lo.1);
            e.hi = (e.hi.0 + hi.0, e.hi.1 + hi.1);
            if !r["app"]["http"].is_null() {
                http.insert(key.clone(), r["app"]["http"].clone());
            }
            if !r["app"]["dns"].is_null() {
                dns.insert(key, r["app"]["dns"].clone());
            }
        }
        let want = tshark(&path);
        assert_eq!(
            ours, want.counts,
            "{file}: conversations, packets and bytes each way"
        );
        compared.0 += want.counts.len();
        for (key, (host, ua)) in &want.http {
            let got = &http
                .get(key)
                .unwrap_or_else(|| panic!("{file}: no HTTP fields for {key:?}"));
            assert_eq!(got["host"].as_str().unwrap_or(""), host, "{file} {key:?}");
            assert_eq!(
                got["user_agent"].as_str().unwrap_or(""),
                ua,
                "{file} {key:?}"
            );
            compared.1 += 1;
        }
        for (key, name) in &want.dns {
            let got = dns
                .get(key)
                .unwrap_or_else(|| panic!("{file}: no DNS fields for {key:?}"));
            assert_eq!(got["query"].as_str().unwrap(), name, "{file} {key:?}");
            compared.2 += 1;
        }
    }
    assert!(
        compared.0 > 50 && compared.1 > 20 && compared.2 > 5,
        "compared {compared:?} (conversations, HTTP, DNS)"
    );
}

#[test]
fn r5_replay_learns_dhcp_host_names_as_tshark_reads_them() {
    if !env::require_root("r5_replay_learns_dhcp_host_names_as_tshark_reads_them") {
        return;
    }
    let path = fixtures::pcaps_dir().join("benign_mixed/zeek__dhcp.pcap");
    let out = std::process::Command::new("tshark")
        .arg("-r")
        .arg(&path)
        .args(["-T", "fields", "-E", "separator=/t"])
        .args(["-e", "dhcp.hw.mac_addr", "-e", "dhcp.option.hostname"])
        .output()
        .expect("run tshark");
    let want: BTreeMap<String, String> = String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter_map(|l| l.split_once('\t'))
        .filter(|(_, name)| !name.is_empty())
        .map(|(mac, name)| (mac.to_owned(), name.to_owned()))
        .collect();
    assert!(!want.is_empty(), "the capture names a host");
    let scratch = env::Scratch::new("replay-dhcp");
    let state = scratch.path().to_string_lossy().into_owned();
    sensor_json(&[
        "replay",
        "--json",
        "--state-dir",
        &state,
        &path.to_string_lossy(),
    ]);
    let devices = sensor_json(&["devices", "--json", "--state-dir", &state]);
    for (mac, name) in &want {
        let device = devices
            .as_array()
            .unwrap()
            .iter()
            .find(|d| d["mac"] == mac.as_str())
            .unwrap_or_else(|| panic!("no device for {mac}: {devices}"));
        assert_eq!(device["hostname"], name.as_str());
        assert!(
            !device["addresses"].as_array().unwrap().is_empty(),
            "its DHCP address"
        );
    }
}

#[test]
fn r5_replay_reads_tls_server_names_and_ja4() {
    if !env::require_root("r5_replay_reads_tls_server_names_and_ja4") {
        return;
    }
    let mut checked = 0;
    for file in [
        "tls/suricata__ja4-tls_input.pcap",
        "tls/zeek__tls_chrome-34-google.pcap",
        "tls/zeek__tls13-ech.pcap",
        "tls/zeek__tls_client-certificate.pcap",
    ] {
        let path = fixtures::pcaps_dir().join(file);
        let out = std::process::Command::new("tshark")
            .arg("-r")
            .arg(&path)
            .args([
                "-Y",
                "tls.handshake.type==1",
                "-T",
                "fields",
                "-E",
                "separator=/t",
            ])
            .args([
                "-e",
                "tcp.srcport",
                "-e",
                "tls.handshake.extensions_server_name",
            ])
            .output()
            .expect("run tshark");
        let want: BTreeMap<u64, String> = String::from_utf8_lossy(&out.stdout)
            .lines()
            .filter_map(|l| l.split_once('\t'))
            .filter_map(|(p, n)| Some((p.parse().ok()?, n.to_owned())))
            .collect();
        let scratch = env::Scratch::new("replay-tls");
        let state = scratch.path().to_string_lossy().into_owned();
        sensor_json(&[
            "replay",
            "--json",
            "--state-dir",
            &state,
            &path.to_string_lossy(),
        ]);
        let records = sensor_json(&["conns", "--json", "--limit", "0", "--state-dir", &state]);
        for (port, sni) in &want {
            let r = records
                .as_array()
                .unwrap()
                .iter()
                .find(|r| field(r, "orig_p") == *port)
                .unwrap_or_else(|| panic!("{file}: no record from port {port}"));
            assert_eq!(r["app"]["service"], "tls", "{file}: {r}");
            assert_eq!(r["app"]["tls"]["sni"].as_str().unwrap_or(""), sni, "{file}");
            checked += 1;
            if file.contains("ja4") {
                // Suricata's expected fingerprint for this capture (suricata-verify
                // tests/ja4-tls/test.yaml).
                assert_eq!(
                    r["app"]["tls"]["ja4"],
                    "t12i1810s1_27d4652c4487_06a4338d0495"
                );
            }
        }
    }
    assert!(checked >= 4, "{checked} hellos compared");
}

/// One record per flow, named the way Zeek and Suricata name it: the set of Community IDs
/// in the records is the set tshark computes over every packet, ICMP and ICMPv6 included
/// (where the type and its counterpart stand in for ports).
#[test]
fn r5_replay_records_carry_tsharks_community_ids() {
    if !env::require_root("r5_replay_records_carry_tsharks_community_ids") {
        return;
    }
    let mut icmp = 0;
    for (i, file) in [
        "benign_mixed/zeek__smtp.pcap",
        "dns/zeek__dns_mdns.pcap",
        "vlan_ipv6_tunnels/suricata__covert_send6.pcap",
        "vlan_ipv6_tunnels/zeek__ipv6-http-atomic-frag.pcap",
    ]
    .into_iter()
    .enumerate()
    {
        let path = fixtures::pcaps_dir().join(file);
        let out = std::process::Command::new("tshark")
            .arg("-r")
            .arg(&path)
            .args(["--enable-protocol", "communityid"])
            .args(["-T", "fields", "-e", "communityid"])
            .output()
            .expect("run tshark");
        let want: std::collections::BTreeSet<String> = String::from_utf8_lossy(&out.stdout)
            .lines()
            .filter(|l| !l.is_empty())
            .map(str::to_owned)
            .collect();
        assert!(!want.is_empty(), "{file}: tshark names its flows");
        let scratch = env::Scratch::new(&format!("replay-cid-{i}"));
        let state = scratch.path().to_string_lossy().into_owned();
        sensor_json(&[
            "replay",
            "--json",
            "--state-dir",
            &state,
            &path.to_string_lossy(),
        ]);
        let records = sensor_json(&["conns", "--json", "--limit", "0", "--state-dir", &state]);
        let records = records.as_array().unwrap();
        icmp += records
            .iter()
            .filter(|r| r["proto"].as_str().is_some_and(|p| p.starts_with("icmp")))
            .count();
        let ours: std::collections::BTreeSet<String> = records
            .iter()
            .map(|r| r["community_id"].as_str().unwrap().to_owned())
            .collect();
        assert_eq!(ours, want, "{file}: Community IDs of the records");
        assert_eq!(ours.len(), records.len(), "{file}: one record per flow");
    }
    assert!(icmp >= 3, "ICMP and ICMPv6 records were compared ({icmp})");
}
