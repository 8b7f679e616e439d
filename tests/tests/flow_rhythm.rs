//! A held connection's rhythm in the flow table: bursts of payload after silences, under
//! `BPF_PROG_TEST_RUN` with the program's clock set per packet.

use sensor::ebpf::{Datapath, LoadOptions};
use sensor_tests::{
    env,
    packet::{Ipv4, ethernet, ethertype, tcp},
};

const XDP_PASS: u32 = 2;
const A: [u8; 4] = [10, 77, 1, 12];
const B: [u8; 4] = [198, 51, 100, 10];

/// A held connection's bursts: payload after a second or more without payload counts, and
/// its silence is kept; payload within a burst and pure ACKs (TCP keep-alives) in a
/// silence do not count. The program's clock is set per packet (as `sensor replay` does).
#[test]
fn r4_bursts_inside_one_connection_are_counted_with_their_silences() {
    if !env::require_root("r4_bursts_inside_one_connection_are_counted_with_their_silences") {
        return;
    }
    let mut dp = Datapath::load(&LoadOptions::default()).expect("load the XDP program");
    let at = |dp: &mut Datapath, ms: u64, frame: &[u8]| {
        dp.configure(&sensor_common::Config {
            fixed_now_ns: 1_000_000_000 + ms * 1_000_000,
            ..sensor_common::Config::new()
        })
        .unwrap();
        assert_eq!(dp.test_run(frame).unwrap(), XDP_PASS);
    };
    let data = |from_client: bool| {
        let (s, sp, d, dp_) = if from_client {
            (A, 40000, B, 8888)
        } else {
            (B, 8888, A, 40000)
        };
        ethernet(
            &[],
            ethertype::IPV4,
            &Ipv4::new(s, d, 6).packet(&tcp(sp, dp_, 0x18, b"POST /beacon")),
        )
    };
    let keepalive = ethernet(
        &[],
        ethertype::IPV4,
        &Ipv4::new(A, B, 6).packet(&tcp(40000, 8888, 0x10, &[])),
    );
    at(&mut dp, 0, &data(true));
    at(&mut dp, 30, &data(false));
    for beat in 1..=3u64 {
        // A keep-alive half way through the silence, then the next poll and its answer.
        at(&mut dp, beat * 20_000 - 10_000, &keepalive);
        at(&mut dp, beat * 20_000, &data(true));
        at(&mut dp, beat * 20_000 + 25, &data(false));
    }
    let entries = dp.flows().unwrap().entries().unwrap();
    assert_eq!(entries.len(), 1, "{entries:?}");
    let stats = entries[0].1;
    assert_eq!(stats.bursts, 3, "{stats:?}");
    let mut gaps: Vec<u32> = (1..=3).map(|k| stats.burst_gaps_ms[k]).collect();
    gaps.sort_unstable();
    assert_eq!(
        gaps,
        [19_970, 19_975, 19_975],
        "silences since the last payload"
    );
}
