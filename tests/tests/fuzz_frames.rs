//! A million frames, random and mutated from the shared captures, through the real program
//! under `BPF_PROG_TEST_RUN`, with rules of every class loaded so their paths run too: no
//! frame may abort, and every frame's verdict must be counted.
//!
//! `SENSOR_FUZZ_FRAMES` and `SENSOR_FUZZ_SEED` change the count and the seed; a failure
//! prints the seed and the frame.

use std::fmt::Write as _;

use sensor::ebpf::{Datapath, Endpoint, LoadOptions, Target};
use sensor_common::{Counter, rule::scope};
use sensor_tests::{env, fixtures};

const XDP_DROP: u32 = 1;
const XDP_PASS: u32 = 2;
/// Largest frame tried. Past a page (less head- and tailroom) `BPF_PROG_TEST_RUN` hands the
/// frags-aware program a multi-buffer frame: headers in the linear part, the rest in frags.
const MAX_FRAME: usize = 16_384;
const ETH_HLEN: usize = 14;

fn env_u64(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// Ethertypes the parser branches on, so random frames reach past Ethernet.
const ETHERTYPES: [u16; 6] = [0x0800, 0x86DD, 0x8100, 0x88A8, 0x0806, 0x0800];
/// Next-header values the IPv6 walk branches on.
const NEXT_HEADERS: [u8; 11] = [0, 1, 6, 17, 43, 44, 50, 51, 58, 60, 135];

fn random_frame(rng: &mut fastrand::Rng) -> Vec<u8> {
    // One frame in 32 spans several pages, so the multi-buffer paths run too.
    let len = if rng.u8(..32) == 0 {
        rng.usize(3000..=MAX_FRAME)
    } else {
        rng.usize(ETH_HLEN..=1600)
    };
    let mut f: Vec<u8> = (0..len).map(|_| rng.u8(..)).collect();
    if rng.u8(..4) != 0 {
        let et = ETHERTYPES[rng.usize(..ETHERTYPES.len())];
        f[12..14].copy_from_slice(&et.to_be_bytes());
        if len > 15 {
            f[14] = match et {
                0x0800 => 0x40 | rng.u8(..16),
                0x86DD => 0x60,
                _ => f[14],
            };
        }
        if et == 0x86DD && len > 20 {
            f[20] = NEXT_HEADERS[rng.usize(..NEXT_HEADERS.len())];
        }
    }
    f
}

fn mutate(rng: &mut fastrand::Rng, base: &[u8]) -> Vec<u8> {
    let mut f = base.to_vec();
    for _ in 0..rng.usize(1..=3) {
        match rng.u8(..7) {
            0 => {
                for _ in 0..rng.usize(1..=8) {
                    let i = rng.usize(..f.len());
                    f[i] ^= 1 << rng.u8(..8);
                }
            }
            1 => {
                let i = rng.usize(..f.len().min(96));
                f[i] = rng.u8(..);
            }
            2 => {
                let len = rng.usize(ETH_HLEN..=f.len());
                f.truncate(len);
            }
            3 => {
                // Insert a VLAN tag after the MACs.
                let tpid: u16 = if rng.bool() { 0x8100 } else { 0x88A8 };
                let tag = [(tpid >> 8) as u8, tpid as u8, rng.u8(..16), rng.u8(..)];
                f.splice(12..12, tag);
            }
            4 => {
                // IPv4 IHL or IPv6 next header, wherever the IP header starts.
                if f.len() > 21 {
                    if f[14] >> 4 == 4 {
                        f[14] = 0x40 | rng.u8(..16);
                    } else {
                        f[20] = NEXT_HEADERS[rng.usize(..NEXT_HEADERS.len())];
                    }
                }
            }
            5 => {
                let extra = rng.usize(1..=64);
                f.extend((0..extra).map(|_| rng.u8(..)));
            }
            _ => {
                // Zero a run, as a length or offset field gone to 0.
                let start = rng.usize(..f.len());
                let end = (start + rng.usize(1..=4)).min(f.len());
                f[start..end].fill(0);
            }
        }
    }
    f.truncate(MAX_FRAME);
    f
}

fn hex(frame: &[u8]) -> String {
    let mut s = String::new();
    for b in frame {
        let _ = write!(s, "{b:02x}");
    }
    s
}

#[test]
fn r4_a_million_random_and_mutated_frames_never_abort() {
    if !env::require_root("r4_a_million_random_and_mutated_frames_never_abort") {
        return;
    }
    let corpus: Vec<Vec<u8>> = fixtures::all_pcaps()
        .iter()
        .flat_map(|p| fixtures::ethernet_frames(p))
        .filter(|f| (ETH_HLEN..=MAX_FRAME).contains(&f.len()))
        .collect();
    assert!(
        corpus.len() > 1000,
        "only {} frames found under {}: the shared captures are missing",
        corpus.len(),
        fixtures::pcaps_dir().display()
    );
    let frames = env_u64("SENSOR_FUZZ_FRAMES", 1_000_000);
    let seed = env_u64("SENSOR_FUZZ_SEED", 0x5e45_0042);
    let mut rng = fastrand::Rng::with_seed(seed);

    let mut dp = Datapath::load(&LoadOptions::default()).expect("load the XDP program");
    let mut rules = dp.rules().unwrap();
    let ep = |addr: &str, port, proto| Endpoint {
        addr: addr.parse().unwrap(),
        port,
        proto,
    };
    for (target, id) in [
        (
            Target::BlockCidr {
                net: "203.0.113.0/24".parse().unwrap(),
                scope: scope::BOTH,
            },
            1,
        ),
        (
            Target::BlockIp {
                addr: "192.168.1.1".parse().unwrap(),
                scope: scope::BOTH,
            },
            2,
        ),
        (
            Target::BlockEndpoint {
                endpoint: ep("10.0.0.1", 445, 6),
                scope: scope::BOTH,
            },
            3,
        ),
        (
            Target::Suspend {
                endpoint: ep("172.16.0.1", 443, 6),
            },
            4,
        ),
        (
            Target::QuarantineMac {
                mac: [0, 0x0c, 0x29, 0, 0, 1],
                scope: scope::BOTH,
            },
            5,
        ),
        (
            Target::QuarantineIp {
                addr: "10.0.0.2".parse().unwrap(),
                scope: scope::BOTH,
            },
            6,
        ),
        (
            Target::NeverBlock {
                net: "10.0.0.53/32".parse().unwrap(),
            },
            7,
        ),
    ] {
        rules.insert(&target, id, 0).unwrap();
    }

    let counters = dp.counters().unwrap();
    let before_packets = counters.get(Counter::Packets).unwrap();
    let before_bytes = counters.get(Counter::Bytes).unwrap();
    let (mut passed, mut dropped, mut bytes) = (0u64, 0u64, 0u64);
    for i in 0..frames {
        let frame = if i % 4 == 0 {
            random_frame(&mut rng)
        } else {
            let pick = rng.usize(..corpus.len());
            mutate(&mut rng, &corpus[pick])
        };
        bytes += frame.len() as u64;
        let verdict = dp.test_run(&frame).unwrap_or_else(|e| {
            panic!(
                "seed {seed:#x} frame {i}: test run failed: {e:#}\n{}",
                hex(&frame)
            )
        });
        match verdict {
            XDP_PASS => passed += 1,
            XDP_DROP => dropped += 1,
            other => panic!("seed {seed:#x} frame {i}: verdict {other}\n{}", hex(&frame)),
        }
    }
    let counters = dp.counters().unwrap();
    let counted = counters.get(Counter::Packets).unwrap() - before_packets;
    assert_eq!(counted, frames, "every frame counted once");
    assert_eq!(
        counters.get(Counter::Bytes).unwrap() - before_bytes,
        bytes,
        "every byte counted, multi-buffer frames whole"
    );
    assert_eq!(counters.get(Counter::VerdictPass).unwrap(), passed);
    assert_eq!(counters.get(Counter::VerdictDrop).unwrap(), dropped);
    assert_eq!(passed + dropped, frames);
    let mut summary = String::new();
    for (c, v) in counters.all().unwrap() {
        if v != 0 {
            let _ = write!(summary, " {}={v}", c.name());
        }
    }
    let _ = std::io::Write::write_all(
        &mut std::io::stderr(),
        format!(
            "fuzz: {frames} frames (seed {seed:#x}, corpus {}):{summary}\n",
            corpus.len()
        )
        .as_bytes(),
    );
    assert!(
        counters.get(Counter::TruncatedIpv4).unwrap() > 0,
        "malformed paths were reached"
    );
    assert!(counters.get(Counter::Ipv6ExtensionHeader).unwrap() > 0);
    assert!(dropped > 0, "rule paths were reached");
}
