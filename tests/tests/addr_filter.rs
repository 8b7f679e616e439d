//! The address filter in front of the IP quarantines and blocks: it follows the rules as
//! they come and go, and rules an earlier agent left in pinned maps are in force as soon as
//! a new program is loaded over them.

use std::net::IpAddr;

use aya::maps::{HashMap, Map, MapData};
use sensor::ebpf::{Datapath, LoadOptions, Target};
use sensor_common::{
    BLOCK_IP_MAP, RuleKind, RuleValue,
    rule::{addr_filter, scope},
};
use sensor_tests::{
    env,
    packet::{Ipv4, ethernet, ethertype, mapped, tcp},
};

const XDP_PASS: u32 = 2;
const XDP_DROP: u32 = 1;
const CLIENT: [u8; 4] = [10, 77, 1, 12];
const QUARANTINED: [u8; 4] = [10, 77, 1, 13];
const C2: [u8; 4] = [203, 0, 113, 66];

fn syn(src: [u8; 4], dst: [u8; 4]) -> Vec<u8> {
    ethernet(
        &[],
        ethertype::IPV4,
        &Ipv4::new(src, dst, 6).packet(&tcp(40000, 443, 0x02, &[])),
    )
}

#[test]
fn r4_address_filter_follows_the_ip_rules() {
    if !env::require_root("r4_address_filter_follows_the_ip_rules") {
        return;
    }
    let position = |a: [u8; 4]| addr_filter::position(addr_filter::words(&mapped(a)));
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

/// An older agent knew no filter: its IP blocks sit in the pinned map with no bit set. A
/// program loaded over those pins derives the filter before it is attached.
#[test]
fn r4_ip_rules_left_in_pinned_maps_apply_after_a_reload() {
    if !env::require_root("r4_ip_rules_left_in_pinned_maps_apply_after_a_reload") {
        return;
    }
    let bpffs =
        sensor_tests::netns::BpfMount::new(&format!("{}af", sensor_tests::netns::unique_prefix()))
            .expect("mount a bpffs");
    let options = LoadOptions {
        pin_dir: Some(bpffs.path().join("sensor")),
        ..LoadOptions::default()
    };
    let first = Datapath::load(&options).expect("load the XDP program");
    drop(first.rules().unwrap());
    // Write the rule the way an agent without the filter did: into the map alone.
    let pinned = MapData::from_pin(bpffs.path().join("sensor").join(BLOCK_IP_MAP)).unwrap();
    let mut block_ip: HashMap<MapData, [u8; 16], RuleValue> =
        HashMap::try_from(Map::HashMap(pinned)).unwrap();
    block_ip
        .insert(
            mapped(C2),
            RuleValue {
                action_id: 9,
                kind: RuleKind::Block as u8,
                scope: scope::DST,
                ..RuleValue::default()
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
