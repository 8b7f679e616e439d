//! The sensor's XDP program.
//!
//! Every packet on a watched interface passes through [`sensor`]: it is parsed (bounds-checked
//! against `data_end` at every step), accounted to its flow, and passed. Each packet is counted
//! once in total, once under its verdict, and under every reason that applies to it. Malformed
//! packets are passed to the stack with a named reason, never aborted.
//!
//! # Layout
//! - `parse`: the bounds-checked cursor and the header walk (Ethernet, VLAN, IPv4, IPv6, L4).
//! - `flows`: the flow table update.
//! - `maps`: every map and the counter helpers.
#![no_std]
#![no_main]
// The BPF target has no compare-and-swap, so the atomic add the flow table needs is only
// reachable through the intrinsic (see `flows::atomic_add`).
#![feature(core_intrinsics)]
#![expect(internal_features, reason = "core_intrinsics gives the BPF atomic add")]

mod flows;
mod maps;
mod parse;

use aya_ebpf::{bindings::xdp_action, macros::xdp, programs::XdpContext};
use sensor_common::Counter;

/// Entry point: one exit that records the verdict.
#[xdp]
#[expect(
    clippy::needless_pass_by_value,
    reason = "the #[xdp] macro hands over the context by value"
)]
pub fn sensor(ctx: XdpContext) -> u32 {
    let len = (ctx.data_end() - ctx.data()) as u64;
    maps::count(Counter::Packets, 1);
    maps::count(Counter::Bytes, len);
    let verdict = match try_sensor(&ctx, len) {
        Ok(verdict) => verdict,
        Err(reason) => {
            maps::count(reason, 1);
            xdp_action::XDP_PASS
        }
    };
    let recorded = if verdict == xdp_action::XDP_DROP {
        Counter::VerdictDrop
    } else {
        Counter::VerdictPass
    };
    maps::count(recorded, 1);
    verdict
}

/// Parses and accounts the packet. `Err` carries the reason a packet was passed without
/// being accounted to a flow (not IP, truncated, malformed).
#[inline(always)]
fn try_sensor(ctx: &XdpContext, len: u64) -> Result<u32, Counter> {
    let mut cursor = parse::Cursor::new(ctx);
    let packet = parse::packet(&mut cursor)?;
    flows::account(&packet, len);
    Ok(xdp_action::XDP_PASS)
}

#[cfg(not(test))]
#[panic_handler]
fn panic(_info: &core::panic::PanicInfo) -> ! {
    // The verifier rejects any program in which this is reachable, so a build that
    // loads has no panics; there is nothing to report from here.
    loop {}
}

/// The kernel only lets GPL-compatible programs call GPL-only helpers.
#[unsafe(link_section = "license")]
#[unsafe(no_mangle)]
static LICENSE: [u8; 13] = *b"Dual MIT/GPL\0";
