//! The ring buffer under `BPF_PROG_TEST_RUN`: flow opened and ended, the first payload of
//! each direction (and only the first), ARP and DHCP observations, the new-flow rate guard,
//! flow openings batched while a CPU opens many, the first few payloads towards SMB.

use aya::maps::{MapData, RingBuf};
use sensor::{
    capture::event::Event,
    ebpf::{Datapath, LoadOptions},
};
use sensor_common::{
    Config, Counter, Direction, FlowKey,
    event::{EventKind, FLOW_BATCH_ABOVE_PER_SEC, FLOW_BATCH_LEN, FLOW_BATCH_MAX_AGE_NS},
    flow::DEEP_SNIPPETS,
};
use sensor_tests::{
    env,
    packet::{self, Ipv4, ethernet, ethertype, mapped, tcp, udp},
};

const A: [u8; 4] = [10, 77, 1, 12];
const B: [u8; 4] = [198, 51, 100, 10];

fn drain(ring: &mut RingBuf<MapData>) -> Vec<Event> {
    let mut out = Vec::new();
    while let Some(record) = ring.next() {
        out.extend(Event::decode_all(&record).expect("decodable event"));
    }
    out
}

fn tcp4(src: [u8; 4], sp: u16, dst: [u8; 4], dp: u16, flags: u8, payload: &[u8]) -> Vec<u8> {
    ethernet(
        &[],
        ethertype::IPV4,
        &Ipv4::new(src, dst, 6).packet(&tcp(sp, dp, flags, payload)),
    )
}

#[test]
fn r4_flow_events_and_first_payload_each_way() {
    if !env::require_root("r4_flow_events_and_first_payload_each_way") {
        return;
    }
    let mut dp = Datapath::load(&LoadOptions::default()).unwrap();
    let mut ring = dp.events().unwrap();
    let request = b"GET /index.html HTTP/1.1\r\nHost: example.test\r\nUser-Agent: demo/1.0\r\n\r\n";
    let packets = [
        tcp4(A, 40000, B, 80, 0x02, b""),
        tcp4(B, 80, A, 40000, 0x12, b""),
        tcp4(A, 40000, B, 80, 0x10, b""),
        tcp4(A, 40000, B, 80, 0x18, request),
        tcp4(A, 40000, B, 80, 0x18, b"second request bytes are not sent"),
        tcp4(B, 80, A, 40000, 0x18, b"HTTP/1.1 200 OK\r\n"),
        tcp4(A, 40000, B, 80, 0x11, b""),
        tcp4(B, 80, A, 40000, 0x11, b""),
        tcp4(A, 40000, B, 80, 0x10, b""),
    ];
    for p in &packets {
        dp.test_run(p).unwrap();
    }
    let events = drain(&mut ring);
    let (key, client_dir) = FlowKey::canonical(mapped(A), 40000, mapped(B), 80, 6, [0, 0]);
    let opened: Vec<_> = events
        .iter()
        .filter(|e| matches!(e, Event::FlowOpened(_)))
        .collect();
    assert_eq!(opened.len(), 1, "{events:#?}");
    let Event::FlowOpened(o) = opened[0] else {
        unreachable!()
    };
    assert_eq!(o.key, key);
    assert_eq!(o.initiator, client_dir as u8);
    let payloads: Vec<_> = events
        .iter()
        .filter(|e| matches!(e, Event::Payload(_)))
        .collect();
    assert_eq!(payloads.len(), 2, "one snippet per direction: {events:#?}");
    let Event::Payload(first) = payloads[0] else {
        unreachable!()
    };
    assert_eq!(first.direction, client_dir as u8);
    assert_eq!(
        payloads[0].payload().unwrap(),
        &request[..],
        "the request, whole (under 128 bytes)"
    );
    let Event::Payload(reply) = payloads[1] else {
        unreachable!()
    };
    assert_eq!(reply.direction, Direction::reverse(client_dir) as u8);
    assert_eq!(payloads[1].payload().unwrap(), b"HTTP/1.1 200 OK\r\n");
    let ended = events
        .iter()
        .filter(|e| matches!(e, Event::FlowEnded(_)))
        .count();
    assert_eq!(ended, 1, "FIN both ways ends the flow once");
    assert_eq!(
        dp.counters().unwrap().get(Counter::EventsDropped).unwrap(),
        0
    );
}

#[test]
fn r4_payload_snippet_is_bounded_and_ignores_ethernet_padding() {
    if !env::require_root("r4_payload_snippet_is_bounded_and_ignores_ethernet_padding") {
        return;
    }
    let mut dp = Datapath::load(&LoadOptions::default()).unwrap();
    let mut ring = dp.events().unwrap();
    let big: Vec<u8> = (0..2000u32).map(|i| (i % 251) as u8).collect();
    dp.test_run(&ethernet(
        &[],
        ethertype::IPV4,
        &Ipv4::new(A, B, 17).packet(&udp(5000, 9999, &big)),
    ))
    .unwrap();
    // A 2-byte UDP payload in a frame padded to 60 bytes, as a NIC would send it.
    let mut padded = ethernet(
        &[],
        ethertype::IPV4,
        &Ipv4::new(A, B, 17).packet(&udp(5001, 9999, b"hi")),
    );
    padded.resize(60, 0);
    dp.test_run(&padded).unwrap();
    let snippets: Vec<Vec<u8>> = drain(&mut ring)
        .iter()
        .filter_map(|e| e.payload().map(<[u8]>::to_vec))
        .collect();
    assert_eq!(snippets.len(), 2);
    assert_eq!(
        snippets[0],
        big[..sensor_common::event::PAYLOAD_SNIPPET_LEN].to_vec(),
        "bounded at PAYLOAD_SNIPPET_LEN bytes"
    );
    assert_eq!(snippets[1], b"hi".to_vec(), "padding is not payload");
}

#[test]
fn r4_arp_and_dhcp_are_observed() {
    if !env::require_root("r4_arp_and_dhcp_are_observed") {
        return;
    }
    let mut dp = Datapath::load(&LoadOptions::default()).unwrap();
    let mut ring = dp.events().unwrap();
    dp.test_run(&ethernet(
        &[(ethertype::VLAN, 12)],
        ethertype::ARP,
        &packet::arp(2, A, [10, 77, 1, 1]),
    ))
    .unwrap();
    // A DHCPREQUEST: op 1, chaddr = SRC_MAC, magic cookie, option 12 (hostname).
    let mut dhcp = vec![0u8; 236];
    dhcp[0] = 1;
    dhcp[1] = 1;
    dhcp[2] = 6;
    dhcp[28..34].copy_from_slice(&packet::SRC_MAC);
    dhcp.extend_from_slice(&[99, 130, 83, 99, 53, 1, 3, 12, 5]);
    dhcp.extend_from_slice(b"ws-02");
    dhcp.push(255);
    let frame = ethernet(
        &[],
        ethertype::IPV4,
        &Ipv4::new([0, 0, 0, 0], [255; 4], 17).packet(&udp(68, 67, &dhcp)),
    );
    dp.test_run(&frame).unwrap();
    let events = drain(&mut ring);
    let arp = events.iter().find_map(|e| {
        if let Event::Arp(a) = e {
            Some(*a)
        } else {
            None
        }
    });
    let arp = arp.expect("an ARP event");
    assert_eq!(
        (arp.op, arp.sender_ip, arp.sender_mac),
        (2, A, packet::SRC_MAC)
    );
    assert_eq!(arp.vlan, [12, 0]);
    let dhcp_event = events.iter().find_map(|e| {
        if let Event::Dhcp(d) = e {
            Some(d.clone())
        } else {
            None
        }
    });
    let dhcp_event = dhcp_event.expect("a DHCP event");
    let len = usize::from(dhcp_event.len);
    assert_eq!(len, dhcp.len());
    assert_eq!(&dhcp_event.data[..len], &dhcp[..], "the whole message");
    assert_eq!(dhcp_event.src_mac, packet::SRC_MAC);
    let counters = dp.counters().unwrap();
    assert_eq!(counters.get(Counter::Arp).unwrap(), 1);
    assert_eq!(counters.get(Counter::Dhcp).unwrap(), 1);
}

#[test]
fn r4_new_flow_rate_guard_passes_and_counts_over_the_cap() {
    if !env::require_root("r4_new_flow_rate_guard_passes_and_counts_over_the_cap") {
        return;
    }
    let mut dp = Datapath::load(&LoadOptions::default()).unwrap();
    dp.configure(&Config {
        new_flows_per_sec: 10,
        ..Config::new()
    })
    .unwrap();
    // BPF_PROG_TEST_RUN runs on the calling CPU; pin this thread so the per-CPU window is one.
    let mut set = nix_cpu_set();
    set.set(0).unwrap();
    nix::sched::sched_setaffinity(nix::unistd::Pid::from_raw(0), &set).unwrap();
    let mut passed = 0;
    for port in 0..25u16 {
        let frame = tcp4(A, 30000 + port, B, 80, 0x02, b"");
        if dp.test_run(&frame).unwrap() == 2 {
            passed += 1;
        }
    }
    assert_eq!(passed, 25, "packets over the cap still pass");
    let counters = dp.counters().unwrap();
    assert_eq!(counters.get(Counter::FlowNew).unwrap(), 10);
    assert_eq!(counters.get(Counter::FlowThrottled).unwrap(), 15);
    assert_eq!(dp.flows().unwrap().entries().unwrap().len(), 10);
}

/// The program reads the settings as the agent wrote them: a fresh map gets the defaults
/// at load (events on), and settings with events off and no new-flow cap stay so, also
/// after a rule change rewrites the map (both once fell back to the defaults).
#[test]
fn r4_settings_are_taken_as_written_and_a_fresh_map_gets_the_defaults() {
    if !env::require_root("r4_settings_are_taken_as_written_and_a_fresh_map_gets_the_defaults") {
        return;
    }
    let mut dp = Datapath::load(&LoadOptions::default()).unwrap();
    let mut ring = dp.events().unwrap();
    dp.test_run(&tcp4(A, 31000, B, 80, 0x02, b"")).unwrap();
    let opened = drain(&mut ring)
        .iter()
        .filter(|e| matches!(e, Event::FlowOpened(_)))
        .count();
    assert_eq!(opened, 1, "a fresh map holds the defaults: events on");

    dp.configure(&Config {
        flags: 0,
        new_flows_per_sec: 0,
        ..Config::new()
    })
    .unwrap();
    let mut rules = dp.rules().unwrap();
    rules
        .insert(
            &sensor::ebpf::Target::BlockIp {
                addr: std::net::IpAddr::from([203, 0, 113, 66]),
                scope: sensor_common::rule::scope::DST,
            },
            1,
            0,
        )
        .unwrap();
    for port in 0..3u16 {
        assert_eq!(
            dp.test_run(&tcp4(A, 31001 + port, B, 80, 0x02, b""))
                .unwrap(),
            2
        );
    }
    assert!(
        drain(&mut ring).is_empty(),
        "events off as written, also after the rule change"
    );
    let counters = dp.counters().unwrap();
    assert_eq!(counters.get(Counter::FlowNew).unwrap(), 4);
    assert_eq!(counters.get(Counter::FlowThrottled).unwrap(), 0);
}

/// A burst of new flows (a scan's worth) is announced in batches once the CPU passes
/// `FLOW_BATCH_ABOVE_PER_SEC` openings a second, and no opening is lost or repeated: a
/// batch left part full goes out with the next packet that misses the flow cache once it is
/// `FLOW_BATCH_MAX_AGE_NS` old.
#[test]
fn r4_flow_openings_in_a_burst_are_batched_and_all_arrive() {
    if !env::require_root("r4_flow_openings_in_a_burst_are_batched_and_all_arrive") {
        return;
    }
    let mut dp = Datapath::load(&LoadOptions::default()).unwrap();
    burst_then_flush(&mut dp, None);
}

/// A new agent's program loaded over the pins of a running one takes over its part-full
/// batch of flow openings (the batch map is pinned), so none is lost at the swap.
#[test]
fn r4_a_part_full_batch_of_openings_survives_a_program_swap() {
    if !env::require_root("r4_a_part_full_batch_of_openings_survives_a_program_swap") {
        return;
    }
    let (_bpffs, options) = env::pinned_load_options("fb");
    let mut first = Datapath::load(&options).expect("load the XDP program");
    let mut second = Datapath::load(&options).expect("load over the pins");
    burst_then_flush(&mut first, Some(&mut second));
    drop(second);
}

/// An IPv6 server for the bursts' IPv6 flows.
const B6: [u8; 16] = [
    0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x0b,
];

/// The burst's flow `i`: every third one IPv6, so batches carry both families' keys.
fn burst_flow(i: usize) -> (Vec<u8>, FlowKey) {
    let sport = 20000 + (i % 1000) as u16;
    let (frame, src, dst) = if i % 3 == 2 {
        // Clients at 2001:db8::79:xxxx, beside the server.
        let mut src = B6;
        src[13..].copy_from_slice(&[0x79, (i >> 8) as u8, i as u8]);
        let ip = packet::ipv6(src, B6, 6, &tcp(sport, 443, 0x02, b""));
        (ethernet(&[], ethertype::IPV6, &ip), src, B6)
    } else {
        let src = [10, 79, (i >> 8) as u8, i as u8];
        (tcp4(src, sport, B, 443, 0x02, b""), mapped(src), mapped(B))
    };
    (frame, FlowKey::canonical(src, sport, dst, 443, 6, [0, 0]).0)
}

/// Opens more flows on one CPU than go out one by one, leaving a part-full batch; after
/// the batch's age has passed, a packet through `flusher` (another program over the same
/// pins, or `dp` itself) sends it. Every opening arrives exactly once.
fn burst_then_flush(dp: &mut Datapath, flusher: Option<&mut Datapath>) {
    let mut ring = dp.events().unwrap();
    let mut set = nix_cpu_set();
    set.set(0).unwrap();
    nix::sched::sched_setaffinity(nix::unistd::Pid::from_raw(0), &set).unwrap();
    // Enough to pass the threshold and leave a part-full batch (not a multiple of its size).
    let flows = FLOW_BATCH_ABOVE_PER_SEC as usize + 10 * FLOW_BATCH_LEN + 5;
    let (mut batches, mut opened) = (0, Vec::new());
    let read = |ring: &mut RingBuf<MapData>, batches: &mut usize, opened: &mut Vec<FlowKey>| {
        while let Some(record) = ring.next() {
            if record.first() == Some(&(EventKind::FlowBatch as u8)) {
                *batches += 1;
            }
            for event in Event::decode_all(&record).expect("decodable event") {
                if let Event::FlowOpened(o) = event {
                    opened.push(o.key);
                }
            }
        }
    };
    for i in 0..flows {
        assert_eq!(dp.test_run(&burst_flow(i).0).unwrap(), 2);
        if i % 500 == 499 {
            read(&mut ring, &mut batches, &mut opened);
        }
    }
    read(&mut ring, &mut batches, &mut opened);
    assert!(
        opened.len() < flows,
        "the last batch waits for company or for time"
    );
    std::thread::sleep(std::time::Duration::from_nanos(2 * FLOW_BATCH_MAX_AGE_NS));
    // The first flow's ACK misses the flow cache (a new flag), which sends the old batch.
    let ack = {
        let src = [10, 79, 0, 0];
        tcp4(src, 20000, B, 443, 0x10, b"")
    };
    let swapped = flusher.is_some();
    let flusher = flusher.unwrap_or(dp);
    flusher.test_run(&ack).unwrap();
    read(&mut ring, &mut batches, &mut opened);
    assert!(batches >= 10, "only {batches} batch records");
    let mut want: Vec<FlowKey> = (0..flows).map(|i| burst_flow(i).1).collect();
    let order = |k: &FlowKey| (k.addr_lo, k.port_lo, k.addr_hi, k.port_hi);
    want.sort_by_key(order);
    let mut got = opened;
    got.sort_by_key(order);
    assert_eq!(got.len(), flows, "every opening exactly once");
    assert!(got == want, "the openings are the flows sent");
    // Both programs count into the same (pinned) counters after a swap.
    let events_sent = flusher
        .counters()
        .unwrap()
        .get(Counter::EventsSent)
        .unwrap();
    assert_eq!(
        events_sent, flows as u64,
        "events_sent counts each batched event (swapped: {swapped})"
    );
}

fn nix_cpu_set() -> nix::sched::CpuSet {
    nix::sched::CpuSet::new()
}

/// Towards SMB, FTP, SMTP and IRC the program sends the first `DEEP_SNIPPETS` client
/// payloads, in order (the share and the pipes, the files, the envelope come after the
/// greeting), and the server's first only; elsewhere one each way.
#[test]
fn r4_command_clients_send_their_first_payloads_elsewhere_one() {
    if !env::require_root("r4_command_clients_send_their_first_payloads_elsewhere_one") {
        return;
    }
    let mut dp = Datapath::load(&LoadOptions::default()).unwrap();
    let mut ring = dp.events().unwrap();
    let deep = [445u16, 139, 21, 25, 587, 6667];
    for port in deep.into_iter().chain([8080]) {
        dp.test_run(&tcp4(A, 41000, B, port, 0x02, b"")).unwrap();
        dp.test_run(&tcp4(B, port, A, 41000, 0x12, b"")).unwrap();
        for i in 0..DEEP_SNIPPETS + 4 {
            dp.test_run(&tcp4(A, 41000, B, port, 0x18, &[b'm', i]))
                .unwrap();
            dp.test_run(&tcp4(B, port, A, 41000, 0x18, &[b'r', i]))
                .unwrap();
        }
    }
    let events = drain(&mut ring);
    let sent = |port: u16, from_client: bool| -> Vec<Vec<u8>> {
        let (key, client_dir) = FlowKey::canonical(mapped(A), 41000, mapped(B), port, 6, [0, 0]);
        events
            .iter()
            .filter_map(|e| match e {
                Event::Payload(p)
                    if p.key == key && (p.direction == client_dir as u8) == from_client =>
                {
                    e.payload().map(<[u8]>::to_vec)
                }
                _ => None,
            })
            .collect()
    };
    let want: Vec<Vec<u8>> = (0..DEEP_SNIPPETS).map(|i| vec![b'm', i]).collect();
    for port in deep {
        assert_eq!(
            sent(port, true),
            want,
            "{port}: the first client payloads, in order"
        );
        assert_eq!(
            sent(port, false),
            [vec![b'r', 0]],
            "{port}: the server's first only"
        );
    }
    assert_eq!(sent(8080, true), [vec![b'm', 0]]);
    assert_eq!(sent(8080, false), [vec![b'r', 0]]);
}
