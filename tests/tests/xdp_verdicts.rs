//! A katran-style table: each row a packet, the verdict expected, the counter it must bump,
//! and the flow it must (or must not) create. Run through `BPF_PROG_TEST_RUN`, so no
//! interface is involved.

use sensor::ebpf::{Datapath, LoadOptions};
use sensor_common::{Counter, FlowKey};
use sensor_tests::{
    env,
    packet::{Ipv4, ethernet, ethertype, icmp_echo, ipv6, mapped, tcp, udp},
};

const XDP_PASS: u32 = 2;
const A: [u8; 4] = [10, 77, 1, 12];
const B: [u8; 4] = [198, 51, 100, 10];

struct Row {
    description: &'static str,
    packet: Vec<u8>,
    verdict: u32,
    counter: Counter,
    /// The flow the packet must be accounted to, or `None` if it must not create one.
    flow: Option<FlowKey>,
}

fn v6(last: u8) -> [u8; 16] {
    let mut a = [0u8; 16];
    a[0] = 0x20;
    a[1] = 0x01;
    a[2] = 0x0d;
    a[3] = 0xb8;
    a[15] = last;
    a
}

#[expect(clippy::unnecessary_wraps, reason = "table rows hold an Option")]
fn key(
    src: [u8; 16],
    sp: u16,
    dst: [u8; 16],
    dp: u16,
    proto: u8,
    vlan: [u16; 2],
) -> Option<FlowKey> {
    Some(FlowKey::canonical(src, sp, dst, dp, proto, vlan).0)
}

/// `n` destination-options headers (8 bytes each), the last pointing at UDP, then `rest`.
fn ext_chain(n: usize, rest: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    for i in 0..n {
        let next = if i + 1 == n { 17 } else { 60 };
        out.extend_from_slice(&[next, 0, 1, 4, 0, 0, 0, 0]);
    }
    out.extend_from_slice(rest);
    out
}

fn rows() -> Vec<Row> {
    let ip = |proto| Ipv4::new(A, B, proto);
    let tcp_syn = tcp(40000, 80, 0x02, &[]);
    vec![
        Row {
            description: "ipv4 tcp syn",
            packet: ethernet(&[], ethertype::IPV4, &ip(6).packet(&tcp_syn)),
            verdict: XDP_PASS,
            counter: Counter::Tcp,
            flow: key(mapped(A), 40000, mapped(B), 80, 6, [0, 0]),
        },
        Row {
            description: "ipv4 udp dns query",
            packet: ethernet(&[], ethertype::IPV4, &ip(17).packet(&udp(53000, 53, b"q"))),
            verdict: XDP_PASS,
            counter: Counter::Udp,
            flow: key(mapped(A), 53000, mapped(B), 53, 17, [0, 0]),
        },
        Row {
            description: "ipv4 icmp echo: type and counterpart stand in for ports",
            packet: ethernet(&[], ethertype::IPV4, &ip(1).packet(&icmp_echo(7, 1))),
            verdict: XDP_PASS,
            counter: Counter::Icmp,
            flow: key(mapped(A), 8, mapped(B), 0, 1, [0, 0]),
        },
        Row {
            description: "ipv6 udp",
            packet: ethernet(
                &[],
                ethertype::IPV6,
                &ipv6(v6(1), v6(2), 17, &udp(5000, 443, b"x")),
            ),
            verdict: XDP_PASS,
            counter: Counter::Udp,
            flow: key(v6(1), 5000, v6(2), 443, 17, [0, 0]),
        },
        Row {
            description: "ipv6 tcp",
            packet: ethernet(
                &[],
                ethertype::IPV6,
                &ipv6(v6(3), v6(4), 6, &tcp(22, 50000, 0x12, &[])),
            ),
            verdict: XDP_PASS,
            counter: Counter::Tcp,
            flow: key(v6(3), 22, v6(4), 50000, 6, [0, 0]),
        },
        Row {
            description: "ipv4 with 4 bytes of options: ports read after the options",
            packet: {
                let mut h = ip(6);
                h.ihl = 6;
                h.options = vec![1, 1, 1, 0];
                ethernet(&[], ethertype::IPV4, &h.packet(&tcp(41000, 443, 0x02, &[])))
            },
            verdict: XDP_PASS,
            counter: Counter::Tcp,
            flow: key(mapped(A), 41000, mapped(B), 443, 6, [0, 0]),
        },
        Row {
            description: "ipv4 non-first fragment: payload is not read as ports",
            packet: {
                let mut h = ip(17);
                h.fragment_offset = 185;
                ethernet(
                    &[],
                    ethertype::IPV4,
                    &h.packet(&udp(1111, 2222, b"payload")),
                )
            },
            verdict: XDP_PASS,
            counter: Counter::Ipv4Fragment,
            flow: key(mapped(A), 0, mapped(B), 0, 17, [0, 0]),
        },
        Row {
            description: "ipv4 ihl 4 is malformed",
            packet: {
                let mut h = ip(6);
                h.ihl = 4;
                ethernet(&[], ethertype::IPV4, &h.packet(&tcp_syn))
            },
            verdict: XDP_PASS,
            counter: Counter::BadIpv4Header,
            flow: None,
        },
        Row {
            description: "ipv4 ihl 15 past the end of the packet",
            packet: {
                let mut h = ip(6);
                h.ihl = 15;
                ethernet(&[], ethertype::IPV4, &h.packet(&[0; 4]))
            },
            verdict: XDP_PASS,
            counter: Counter::TruncatedIpv4,
            flow: None,
        },
        Row {
            description: "ipv4 header cut at 10 bytes",
            packet: ethernet(&[], ethertype::IPV4, &ip(6).packet(&[])[..10]),
            verdict: XDP_PASS,
            counter: Counter::TruncatedIpv4,
            flow: None,
        },
        Row {
            description: "tcp header cut at 12 bytes",
            packet: ethernet(&[], ethertype::IPV4, &ip(6).packet(&tcp_syn[..12])),
            verdict: XDP_PASS,
            counter: Counter::TruncatedL4,
            flow: None,
        },
        Row {
            description: "udp header cut at 4 bytes",
            packet: ethernet(&[], ethertype::IPV4, &ip(17).packet(&udp(1, 2, &[])[..4])),
            verdict: XDP_PASS,
            counter: Counter::TruncatedL4,
            flow: None,
        },
        Row {
            description: "ipv6 header cut at 30 bytes",
            packet: ethernet(&[], ethertype::IPV6, &ipv6(v6(1), v6(2), 6, &[])[..30]),
            verdict: XDP_PASS,
            counter: Counter::TruncatedIpv6,
            flow: None,
        },
        Row {
            description: "802.1q tagged udp: vlan is part of the key",
            packet: ethernet(
                &[(ethertype::VLAN, 100)],
                ethertype::IPV4,
                &ip(17).packet(&udp(6000, 161, b"s")),
            ),
            verdict: XDP_PASS,
            counter: Counter::Vlan,
            flow: key(mapped(A), 6000, mapped(B), 161, 17, [100, 0]),
        },
        Row {
            description: "qinq tagged udp: outer then inner vlan",
            packet: ethernet(
                &[(ethertype::QINQ, 200), (ethertype::VLAN, 100)],
                ethertype::IPV4,
                &ip(17).packet(&udp(6000, 161, b"s")),
            ),
            verdict: XDP_PASS,
            counter: Counter::Vlan,
            flow: key(mapped(A), 6000, mapped(B), 161, 17, [200, 100]),
        },
        Row {
            description: "three vlan tags are more than the parser follows",
            packet: ethernet(
                &[
                    (ethertype::QINQ, 1),
                    (ethertype::VLAN, 2),
                    (ethertype::VLAN, 3),
                ],
                ethertype::IPV4,
                &ip(17).packet(&udp(1, 2, b"")),
            ),
            verdict: XDP_PASS,
            counter: Counter::VlanTooDeep,
            flow: None,
        },
        Row {
            description: "vlan tag cut short",
            packet: {
                let mut p = ethernet(&[], ethertype::VLAN, &[]);
                p.extend_from_slice(&[0x00]);
                p
            },
            verdict: XDP_PASS,
            counter: Counter::TruncatedVlan,
            flow: None,
        },
        Row {
            description: "arp request is passed without a flow",
            packet: ethernet(
                &[],
                ethertype::ARP,
                &sensor_tests::packet::arp(1, [10, 77, 1, 12], [10, 77, 1, 1]),
            ),
            verdict: XDP_PASS,
            counter: Counter::Arp,
            flow: None,
        },
        Row {
            description: "ipv6 hop-by-hop header: the chain is walked to the udp ports",
            packet: ethernet(
                &[],
                ethertype::IPV6,
                &ipv6(
                    v6(5),
                    v6(6),
                    0,
                    &[&[17u8, 0, 1, 4, 0, 0, 0, 0][..], &udp(7000, 53, b"q")].concat(),
                ),
            ),
            verdict: XDP_PASS,
            counter: Counter::Ipv6ExtensionHeader,
            flow: key(v6(5), 7000, v6(6), 53, 17, [0, 0]),
        },
        Row {
            description: "ipv6 chain of 6 extension headers (the limit) still reaches the ports",
            packet: ethernet(
                &[],
                ethertype::IPV6,
                &ipv6(v6(7), v6(8), 0, &ext_chain(6, &udp(7001, 53, b"q"))),
            ),
            verdict: XDP_PASS,
            counter: Counter::Ipv6ExtensionHeader,
            flow: key(v6(7), 7001, v6(8), 53, 17, [0, 0]),
        },
        Row {
            description: "ipv6 chain of 7 extension headers is over the limit: no ports",
            packet: ethernet(
                &[],
                ethertype::IPV6,
                &ipv6(v6(9), v6(10), 0, &ext_chain(7, &udp(7002, 53, b"q"))),
            ),
            verdict: XDP_PASS,
            counter: Counter::Ipv6ExtensionChainTooLong,
            flow: key(v6(9), 0, v6(10), 0, 60, [0, 0]),
        },
        Row {
            description: "ipv6 destination options header cut short",
            packet: ethernet(
                &[],
                ethertype::IPV6,
                &ipv6(v6(11), v6(12), 60, &[17, 4, 0, 0]),
            ),
            verdict: XDP_PASS,
            counter: Counter::TruncatedIpv6Extension,
            flow: None,
        },
        Row {
            description: "ipv6 non-first fragment: payload is not read as ports",
            packet: ethernet(
                &[],
                ethertype::IPV6,
                &ipv6(
                    v6(13),
                    v6(14),
                    44,
                    &[&[17u8, 0, 0x05, 0xc8, 0, 0, 0, 1][..], &udp(1, 2, b"x")].concat(),
                ),
            ),
            verdict: XDP_PASS,
            counter: Counter::Ipv6Fragment,
            flow: key(v6(13), 0, v6(14), 0, 17, [0, 0]),
        },
        Row {
            description: "ipv6 first fragment: ports are read",
            packet: ethernet(
                &[],
                ethertype::IPV6,
                &ipv6(
                    v6(15),
                    v6(16),
                    44,
                    &[&[17u8, 0, 0x00, 0x01, 0, 0, 0, 2][..], &udp(7003, 9, b"x")].concat(),
                ),
            ),
            verdict: XDP_PASS,
            counter: Counter::Udp,
            flow: key(v6(15), 7003, v6(16), 9, 17, [0, 0]),
        },
        Row {
            description: "tcp data offset 4 is malformed",
            packet: {
                let mut t = tcp(40000, 80, 0x02, &[]);
                t[12] = 4 << 4;
                ethernet(&[], ethertype::IPV4, &ip(6).packet(&t))
            },
            verdict: XDP_PASS,
            counter: Counter::BadTcpHeader,
            flow: None,
        },
        Row {
            description: "tcp data offset 15 runs past the end of the frame",
            packet: {
                let mut t = tcp(40000, 80, 0x02, &[]);
                t[12] = 15 << 4;
                ethernet(&[], ethertype::IPV4, &ip(6).packet(&t))
            },
            verdict: XDP_PASS,
            counter: Counter::BadTcpHeader,
            flow: None,
        },
        Row {
            description: "icmp destination unreachable carrying the offending header",
            packet: {
                let inner = ip(17).packet(&udp(53000, 53, b""));
                let mut icmp = vec![3, 3, 0, 0, 0, 0, 0, 0];
                icmp.extend_from_slice(&inner);
                ethernet(&[], ethertype::IPV4, &Ipv4::new(B, A, 1).packet(&icmp))
            },
            verdict: XDP_PASS,
            counter: Counter::Icmp,
            flow: key(mapped(B), 3, mapped(A), 3, 1, [0, 0]),
        },
        Row {
            description: "icmp header cut at 2 bytes",
            packet: ethernet(&[], ethertype::IPV4, &ip(1).packet(&[8, 0])),
            verdict: XDP_PASS,
            counter: Counter::TruncatedL4,
            flow: None,
        },
        Row {
            description: "jumbo frame (3000 bytes) is accounted whole",
            packet: ethernet(
                &[],
                ethertype::IPV4,
                &ip(17).packet(&udp(7004, 4789, &[0x55; 2958])),
            ),
            verdict: XDP_PASS,
            counter: Counter::Udp,
            flow: key(mapped(A), 7004, mapped(B), 4789, 17, [0, 0]),
        },
        Row {
            description: "runt ethernet frame of 14 bytes, no payload",
            packet: ethernet(&[], ethertype::IPV4, &[]),
            verdict: XDP_PASS,
            counter: Counter::TruncatedIpv4,
            flow: None,
        },
        Row {
            description: "arp with an unusual hardware type is passed as non-ip",
            packet: ethernet(
                &[],
                ethertype::ARP,
                &[
                    0, 6, 8, 0, 6, 4, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
                    0, 0,
                ],
            ),
            verdict: XDP_PASS,
            counter: Counter::NonIp,
            flow: None,
        },
        Row {
            description: "arp cut short",
            packet: ethernet(&[], ethertype::ARP, &[0, 1, 8, 0]),
            verdict: XDP_PASS,
            counter: Counter::TruncatedArp,
            flow: None,
        },
        Row {
            description: "ipv4 gre: other protocol, no ports",
            packet: ethernet(&[], ethertype::IPV4, &ip(47).packet(&[0; 8])),
            verdict: XDP_PASS,
            counter: Counter::OtherProtocol,
            flow: key(mapped(A), 0, mapped(B), 0, 47, [0, 0]),
        },
    ]
}

#[test]
fn r3_verdicts_and_counters() {
    if !env::require_root("r3_verdicts_and_counters") {
        return;
    }
    let mut dp = Datapath::load(&LoadOptions::default()).expect("load the XDP program");
    let mut failures = Vec::new();
    for row in rows() {
        let counters = dp.counters().unwrap();
        let before = counters.get(row.counter).unwrap();
        let packets_before = counters.get(Counter::Packets).unwrap();
        let flows_before = dp.flows().unwrap().entries().unwrap().len();
        let verdict = dp
            .test_run(&row.packet)
            .unwrap_or_else(|e| panic!("{}: test run failed: {e:#}", row.description));
        let counters = dp.counters().unwrap();
        let bumped = counters.get(row.counter).unwrap() - before;
        let packets = counters.get(Counter::Packets).unwrap() - packets_before;
        let entries = dp.flows().unwrap().entries().unwrap();
        if verdict != row.verdict {
            failures.push(format!(
                "{}: verdict {verdict}, want {}",
                row.description, row.verdict
            ));
        }
        if bumped != 1 {
            failures.push(format!(
                "{}: {} went up by {bumped}, want 1",
                row.description,
                row.counter.name()
            ));
        }
        if packets != 1 {
            failures.push(format!(
                "{}: packets went up by {packets}, want 1",
                row.description
            ));
        }
        match &row.flow {
            Some(want) => {
                let found = entries.iter().find(|(k, _)| k == want);
                match found {
                    None => failures.push(format!("{}: no flow {want:?}", row.description)),
                    Some((_, stats)) => {
                        let total: u64 = stats.bytes.iter().sum();
                        if total < row.packet.len() as u64 {
                            failures.push(format!(
                                "{}: flow has {total} bytes, packet had {}",
                                row.description,
                                row.packet.len()
                            ));
                        }
                    }
                }
            }
            None => {
                if entries.len() != flows_before {
                    failures.push(format!("{}: created a flow", row.description));
                }
            }
        }
    }
    assert!(
        failures.is_empty(),
        "verdict table failures:\n{}",
        failures.join("\n")
    );
}

#[test]
fn r3_flow_accumulates_both_directions_in_one_entry() {
    if !env::require_root("r3_flow_accumulates_both_directions_in_one_entry") {
        return;
    }
    let mut dp = Datapath::load(&LoadOptions::default()).expect("load the XDP program");
    let syn = ethernet(
        &[],
        ethertype::IPV4,
        &Ipv4::new(A, B, 6).packet(&tcp(40000, 80, 0x02, &[])),
    );
    let syn_ack = ethernet(
        &[],
        ethertype::IPV4,
        &Ipv4::new(B, A, 6).packet(&tcp(80, 40000, 0x12, &[])),
    );
    let data = ethernet(
        &[],
        ethertype::IPV4,
        &Ipv4::new(A, B, 6).packet(&tcp(40000, 80, 0x18, &[0; 100])),
    );
    for p in [&syn, &syn_ack, &data] {
        assert_eq!(dp.test_run(p).unwrap(), XDP_PASS);
    }
    let entries = dp.flows().unwrap().entries().unwrap();
    assert_eq!(
        entries.len(),
        1,
        "both directions share one entry: {entries:?}"
    );
    let (key, stats) = entries[0];
    let (want, dir) = FlowKey::canonical(mapped(A), 40000, mapped(B), 80, 6, [0, 0]);
    assert_eq!(key, want);
    let a = dir.index();
    let b = dir.reverse().index();
    assert_eq!(stats.packets[a], 2);
    assert_eq!(stats.packets[b], 1);
    assert_eq!(stats.bytes[a], (syn.len() + data.len()) as u64);
    assert_eq!(stats.bytes[b], syn_ack.len() as u64);
    assert_eq!(stats.initiator, dir as u8, "the SYN sender opened the flow");
    assert_eq!(stats.tcp_flags[a], 0x02 | 0x18);
    assert_eq!(stats.tcp_flags[b], 0x12);
    assert!(stats.last_seen_ns >= stats.first_seen_ns);
}

#[test]
fn r3_syn_ack_first_names_the_other_side_initiator() {
    if !env::require_root("r3_syn_ack_first_names_the_other_side_initiator") {
        return;
    }
    let mut dp = Datapath::load(&LoadOptions::default()).expect("load the XDP program");
    let syn_ack = ethernet(
        &[],
        ethertype::IPV4,
        &Ipv4::new(B, A, 6).packet(&tcp(443, 40001, 0x12, &[])),
    );
    assert_eq!(dp.test_run(&syn_ack).unwrap(), XDP_PASS);
    let entries = dp.flows().unwrap().entries().unwrap();
    let (_, dir) = FlowKey::canonical(mapped(A), 40001, mapped(B), 443, 6, [0, 0]);
    assert_eq!(
        entries[0].1.initiator, dir as u8,
        "A sent the SYN we missed"
    );
}

#[test]
fn r5_icmp_echo_request_and_reply_are_one_flow() {
    if !env::require_root("r5_icmp_echo_request_and_reply_are_one_flow") {
        return;
    }
    let mut dp = Datapath::load(&LoadOptions::default()).expect("load the XDP program");
    let request = ethernet(
        &[],
        ethertype::IPV4,
        &Ipv4::new(A, B, 1).packet(&icmp_echo(9, 1)),
    );
    let mut reply_body = icmp_echo(9, 1);
    reply_body[0] = 0;
    let reply = ethernet(
        &[],
        ethertype::IPV4,
        &Ipv4::new(B, A, 1).packet(&reply_body),
    );
    dp.test_run(&request).unwrap();
    dp.test_run(&reply).unwrap();
    let entries = dp.flows().unwrap().entries().unwrap();
    assert_eq!(entries.len(), 1, "{entries:?}");
    let (key, stats) = entries[0];
    assert_eq!(
        key,
        FlowKey::canonical(mapped(A), 8, mapped(B), 0, 1, [0, 0]).0
    );
    assert_eq!(stats.packets, [1, 1]);
}
