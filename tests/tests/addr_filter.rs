//! The IP rule tables and the address filter in front of them: the filter follows the
//! rules as they come and go, rules an earlier agent left in pinned tables are in force as
//! soon as a new program is loaded over them, addresses that share a hash share its cells
//! without losing a rule, and untagged frames (judged before the header walk) and tagged
//! ones (judged after it) meet the same rules.

use std::net::IpAddr;

use aya::maps::{Array, Map, MapData};
use sensor::ebpf::{Datapath, LoadOptions, RuleError, Target};
use sensor_common::{
    AddrRule, BLOCK_IP_MAP, Counter, RuleKind, RuleValue,
    rule::{addr_hash, addr_table, addr_words, scope},
};
use sensor_tests::{
    env,
    packet::{Ipv4, ethernet, ethertype, ipv6, mapped, tcp},
};

const XDP_PASS: u32 = 2;
const XDP_DROP: u32 = 1;
const CLIENT: [u8; 4] = [10, 77, 1, 12];
const QUARANTINED: [u8; 4] = [10, 77, 1, 13];
const C2: [u8; 4] = [203, 0, 113, 66];

fn syn(src: [u8; 4], dst: [u8; 4]) -> Vec<u8> {
    syn_tagged(src, dst, &[])
}

#[test]
fn r4_address_filter_follows_the_ip_rules() {
    if !env::require_root("r4_address_filter_follows_the_ip_rules") {
        return;
    }
    let position = |a: [u8; 4]| addr_hash(addr_words(&mapped(a)));
    assert_ne!(
        position(C2),
        position(QUARANTINED),
        "the test needs two addresses with bits of their own"
    );
    let mut dp = Datapath::load(&LoadOptions::default()).expect("load the XDP program");
    let mut rules = dp.rules().unwrap();
    let block = Target::BlockIp {
        addr: IpAddr::from(C2),
        scope: scope::BOTH,
    };
    let quarantine = Target::QuarantineIp {
        addr: IpAddr::from(QUARANTINED),
        scope: scope::BOTH,
    };
    assert!(!rules.addr_filter_contains(IpAddr::from(C2)).unwrap());
    rules.insert(&block, 1, 0).unwrap();
    rules.insert(&quarantine, 2, 0).unwrap();
    assert!(rules.addr_filter_contains(IpAddr::from(C2)).unwrap());
    assert!(
        rules
            .addr_filter_contains(IpAddr::from(QUARANTINED))
            .unwrap()
    );
    assert_eq!(dp.test_run(&syn(CLIENT, C2)).unwrap(), XDP_DROP);
    assert_eq!(dp.test_run(&syn(QUARANTINED, CLIENT)).unwrap(), XDP_DROP);

    assert!(rules.remove(&block).unwrap());
    assert!(
        !rules.addr_filter_contains(IpAddr::from(C2)).unwrap(),
        "a removed rule's bit is cleared"
    );
    assert!(
        rules
            .addr_filter_contains(IpAddr::from(QUARANTINED))
            .unwrap(),
        "the other rule keeps its bit"
    );
    assert_eq!(dp.test_run(&syn(CLIENT, C2)).unwrap(), XDP_PASS);
    assert_eq!(dp.test_run(&syn(QUARANTINED, CLIENT)).unwrap(), XDP_DROP);
}

/// An agent that died between writing an IP block into its table and setting the filter
/// bit left the rule in the pinned table with no bit. A program loaded over those pins
/// derives the filter before it is attached.
#[test]
fn r4_ip_rules_left_in_pinned_maps_apply_after_a_reload() {
    if !env::require_root("r4_ip_rules_left_in_pinned_maps_apply_after_a_reload") {
        return;
    }
    let (bpffs, options) = env::pinned_load_options("af");
    let first = Datapath::load(&options).expect("load the XDP program");
    drop(first.rules().unwrap());
    // Write the rule into its home cell of the table alone, through the map itself.
    let pinned = MapData::from_pin(bpffs.path().join("sensor").join(BLOCK_IP_MAP)).unwrap();
    let mut block_ip: Array<MapData, AddrRule> = Array::try_from(Map::Array(pinned)).unwrap();
    block_ip
        .set(
            addr_hash(addr_words(&mapped(C2))),
            AddrRule {
                addr: mapped(C2),
                rule: RuleValue {
                    action_id: 9,
                    kind: RuleKind::Block as u8,
                    scope: scope::DST,
                    ..RuleValue::default()
                },
                _pad: [0; 8],
            },
            0,
        )
        .unwrap();
    let rules = first.rules().unwrap();
    assert!(!rules.addr_filter_contains(IpAddr::from(C2)).unwrap());
    drop(rules);

    let mut second = Datapath::load(&options).expect("load over the pins");
    let rules = second.rules().unwrap();
    assert!(
        rules.addr_filter_contains(IpAddr::from(C2)).unwrap(),
        "the filter is rebuilt from the pinned rules at load"
    );
    assert_eq!(second.test_run(&syn(CLIENT, C2)).unwrap(), XDP_DROP);
    drop(first);
}

fn syn6(src: [u8; 16], dst: [u8; 16], tags: &[(u16, u16)]) -> Vec<u8> {
    ethernet(
        tags,
        ethertype::IPV6,
        &ipv6(src, dst, 6, &tcp(40000, 443, 0x02, &[])),
    )
}

fn syn_tagged(src: [u8; 4], dst: [u8; 4], tags: &[(u16, u16)]) -> Vec<u8> {
    ethernet(
        tags,
        ethertype::IPV4,
        &Ipv4::new(src, dst, 6).packet(&tcp(40000, 443, 0x02, &[])),
    )
}

#[test]
fn r4_ip_rules_judge_ipv6_and_tagged_frames_alike() {
    if !env::require_root("r4_ip_rules_judge_ipv6_and_tagged_frames_alike") {
        return;
    }
    let v6_c2: [u8; 16] = "2001:db8:66::1"
        .parse::<std::net::Ipv6Addr>()
        .unwrap()
        .octets();
    let v6_client: [u8; 16] = "2001:db8:77::12"
        .parse::<std::net::Ipv6Addr>()
        .unwrap()
        .octets();
    let mut dp = Datapath::load(&LoadOptions::default()).expect("load the XDP program");
    let mut rules = dp.rules().unwrap();
    for addr in [IpAddr::from(C2), IpAddr::from(v6_c2)] {
        rules
            .insert(
                &Target::BlockIp {
                    addr,
                    scope: scope::DST,
                },
                5,
                0,
            )
            .unwrap();
    }
    let vlan = [(ethertype::VLAN, 10)];
    let qinq = [(ethertype::QINQ, 20), (ethertype::VLAN, 30)];
    // Untagged: decided on the addresses at their fixed offsets, before the header walk.
    assert_eq!(dp.test_run(&syn6(v6_client, v6_c2, &[])).unwrap(), XDP_DROP);
    assert_eq!(dp.test_run(&syn6(v6_c2, v6_client, &[])).unwrap(), XDP_PASS);
    // Tagged: decided after the walk, on the same tables.
    assert_eq!(
        dp.test_run(&syn6(v6_client, v6_c2, &vlan)).unwrap(),
        XDP_DROP
    );
    assert_eq!(
        dp.test_run(&syn_tagged(CLIENT, C2, &qinq)).unwrap(),
        XDP_DROP
    );
    assert_eq!(
        dp.test_run(&syn_tagged(C2, CLIENT, &qinq)).unwrap(),
        XDP_PASS
    );
    let counters = dp.counters().unwrap();
    assert_eq!(counters.get(Counter::DropBlockIp).unwrap(), 3);
    // Only the tagged frames were walked before their verdict.
    assert_eq!(counters.get(Counter::Vlan).unwrap(), 3);
    let hits: u64 = rules.list().unwrap().iter().map(|r| r.value.hits).sum();
    assert_eq!(hits, 3, "every drop is a hit on its rule");
}

/// IPv4 addresses whose mapped forms all have the hash of `C2`.
fn sharing_c2s_hash(n: usize) -> Vec<[u8; 4]> {
    let want = addr_hash(addr_words(&mapped(C2)));
    (0u32..)
        .map(|i| (0x0a00_0000 | i).to_be_bytes())
        .filter(|a| addr_hash(addr_words(&mapped(*a))) == want)
        .take(n)
        .collect()
}

#[test]
fn r4_addresses_sharing_a_hash_keep_their_own_rules() {
    if !env::require_root("r4_addresses_sharing_a_hash_keep_their_own_rules") {
        return;
    }
    let probes = addr_table::PROBES as usize;
    let crowd = sharing_c2s_hash(probes + 1);
    let mut dp = Datapath::load(&LoadOptions::default()).expect("load the XDP program");
    let mut rules = dp.rules().unwrap();
    let block = |a: [u8; 4]| Target::BlockIp {
        addr: IpAddr::from(a),
        scope: scope::DST,
    };
    for (id, a) in (1..).zip(&crowd[..probes]) {
        rules.insert(&block(*a), id, 0).unwrap();
    }
    let refused = rules.insert(&block(crowd[probes]), 99, 0).unwrap_err();
    assert!(
        matches!(refused, RuleError::Place { .. }),
        "the {}th address of one hash has no cell: {refused:#}",
        probes + 1
    );
    // Writing a rule again replaces it in its cell.
    rules.insert(&block(crowd[0]), 42, 0).unwrap();
    let listed = rules.list().unwrap();
    assert_eq!(listed.len(), probes);
    assert!(listed.iter().any(|r| r.value.action_id == 42));
    for a in &crowd[..probes] {
        assert_eq!(dp.test_run(&syn(CLIENT, *a)).unwrap(), XDP_DROP);
    }
    assert_eq!(dp.test_run(&syn(CLIENT, crowd[probes])).unwrap(), XDP_PASS);

    // A hole in the middle of the cells: the rules after it still apply, the bit stays.
    assert!(rules.remove(&block(crowd[2])).unwrap());
    assert_eq!(dp.test_run(&syn(CLIENT, crowd[2])).unwrap(), XDP_PASS);
    for a in crowd[..probes].iter().filter(|a| **a != crowd[2]) {
        assert_eq!(dp.test_run(&syn(CLIENT, *a)).unwrap(), XDP_DROP);
    }
    assert!(rules.addr_filter_contains(IpAddr::from(crowd[0])).unwrap());
    // The hole takes the refused address now.
    rules.insert(&block(crowd[probes]), 99, 0).unwrap();
    assert_eq!(dp.test_run(&syn(CLIENT, crowd[probes])).unwrap(), XDP_DROP);

    for a in crowd.iter().filter(|a| **a != crowd[2]) {
        assert!(rules.remove(&block(*a)).unwrap());
    }
    assert!(
        !rules.addr_filter_contains(IpAddr::from(crowd[0])).unwrap(),
        "the bit goes with the hash's last rule"
    );
    assert!(rules.list().unwrap().is_empty());
}
