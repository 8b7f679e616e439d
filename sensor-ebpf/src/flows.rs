//! The flow table update.
//!
//! A hit updates the entry in place: packet and byte counts with atomic adds (several CPUs
//! may carry packets of one flow), the last-seen time and the TCP flags with plain stores
//! (a lost race costs at most one flag bit for one packet, which the next packet repairs).
//! A miss inserts a new entry with `BPF_NOEXIST`; if another CPU won the race to insert,
//! the packet is added to that entry instead.

use core::intrinsics::{AtomicOrdering, atomic_xadd};

use aya_ebpf::{bindings::BPF_NOEXIST, helpers::bpf_ktime_get_coarse_ns};
use sensor_common::{Counter, Direction, FlowKey, FlowStats, flow::tcp_flags};

use crate::{
    maps::{self, FLOWS},
    parse::Packet,
};

/// Accounts a packet of `len` bytes to its flow.
#[inline(always)]
pub fn account(packet: &Packet, len: u64) {
    let (key, dir) = FlowKey::canonical(
        packet.src,
        packet.src_port,
        packet.dst,
        packet.dst_port,
        packet.proto,
        packet.vlan,
    );
    // SAFETY: the helper takes no arguments and only reads the clock.
    let now = unsafe { bpf_ktime_get_coarse_ns() };
    if update(&key, dir, packet.tcp_flags, len, now) {
        return;
    }
    let i = dir.index() & 1;
    let mut stats = FlowStats {
        first_seen_ns: now,
        last_seen_ns: now,
        initiator: initiator(dir, packet.tcp_flags) as u8,
        ..FlowStats::default()
    };
    stats.packets[i] = 1;
    stats.bytes[i] = len;
    stats.tcp_flags[i] = packet.tcp_flags;
    match FLOWS.insert(key, stats, u64::from(BPF_NOEXIST)) {
        Ok(()) => maps::count(Counter::FlowNew, 1),
        Err(_) => {
            // Most likely another CPU inserted the flow first: add to its entry.
            if !update(&key, dir, packet.tcp_flags, len, now) {
                maps::count(Counter::FlowInsertFailed, 1);
            }
        }
    }
}

/// Adds the packet to an existing entry; returns `false` if there is none.
#[inline(always)]
fn update(key: &FlowKey, dir: Direction, flags: u8, len: u64, now: u64) -> bool {
    let Some(stats) = FLOWS.get_ptr_mut(key) else {
        return false;
    };
    let i = dir.index() & 1;
    // SAFETY: the pointer is to a live map value; the counters are naturally aligned u64s
    // and only ever accessed atomically or by the agent's reads.
    unsafe {
        atomic_add(&raw mut (*stats).packets[i], 1);
        atomic_add(&raw mut (*stats).bytes[i], len);
        (*stats).last_seen_ns = now;
        let seen = (*stats).tcp_flags[i];
        if seen | flags != seen {
            (*stats).tcp_flags[i] = seen | flags;
        }
    }
    true
}

/// The side that opened the flow, judged from its first packet: a SYN-ACK means the other
/// side sent the SYN we missed.
#[inline(always)]
fn initiator(dir: Direction, flags: u8) -> Direction {
    let syn_ack = tcp_flags::SYN | tcp_flags::ACK;
    if flags & syn_ack == syn_ack {
        dir.reverse()
    } else {
        dir
    }
}

/// Atomically adds `n` to the `u64` at `dst` (BPF `lock xadd`).
///
/// The BPF target has no compare-and-swap, so `core` offers no `AtomicU64::fetch_add` there;
/// the intrinsic lowers to the BPF atomic add instruction directly.
///
/// # Safety
/// `dst` must be valid for writes and 8-byte aligned.
#[inline(always)]
unsafe fn atomic_add(dst: *mut u64, n: u64) {
    // SAFETY: guaranteed by the caller.
    let _previous = unsafe { atomic_xadd::<u64, u64, { AtomicOrdering::Relaxed }>(dst, n) };
}
