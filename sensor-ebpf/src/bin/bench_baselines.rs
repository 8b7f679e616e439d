//! Baselines for `cargo xtask bench`, measured in the same run as the sensor's program.
//!
//! - `bench_pass`: returns `XDP_PASS`; the floor of `BPF_PROG_TEST_RUN` itself.
//! - `bench_tx`: returns `XDP_TX`; the packet generator of the veth figure.
//! - `bench_lru_insert`: the least a flow table can do: IPv4 and its ports at fixed
//!   offsets, a canonical key, one LRU insert per packet. No rules, no events, no counters.
#![no_std]
#![no_main]

use aya_ebpf::{
    bindings::{BPF_ANY, xdp_action},
    macros::{map, xdp},
    maps::LruHashMap,
    programs::XdpContext,
};
use sensor_common::{FLOWS_MAX_ENTRIES, FlowKey, FlowStats};

#[map]
static BENCH_FLOWS: LruHashMap<FlowKey, FlowStats> =
    LruHashMap::with_max_entries(FLOWS_MAX_ENTRIES, 0);

/// The harness floor.
#[xdp]
pub fn bench_pass(_ctx: XdpContext) -> u32 {
    xdp_action::XDP_PASS
}

/// The traffic generator for the veth figure: run with `BPF_PROG_TEST_RUN` in live-frames
/// mode, every frame is transmitted out of the interface it is run on.
#[xdp]
pub fn bench_tx(_ctx: XdpContext) -> u32 {
    xdp_action::XDP_TX
}

/// Parse IPv4 + ports, insert into an LRU hash.
#[xdp]
#[expect(
    clippy::needless_pass_by_value,
    reason = "the #[xdp] macro passes by value"
)]
pub fn bench_lru_insert(ctx: XdpContext) -> u32 {
    let start = ctx.data();
    // Ethernet (14) + IPv4 without options (20) + ports (4).
    if start + 38 > ctx.data_end() {
        return xdp_action::XDP_PASS;
    }
    let p = start as *const u8;
    // SAFETY: all 38 bytes were checked to lie within the packet above.
    let (proto, src, dst, sport, dport) = unsafe {
        let ip = p.add(14);
        let mut src = [0u8; 16];
        let mut dst = [0u8; 16];
        src[10] = 0xff;
        src[11] = 0xff;
        dst[10] = 0xff;
        dst[11] = 0xff;
        for i in 0..4 {
            src[12 + i] = *ip.add(12 + i);
            dst[12 + i] = *ip.add(16 + i);
        }
        let l4 = ip.add(20);
        (
            *ip.add(9),
            src,
            dst,
            u16::from_be_bytes([*l4, *l4.add(1)]),
            u16::from_be_bytes([*l4.add(2), *l4.add(3)]),
        )
    };
    let (key, dir) = FlowKey::canonical(src, sport, dst, dport, proto, [0; 2]);
    let mut stats = FlowStats::default();
    stats.packets[dir.index() & 1] = 1;
    stats.bytes[dir.index() & 1] = (ctx.data_end() - start) as u64;
    let _ = BENCH_FLOWS.insert(key, stats, u64::from(BPF_ANY));
    xdp_action::XDP_PASS
}

#[cfg(not(test))]
#[panic_handler]
fn panic(_info: &core::panic::PanicInfo) -> ! {
    loop {}
}

#[unsafe(link_section = "license")]
#[unsafe(no_mangle)]
static LICENSE: [u8; 13] = *b"Dual MIT/GPL\0";
