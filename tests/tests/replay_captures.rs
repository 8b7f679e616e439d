//! Real captures of VLAN, QinQ and IPv6 extension-header traffic, replayed with tcpreplay
//! into the lab gateway: the flows the sensor records carry the VLAN ids and the addresses
//! tshark reads from the same files.

use std::collections::BTreeSet;

use sensor_tests::{cli::sensor_json, env, fixtures, running::Running};

/// The captures replayed, from `shared/pcaps/vlan_ipv6_tunnels`.
const FILES: [&str; 7] = [
    "zeek__q-in-q.pcap",
    "zeek__vlan-qinqinq.pcap",
    "zeek__ipv6-http-atomic-frag.pcap",
    "zeek__ipv6-hbh-routing0.pcap",
    "zeek__ipv6-fragmented-dns.pcap",
    "suricata__covert_send6.pcap",
    "suricata__frag-15.pcap",
];

/// A flow as both sides name it: its VLAN ids and its two addresses, ordered.
type Seen = (Vec<u16>, String, String);

fn pair(vlan: Vec<u16>, a: &str, b: &str) -> Seen {
    if a <= b {
        (vlan, a.to_owned(), b.to_owned())
    } else {
        (vlan, b.to_owned(), a.to_owned())
    }
}

/// What tshark sees in a file: for each frame whose IP header follows at most two VLAN tags
/// (what the sensor parses), the outer VLAN ids and addresses.
fn tshark_flows(path: &std::path::Path) -> BTreeSet<Seen> {
    let out = std::process::Command::new("tshark")
        .arg("-r")
        .arg(path)
        .args(["-T", "fields", "-E", "separator=/t"])
        .args(["-e", "frame.protocols", "-e", "vlan.id"])
        .args([
            "-e", "ip.src", "-e", "ip.dst", "-e", "ipv6.src", "-e", "ipv6.dst",
        ])
        .output()
        .expect("run tshark (installed by cargo xtask setup)");
    assert!(out.status.success(), "tshark failed on {}", path.display());
    let mut flows = BTreeSet::new();
    for line in String::from_utf8_lossy(&out.stdout).lines() {
        let cols: Vec<&str> = line.split('\t').collect();
        let layers: Vec<&str> = cols[0].split(':').filter(|l| *l != "ethertype").collect();
        let vlans = layers.iter().skip(1).take_while(|l| **l == "vlan").count();
        let ip = layers.get(1 + vlans).copied();
        if vlans > 2 || !matches!(ip, Some("ip" | "ipv6")) {
            continue;
        }
        let first = |i: usize| cols.get(i).and_then(|c| c.split(',').next()).unwrap_or("");
        let vlan: Vec<u16> = cols[1]
            .split(',')
            .filter(|v| !v.is_empty())
            .take(vlans)
            .map(|v| v.parse().expect("vlan id"))
            .collect();
        let (src, dst) = if ip == Some("ip") {
            (first(2), first(3))
        } else {
            (first(4), first(5))
        };
        flows.insert(pair(vlan, src, dst));
    }
    flows
}

#[test]
fn r4_tcpreplay_vlan_and_ipv6_captures_match_tshark() {
    if !env::require_root("r4_tcpreplay_vlan_and_ipv6_captures_match_tshark") {
        return;
    }
    let dir = fixtures::pcaps_dir().join("vlan_ipv6_tunnels");
    let run = Running::start_with("replay", &[]);
    let mut expected = BTreeSet::new();
    for file in FILES {
        let path = dir.join(file);
        assert!(path.is_file(), "missing capture {}", path.display());
        expected.extend(tshark_flows(&path));
        let out = run
            .lab
            .client
            .command("tcpreplay")
            .args(["-q", "-t", "-i", &run.lab.client_if])
            .arg(&path)
            .output()
            .expect("run tcpreplay");
        assert!(
            out.status.success(),
            "tcpreplay {file}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    std::thread::sleep(std::time::Duration::from_millis(200));
    let flows = sensor_json(&["flows", "--json", "--pin-dir", &run.pins()]);
    let seen: BTreeSet<Seen> = flows
        .as_array()
        .unwrap()
        .iter()
        .map(|f| {
            let vlan = f["vlan"]
                .as_array()
                .unwrap()
                .iter()
                .map(|v| v.as_u64().unwrap() as u16)
                .collect();
            pair(
                vlan,
                f["orig_addr"].as_str().unwrap(),
                f["resp_addr"].as_str().unwrap(),
            )
        })
        .collect();
    let missing: Vec<_> = expected.difference(&seen).collect();
    let extra: Vec<_> = seen.difference(&expected).collect();
    assert!(
        missing.is_empty() && extra.is_empty(),
        "sensor and tshark disagree\nonly tshark: {missing:#?}\nonly sensor: {extra:#?}"
    );
    assert!(
        expected.iter().any(|(v, _, _)| v.len() == 2),
        "QinQ flows were among them"
    );
    assert!(
        expected.iter().any(|(_, a, _)| a.contains(':')),
        "IPv6 flows were among them"
    );
    let status = sensor_json(&["status", "--json", "--pin-dir", &run.pins()]);
    assert!(
        status["counters"]["vlan_too_deep"].as_u64().unwrap() > 0,
        "triple-tagged frames are counted, not misread"
    );
}
