//! The sensor's XDP program.
//!
//! Every packet on a watched interface passes through [`sensor`] (or [`sensor_linear`], the
//! same program for frames that fit one buffer): it is parsed (bounds-checked
//! against `data_end` at every step), checked against the response rules, accounted to its
//! flow, and passed or dropped. Each packet is counted once in total, once under its verdict,
//! and under every reason that applies to it. Malformed packets are passed to the stack with
//! a named reason, never aborted.
//!
//! # Layout
//! - `parse`: the bounds-checked cursor and the header walk.
//! - `rules`: quarantine ▸ block ▸ suspend, with the never-block list over all of them.
//! - `flows`: the flow table update and the new-flow rate guard.
//! - `flow_cache`: the per-CPU write-back cache in front of the flow table.
//! - `events`: the ring buffer.
//! - `maps`: every map and the helpers that read them.
//! - `run`: what one run of the program carries around (context, counters, clock, settings).
//! - `clock`: the coarse clock, read once per tick per CPU.
//! - `cpu`: this CPU's working memory (the walked packet, the clock reading, the rate guard).
#![no_std]
#![no_main]
// The BPF target has no compare-and-swap, so the atomic add the flow table and the rule hit
// counters need is only reachable through the intrinsic (see `flows::atomic_add`).
#![feature(core_intrinsics)]
#![expect(internal_features, reason = "core_intrinsics gives the BPF atomic add")]

mod clock;
mod cpu;
mod events;
mod flow_cache;
mod flows;
mod maps;
mod parse;
mod rules;
mod run;

use aya_ebpf::{
    bindings::xdp_action, helpers::bpf_xdp_get_buff_len, macros::xdp, programs::XdpContext,
};
use maps::Tally;
use run::Run;
use sensor_common::{Counter, rule::active};

/// The entry point for frames that may span several buffers: jumbo and GRO frames (and
/// `sensor replay` frames longer than a page) are seen whole, headers read from the linear
/// part, lengths and payload snippets from the whole buffer. The frame length is a helper
/// call per packet.
#[xdp(frags)]
#[inline(always)]
#[expect(
    clippy::needless_pass_by_value,
    reason = "the #[xdp] macro hands over the context by value"
)]
pub fn sensor(ctx: XdpContext) -> u32 {
    // SAFETY: the helper only reads the context the kernel handed us.
    let len = unsafe { bpf_xdp_get_buff_len(ctx.ctx) };
    judge(&ctx, len)
}

/// The entry point for interfaces whose frames fit one buffer (the agent's choice when
/// every watched interface's MTU does). Loaded without frags, the kernel never hands it a
/// frame spread over several buffers, so the packet bounds are the whole frame and its
/// length costs no helper call: on a host where every call is dear (return-thunk
/// mitigations) that call was a fifth of what a dropped packet costs.
#[xdp]
#[inline(always)]
#[expect(
    clippy::needless_pass_by_value,
    reason = "the #[xdp] macro hands over the context by value"
)]
pub fn sensor_linear(ctx: XdpContext) -> u32 {
    let len = (ctx.data_end() - ctx.data()) as u64;
    judge(&ctx, len)
}

/// One exit that records the verdict of a frame of `len` bytes.
#[inline(always)]
fn judge(ctx: &XdpContext, len: u64) -> u32 {
    let (Some(tally), Some(cpu), Some(config)) =
        (Tally::get(), maps::CPU.get_ptr_mut(0), maps::CONFIG.get(0))
    else {
        return xdp_action::XDP_PASS;
    };
    tally.add(Counter::Packets, 1);
    tally.add(Counter::Bytes, len);
    let verdict = match try_sensor(&Run::new(ctx, tally, cpu, config), len) {
        Ok(verdict) => verdict,
        Err(reason) => {
            tally.add(reason, 1);
            xdp_action::XDP_PASS
        }
    };
    let recorded = if verdict == xdp_action::XDP_DROP {
        Counter::VerdictDrop
    } else {
        Counter::VerdictPass
    };
    tally.add(recorded, 1);
    verdict
}

/// Parses, checks the rules and accounts the packet. `Err` carries the reason a packet was
/// passed without being accounted to a flow (not IP, truncated, malformed).
#[inline(always)]
fn try_sensor(run: &Run, len: u64) -> Result<u32, Counter> {
    let (ctx, tally) = (run.ctx, run.tally);
    // Quarantines and blocks by IP first of all: a packet they drop costs no header walk
    // and no flow work. An untagged IP frame is judged on the addresses at their fixed
    // offsets (`early`); any other, and a hit whose event is due, after the walk.
    let by_address = run.active_rules & active::BY_ADDRESS != 0;
    let early = if by_address {
        rules::drop_early(run)
    } else {
        rules::Verdict::Pass
    };
    if let rules::Verdict::Drop = early {
        return Ok(xdp_action::XDP_DROP);
    }
    // SAFETY: this CPU's working memory (see `Run::cpu`); nothing else holds a reference
    // to its packet. The flag goes through memory (see `cpu::Cpu`), hence the volatile
    // accesses.
    let (packet, recheck) = unsafe {
        let recheck = &raw mut (*run.cpu).recheck_by_address;
        core::ptr::write_volatile(recheck, u8::from(matches!(early, rules::Verdict::Deferred)));
        (&mut (*run.cpu).packet, recheck)
    };
    let mut cursor = parse::Cursor::new(ctx, len);
    let parsed = parse::packet(&mut cursor, packet, &tally)?;
    let packet: &parse::Packet = packet;
    match parsed {
        parse::Parsed::Ip => {}
        parse::Parsed::Arp(arp) => {
            tally.add(Counter::Arp, 1);
            if run.events_on() {
                events::arp(run, &arp);
            }
            return Ok(xdp_action::XDP_PASS);
        }
    }
    // SAFETY: as above.
    if unsafe { core::ptr::read_volatile(recheck) } != 0 && rules::drop_by_address(run, packet) {
        return Ok(xdp_action::XDP_DROP);
    }
    let (key, dir) = packet.flow_key();
    // The common case: a packet of a flow this CPU's cache holds, that passed the current
    // rules and brings nothing new, is counted there and passed. A connection's opening SYN
    // leaves the cache alone: its flow is almost always new (a scan or a flood is nothing
    // but these), so its slot would be a cache miss to read and a write-back to make for
    // nothing; the flow's next packet takes the slot.
    let slot = if packet.opens_tcp() {
        None
    } else {
        flow_cache::slot(&key)
    };
    let dhcp = is_dhcp(packet);
    if let Some(slot) = slot
        && !dhcp
        && flow_cache::count(run, slot, packet, &key, dir, len)
    {
        return Ok(xdp_action::XDP_PASS);
    }
    if run.active_rules & active::BY_FLOW != 0 && rules::drop_by_flow(run, packet, &key) {
        return Ok(xdp_action::XDP_DROP);
    }
    flows::account(run, packet, &key, dir, len, slot);
    if dhcp {
        tally.add(Counter::Dhcp, 1);
        if run.events_on() {
            events::dhcp(run, packet);
        }
    }
    Ok(xdp_action::XDP_PASS)
}

/// DHCP (and BOOTP) runs on UDP 67 (server) and 68 (client).
#[inline(always)]
fn is_dhcp(packet: &parse::Packet) -> bool {
    packet.proto == parse::proto::UDP
        && matches!((packet.src_port, packet.dst_port), (68, 67) | (67, 68))
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
