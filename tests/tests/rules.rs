//! The response rules under `BPF_PROG_TEST_RUN`: each rule class drops what it should and
//! nothing else, the never-block list wins, expired rules are ignored by the kernel, hits
//! are counted on the rule, and rule-hit events are paced.

use std::net::IpAddr;

use sensor::{
    capture::event::Event,
    clock::Clock,
    ebpf::{Datapath, Endpoint, LoadOptions, Rules, Target},
};
use sensor_common::{Counter, rule::scope};
use sensor_tests::{
    env,
    packet::{Ipv4, ethernet, ethertype, ipv6, tcp, udp},
};

const XDP_PASS: u32 = 2;
const XDP_DROP: u32 = 1;
const CLIENT: [u8; 4] = [10, 77, 1, 12];
const OTHER: [u8; 4] = [10, 77, 1, 13];
const SERVER: [u8; 4] = [198, 51, 100, 10];
const C2: [u8; 4] = [203, 0, 113, 66];

fn ip(a: [u8; 4]) -> IpAddr {
    IpAddr::from(a)
}

fn tcp4(src: [u8; 4], sp: u16, dst: [u8; 4], dp: u16, flags: u8) -> Vec<u8> {
    ethernet(
        &[],
        ethertype::IPV4,
        &Ipv4::new(src, dst, 6).packet(&tcp(sp, dp, flags, &[])),
    )
}

fn udp4(src: [u8; 4], sp: u16, dst: [u8; 4], dp: u16) -> Vec<u8> {
    ethernet(
        &[],
        ethertype::IPV4,
        &Ipv4::new(src, dst, 17).packet(&udp(sp, dp, b"x")),
    )
}

const SYN: u8 = 0x02;
const ACK: u8 = 0x10;
const SYN_ACK: u8 = 0x12;

fn datapath(test: &str) -> Option<(Datapath, Rules)> {
    if !env::require_root(test) {
        return None;
    }
    let dp = Datapath::load(&LoadOptions::default()).expect("load the XDP program");
    let rules = dp.rules().expect("rule maps");
    Some((dp, rules))
}

fn verdict(dp: &mut Datapath, packet: &[u8]) -> u32 {
    dp.test_run(packet).expect("test run")
}

fn endpoint(a: [u8; 4], port: u16, proto: u8) -> Endpoint {
    Endpoint {
        addr: ip(a),
        port,
        proto,
    }
}

#[test]
fn r4_block_ip_drops_that_address_on_the_chosen_side_only() {
    let Some((mut dp, mut rules)) = datapath("r4_block_ip") else {
        return;
    };
    rules
        .insert(
            &Target::BlockIp {
                addr: ip(C2),
                scope: scope::DST,
            },
            7,
            0,
        )
        .unwrap();
    assert_eq!(
        verdict(&mut dp, &tcp4(CLIENT, 40000, C2, 443, SYN)),
        XDP_DROP
    );
    assert_eq!(verdict(&mut dp, &udp4(CLIENT, 40001, C2, 53)), XDP_DROP);
    // The rule names C2 as a destination: packets from it pass.
    assert_eq!(
        verdict(&mut dp, &tcp4(C2, 443, CLIENT, 40000, SYN_ACK)),
        XDP_PASS
    );
    assert_eq!(
        verdict(&mut dp, &tcp4(CLIENT, 40002, SERVER, 443, SYN)),
        XDP_PASS
    );
    let listed = rules.list().unwrap();
    assert_eq!(listed.len(), 1);
    assert_eq!(listed[0].value.hits, 2, "two packets hit the rule");
    assert_eq!(listed[0].value.action_id, 7);
    assert_eq!(dp.counters().unwrap().get(Counter::DropBlockIp).unwrap(), 2);
    assert_eq!(dp.counters().unwrap().get(Counter::VerdictDrop).unwrap(), 2);
}

#[test]
fn r4_block_cidr_covers_ipv4_and_ipv6_networks() {
    let Some((mut dp, mut rules)) = datapath("r4_block_cidr") else {
        return;
    };
    rules
        .insert(
            &Target::BlockCidr {
                net: "203.0.113.0/24".parse().unwrap(),
                scope: scope::BOTH,
            },
            1,
            0,
        )
        .unwrap();
    rules
        .insert(
            &Target::BlockCidr {
                net: "2001:db8:bad::/48".parse().unwrap(),
                scope: scope::BOTH,
            },
            2,
            0,
        )
        .unwrap();
    assert_eq!(
        verdict(&mut dp, &tcp4(CLIENT, 1, [203, 0, 113, 200], 80, SYN)),
        XDP_DROP
    );
    assert_eq!(
        verdict(&mut dp, &tcp4([203, 0, 113, 7], 80, CLIENT, 1, SYN_ACK)),
        XDP_DROP
    );
    assert_eq!(
        verdict(&mut dp, &tcp4(CLIENT, 1, [203, 0, 114, 1], 80, SYN)),
        XDP_PASS
    );
    let mut bad = [0u8; 16];
    bad[..6].copy_from_slice(&[0x20, 0x01, 0x0d, 0xb8, 0x0b, 0xad]);
    bad[15] = 1;
    let mut good = bad;
    good[5] = 0xae;
    let mut client6 = [0u8; 16];
    client6[0] = 0xfd;
    client6[15] = 2;
    let v6 = |dst| {
        ethernet(
            &[],
            ethertype::IPV6,
            &ipv6(client6, dst, 17, &udp(5, 6, b"x")),
        )
    };
    assert_eq!(verdict(&mut dp, &v6(bad)), XDP_DROP);
    assert_eq!(verdict(&mut dp, &v6(good)), XDP_PASS);
    assert_eq!(
        dp.counters().unwrap().get(Counter::DropBlockCidr).unwrap(),
        3
    );
}

#[test]
fn r4_block_endpoint_and_exact_flow() {
    let Some((mut dp, mut rules)) = datapath("r4_block_endpoint_and_flow") else {
        return;
    };
    rules
        .insert(
            &Target::BlockEndpoint {
                endpoint: endpoint(SERVER, 445, 6),
                scope: scope::BOTH,
            },
            3,
            0,
        )
        .unwrap();
    rules
        .insert(
            &Target::BlockFlow {
                a: endpoint(CLIENT, 40000, 17),
                b: endpoint(SERVER, 53, 17),
            },
            4,
            0,
        )
        .unwrap();
    assert_eq!(
        verdict(&mut dp, &tcp4(CLIENT, 50000, SERVER, 445, SYN)),
        XDP_DROP
    );
    assert_eq!(
        verdict(&mut dp, &tcp4(SERVER, 445, CLIENT, 50000, SYN_ACK)),
        XDP_DROP
    );
    assert_eq!(
        verdict(&mut dp, &tcp4(CLIENT, 50000, SERVER, 446, SYN)),
        XDP_PASS
    );
    assert_eq!(verdict(&mut dp, &udp4(CLIENT, 40000, SERVER, 53)), XDP_DROP);
    assert_eq!(
        verdict(&mut dp, &udp4(SERVER, 53, CLIENT, 40000)),
        XDP_DROP,
        "both directions"
    );
    assert_eq!(
        verdict(&mut dp, &udp4(CLIENT, 40001, SERVER, 53)),
        XDP_PASS,
        "another flow"
    );
    let tagged = ethernet(
        &[(ethertype::VLAN, 30)],
        ethertype::IPV4,
        &Ipv4::new(CLIENT, SERVER, 17).packet(&udp(40000, 53, b"x")),
    );
    assert_eq!(
        verdict(&mut dp, &tagged),
        XDP_DROP,
        "flow blocks apply on every VLAN"
    );
}

#[test]
fn r4_suspend_drops_new_connections_only() {
    let Some((mut dp, mut rules)) = datapath("r4_suspend") else {
        return;
    };
    // An established TCP flow and a UDP flow exist before the suspend.
    assert_eq!(
        verdict(&mut dp, &tcp4(CLIENT, 41000, C2, 443, SYN)),
        XDP_PASS
    );
    assert_eq!(verdict(&mut dp, &udp4(CLIENT, 41001, C2, 443)), XDP_PASS);
    rules
        .insert(
            &Target::Suspend {
                endpoint: endpoint(C2, 443, 6),
            },
            5,
            0,
        )
        .unwrap();
    rules
        .insert(
            &Target::Suspend {
                endpoint: endpoint(C2, 443, 17),
            },
            6,
            0,
        )
        .unwrap();
    assert_eq!(
        verdict(&mut dp, &tcp4(CLIENT, 41000, C2, 443, ACK)),
        XDP_PASS,
        "open connection"
    );
    assert_eq!(
        verdict(&mut dp, &tcp4(C2, 443, CLIENT, 41000, ACK)),
        XDP_PASS,
        "its replies"
    );
    assert_eq!(
        verdict(&mut dp, &tcp4(CLIENT, 41002, C2, 443, SYN)),
        XDP_DROP,
        "new SYN"
    );
    assert_eq!(
        verdict(&mut dp, &tcp4(OTHER, 41003, C2, 443, SYN)),
        XDP_DROP,
        "from anyone"
    );
    assert_eq!(
        verdict(&mut dp, &udp4(CLIENT, 41001, C2, 443)),
        XDP_PASS,
        "known udp flow"
    );
    assert_eq!(
        verdict(&mut dp, &udp4(CLIENT, 41004, C2, 443)),
        XDP_DROP,
        "new udp flow"
    );
    assert_eq!(
        verdict(&mut dp, &tcp4(CLIENT, 41005, C2, 8443, SYN)),
        XDP_PASS,
        "other port"
    );
    assert_eq!(dp.counters().unwrap().get(Counter::DropSuspend).unwrap(), 3);
    let dropped = dp.flows().unwrap().entries().unwrap();
    assert!(
        !dropped
            .iter()
            .any(|(k, _)| k.port_lo == 41002 || k.port_hi == 41002),
        "a dropped SYN does not create a flow"
    );
}

#[test]
fn r4_quarantine_each_direction_with_allow_list() {
    let Some((mut dp, mut rules)) = datapath("r4_quarantine") else {
        return;
    };
    rules
        .insert(
            &Target::QuarantineIp {
                addr: ip(CLIENT),
                scope: scope::SRC,
            },
            8,
            0,
        )
        .unwrap();
    rules
        .insert(
            &Target::QuarantineAllow {
                net: "198.51.100.53/32".parse().unwrap(),
            },
            8,
            0,
        )
        .unwrap();
    assert_eq!(
        verdict(&mut dp, &tcp4(CLIENT, 1000, SERVER, 80, SYN)),
        XDP_DROP,
        "outgoing"
    );
    assert_eq!(
        verdict(&mut dp, &tcp4(SERVER, 80, CLIENT, 1000, SYN_ACK)),
        XDP_PASS,
        "incoming allowed: out only"
    );
    assert_eq!(
        verdict(&mut dp, &udp4(CLIENT, 1001, [198, 51, 100, 53], 53)),
        XDP_PASS,
        "its DNS server"
    );
    rules
        .insert(
            &Target::QuarantineIp {
                addr: ip(CLIENT),
                scope: scope::DST,
            },
            9,
            0,
        )
        .unwrap();
    assert_eq!(
        verdict(&mut dp, &tcp4(CLIENT, 1000, SERVER, 80, SYN)),
        XDP_PASS,
        "now in only"
    );
    assert_eq!(
        verdict(&mut dp, &tcp4(SERVER, 80, CLIENT, 1000, SYN_ACK)),
        XDP_DROP,
        "incoming"
    );
    // By MAC: the built frames come from SRC_MAC.
    rules
        .remove(&Target::QuarantineIp {
            addr: ip(CLIENT),
            scope: scope::DST,
        })
        .unwrap();
    rules
        .insert(
            &Target::QuarantineMac {
                mac: sensor_tests::packet::SRC_MAC,
                scope: scope::BOTH,
            },
            10,
            0,
        )
        .unwrap();
    assert_eq!(
        verdict(&mut dp, &tcp4(OTHER, 1, SERVER, 80, SYN)),
        XDP_DROP,
        "by MAC"
    );
    assert_eq!(
        dp.counters()
            .unwrap()
            .get(Counter::QuarantineAllowed)
            .unwrap(),
        1
    );
}

#[test]
fn r4_never_block_wins_and_expired_rules_are_ignored() {
    let Some((mut dp, mut rules)) = datapath("r4_never_block_and_expiry") else {
        return;
    };
    rules
        .insert(
            &Target::BlockCidr {
                net: "10.77.1.0/24".parse().unwrap(),
                scope: scope::BOTH,
            },
            1,
            0,
        )
        .unwrap();
    rules
        .insert(
            &Target::NeverBlock {
                net: "10.77.1.1/32".parse().unwrap(),
            },
            0,
            0,
        )
        .unwrap();
    assert_eq!(
        verdict(&mut dp, &udp4(CLIENT, 5, [10, 77, 1, 1], 53)),
        XDP_PASS,
        "gateway DNS"
    );
    assert_eq!(verdict(&mut dp, &udp4(CLIENT, 5, SERVER, 53)), XDP_DROP);
    assert_eq!(
        dp.counters()
            .unwrap()
            .get(Counter::NeverBlockPassed)
            .unwrap(),
        1
    );

    let now = Clock::monotonic_now().unwrap();
    rules
        .insert(
            &Target::BlockIp {
                addr: ip(C2),
                scope: scope::BOTH,
            },
            2,
            now - 1_000_000_000,
        )
        .unwrap();
    assert_eq!(
        verdict(&mut dp, &tcp4(SERVER, 5, C2, 80, SYN)),
        XDP_PASS,
        "expired a second ago"
    );
    rules
        .insert(
            &Target::BlockIp {
                addr: ip(C2),
                scope: scope::BOTH,
            },
            2,
            now + 60_000_000_000,
        )
        .unwrap();
    assert_eq!(
        verdict(&mut dp, &tcp4(SERVER, 5, C2, 80, SYN)),
        XDP_DROP,
        "live for a minute"
    );
    assert!(
        rules
            .remove(&Target::BlockIp {
                addr: ip(C2),
                scope: scope::BOTH
            })
            .unwrap()
    );
    assert!(
        rules
            .remove(&Target::BlockCidr {
                net: "10.77.1.0/24".parse().unwrap(),
                scope: 0
            })
            .unwrap()
    );
    assert_eq!(
        verdict(&mut dp, &udp4(CLIENT, 5, SERVER, 53)),
        XDP_PASS,
        "cleared"
    );
    assert_eq!(
        rules.refresh_active().unwrap(),
        sensor_common::rule::active::NEVER_BLOCK
    );
}

#[test]
fn r4_rule_hits_are_paced_events() {
    let Some((mut dp, mut rules)) = datapath("r4_rule_hit_events") else {
        return;
    };
    let mut ring = dp.events().unwrap();
    rules
        .insert(
            &Target::BlockIp {
                addr: ip(C2),
                scope: scope::BOTH,
            },
            77,
            0,
        )
        .unwrap();
    for port in 0..50 {
        assert_eq!(
            verdict(&mut dp, &tcp4(CLIENT, 42000 + port, C2, 443, SYN)),
            XDP_DROP
        );
    }
    let mut hits = Vec::new();
    while let Some(record) = ring.next() {
        if let Ok(Event::RuleHit(hit)) = Event::decode(&record) {
            hits.push(hit);
        }
    }
    assert_eq!(
        hits.len(),
        1,
        "50 drops within a second make one event: {hits:?}"
    );
    assert_eq!(hits[0].action_id, 77);
    assert_eq!(u32::from(hits[0].matched), Counter::DropBlockIp.slot());
    assert_eq!(rules.list().unwrap()[0].value.hits, 50);
}

#[test]
fn r4_a_new_rule_applies_at_once_to_a_flow_the_cache_holds() {
    let Some((mut dp, mut rules)) =
        datapath("r4_a_new_rule_applies_at_once_to_a_flow_the_cache_holds")
    else {
        return;
    };
    // Pin to one CPU so every packet meets the same per-CPU cache slot.
    let mut cpu = nix::sched::CpuSet::new();
    cpu.set(0).unwrap();
    nix::sched::sched_setaffinity(nix::unistd::Pid::from_raw(0), &cpu).unwrap();
    assert_eq!(
        verdict(&mut dp, &tcp4(CLIENT, 43000, SERVER, 443, SYN)),
        XDP_PASS
    );
    for _ in 0..5 {
        assert_eq!(
            verdict(&mut dp, &tcp4(CLIENT, 43000, SERVER, 443, ACK)),
            XDP_PASS
        );
    }
    assert!(
        dp.counters().unwrap().get(Counter::FlowCacheHit).unwrap() >= 4,
        "the flow is served from the cache"
    );
    rules
        .insert(
            &Target::BlockIp {
                addr: ip(SERVER),
                scope: scope::DST,
            },
            11,
            0,
        )
        .unwrap();
    assert_eq!(
        verdict(&mut dp, &tcp4(CLIENT, 43000, SERVER, 443, ACK)),
        XDP_DROP,
        "the cached pass verdict is not reused under the new rules"
    );
    let (key, dir) = sensor_common::FlowKey::canonical(
        sensor_tests::packet::mapped(CLIENT),
        43000,
        sensor_tests::packet::mapped(SERVER),
        443,
        6,
        [0, 0],
    );
    let entries = dp.flows().unwrap().entries().unwrap();
    let (_, stats) = entries.iter().find(|(k, _)| *k == key).expect("the flow");
    assert_eq!(
        stats.packets[dir.index()],
        6,
        "cached packets are counted exactly, drops are not"
    );
}
