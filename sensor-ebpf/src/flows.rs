//! The flow table update, the new-flow rate guard, and the flow's one-off events.
//!
//! A hit updates the entry in place: packet and byte counts with atomic adds (several CPUs
//! may carry packets of one flow), the last-seen time, TCP flags and event bits with plain
//! stores (a lost race costs at most one flag bit, which the next packet repairs, or one
//! duplicate event). A miss inserts a new entry with `BPF_NOEXIST`, unless this CPU has
//! inserted its quota of new flows this second; if another CPU won the race to insert, the
//! packet is added to that entry instead.

use core::intrinsics::{AtomicOrdering, atomic_xadd};

use aya_ebpf::bindings::BPF_NOEXIST;
use sensor_common::{
    Counter, Direction, FlowCacheSlot, FlowKey, FlowStats,
    event::{EventKind, FlowBatchEvent},
    flow::{BURST_GAP_NS, BURST_GAPS, event_flags, payload_snippets, tcp_flags},
};

use crate::{
    events, flow_cache,
    maps::FLOWS,
    parse::{Packet, proto},
    run::Run,
};

const NS_PER_SEC: u64 = 1_000_000_000;

/// What the flow cache keeps of a table entry after a packet was added to it.
pub struct Seen {
    /// TCP flags per direction.
    pub tcp_flags: [u8; 2],
    /// The entry's one-off event bits.
    pub event_flags: u8,
    /// The entry's latest payload, ns.
    pub last_payload_ns: u64,
}

/// Accounts a packet of `len` bytes in the shared table, after writing back what this CPU's
/// cache slot for the flow holds; the slot then holds the flow. (Packets the slot could
/// count alone never get here: see `flow_cache::count`.)
#[inline(always)]
pub fn account(
    run: &Run,
    packet: &Packet,
    key: &FlowKey,
    dir: Direction,
    len: u64,
    slot: Option<*mut FlowCacheSlot>,
) {
    let batch = if run.events_on() {
        events::batch(run)
    } else {
        None
    };
    if let Some(slot) = slot {
        flow_cache::write_back(run, slot);
    }
    let seen = table(run, batch, packet, key, dir, len);
    if let (Some(slot), Some(seen)) = (slot, seen) {
        flow_cache::fill(run, slot, key, dir, &seen);
    }
}

/// Adds the packet to the shared table, inserting the flow if it is new (its event joins
/// `batch`, this CPU's batch of flow openings, if events are on).
#[inline(always)]
fn table(
    run: &Run,
    batch: Option<*mut FlowBatchEvent>,
    packet: &Packet,
    key: &FlowKey,
    dir: Direction,
    len: u64,
) -> Option<Seen> {
    let now = run.now;
    // A SYN without ACK almost always opens a flow: try the insert first, and only if the
    // flow exists (a retransmission) fall back to the update, saving a lookup per new flow.
    if !packet.opens_tcp()
        && let Some(seen) = update(run, packet, key, dir, len)
    {
        return Some(seen);
    }
    let Some(opened) = admit(run) else {
        run.tally.add(Counter::FlowThrottled, 1);
        return None;
    };
    let i = dir.index() & 1;
    let initiator = initiator(dir, packet.tcp_flags) as u8;
    let mut stats = FlowStats {
        first_seen_ns: now,
        last_seen_ns: now,
        last_payload_ns: if packet.payload_len > 0 { now } else { 0 },
        initiator,
        ..FlowStats::default()
    };
    stats.packets[i] = 1;
    stats.bytes[i] = len;
    stats.tcp_flags[i] = packet.tcp_flags;
    let send_payload = run.events_on() && packet.payload_len > 0;
    if send_payload {
        stats.snippets[i] = 1;
        if payload_snippets(packet.dst_port) <= 1 {
            stats.event_flags = payload_bit(dir);
        }
    }
    if FLOWS.insert(key, stats, u64::from(BPF_NOEXIST)).is_err() {
        // Most likely another CPU inserted the flow first: add to its entry.
        let seen = update(run, packet, key, dir, len);
        if seen.is_none() {
            run.tally.add(Counter::FlowInsertFailed, 1);
        }
        return seen;
    }
    run.tally.add(Counter::FlowNew, 1);
    if run.events_on() {
        events::flow_opened(run, batch, key, initiator, packet.tcp_flags, opened);
    }
    if send_payload {
        events::payload(run, key, dir as u8, packet);
    }
    Some(Seen {
        tcp_flags: stats.tcp_flags,
        event_flags: stats.event_flags,
        last_payload_ns: stats.last_payload_ns,
    })
}

/// Adds the packet to an existing entry; `None` if there is none.
#[inline(always)]
fn update(run: &Run, packet: &Packet, key: &FlowKey, dir: Direction, len: u64) -> Option<Seen> {
    let now = run.now;
    let stats = FLOWS.get_ptr_mut(key)?;
    let i = dir.index() & 1;
    let flags = packet.tcp_flags;
    // SAFETY: the pointer is to a live map value; the counters are naturally aligned u64s
    // and only ever updated atomically.
    unsafe {
        atomic_add(&raw mut (*stats).packets[i], 1);
        atomic_add(&raw mut (*stats).bytes[i], len);
        if packet.payload_len > 0 {
            note_burst(stats, now);
            (*stats).last_payload_ns = now;
        }
        (*stats).last_seen_ns = now;
        let seen = (*stats).tcp_flags[i];
        if seen | flags != seen {
            (*stats).tcp_flags[i] = seen | flags;
        }
        if run.events_on() {
            events_of(run, packet, key, dir, stats);
        }
        Some(Seen {
            tcp_flags: (*stats).tcp_flags,
            event_flags: (*stats).event_flags,
            last_payload_ns: (*stats).last_payload_ns,
        })
    }
}

/// The first payload of a direction (the first few towards SMB), and the end of a TCP flow.
///
/// # Safety
/// `stats` must point to a live flow table value.
#[inline(always)]
unsafe fn events_of(
    run: &Run,
    packet: &Packet,
    key: &FlowKey,
    dir: Direction,
    stats: *mut FlowStats,
) {
    let flags = packet.tcp_flags;
    // SAFETY: guaranteed by the caller.
    unsafe {
        let done = (*stats).event_flags;
        let bit = payload_bit(dir);
        if packet.payload_len > 0 && done & bit == 0 {
            // The direction's last snippet closes it: later payloads bring nothing new.
            let i = dir.index() & 1;
            let sent = (*stats).snippets[i].saturating_add(1);
            (*stats).snippets[i] = sent;
            if sent >= payload_snippets(packet.dst_port) {
                (*stats).event_flags = done | bit;
            }
            events::payload(run, key, dir as u8, packet);
        }
        if packet.proto == proto::TCP && (*stats).event_flags & event_flags::ENDED == 0 {
            let fin_both = (*stats).tcp_flags[0] & (*stats).tcp_flags[1] & tcp_flags::FIN != 0;
            if flags & tcp_flags::RST != 0 || fin_both {
                (*stats).event_flags |= event_flags::ENDED;
                events::flow(run, EventKind::FlowEnded, key, (*stats).initiator, flags);
            }
        }
    }
}

/// Counts a burst if the flow carried no payload for at least `BURST_GAP_NS` before `now`
/// (a payload packet's time), and keeps the silence in the ring of the latest ones.
///
/// # Safety
/// `stats` must point to a live flow table value.
#[inline(always)]
unsafe fn note_burst(stats: *mut FlowStats, now: u64) {
    // SAFETY: guaranteed by the caller; plain stores, a lost race costs one burst.
    unsafe {
        let last = (*stats).last_payload_ns;
        if last == 0 || now <= last || now - last < BURST_GAP_NS {
            return;
        }
        let bursts = (*stats).bursts.wrapping_add(1);
        (*stats).bursts = bursts;
        let ms = (now - last) / 1_000_000;
        let ms = if ms > u64::from(u32::MAX) {
            u32::MAX
        } else {
            ms as u32
        };
        if let Some(slot) = (*stats)
            .burst_gaps_ms
            .get_mut(bursts as usize & (BURST_GAPS - 1))
        {
            *slot = ms;
        }
    }
}

/// The per-CPU new-flow rate guard: admits up to the configured number of inserts per
/// second (0: no cap). Returns this second's count with this flow, or `None` if the flow
/// is over the cap.
#[inline(always)]
fn admit(run: &Run) -> Option<u64> {
    let (now, per_sec) = (run.now, run.config.new_flows_per_sec);
    // SAFETY: this CPU's working memory (see `Run::cpu`).
    unsafe {
        let window = &raw mut (*run.cpu).rate;
        if now.wrapping_sub((*window).start_ns) >= NS_PER_SEC {
            (*window).start_ns = now;
            (*window).inserted = 0;
        }
        if per_sec != 0 && (*window).inserted >= u64::from(per_sec) {
            return None;
        }
        (*window).inserted += 1;
        Some((*window).inserted)
    }
}

/// The event bit of the first payload in `dir`.
#[inline(always)]
pub fn payload_bit(dir: Direction) -> u8 {
    match dir {
        Direction::LoToHi => event_flags::PAYLOAD_LO_TO_HI,
        Direction::HiToLo => event_flags::PAYLOAD_HI_TO_LO,
    }
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
pub unsafe fn atomic_add(dst: *mut u64, n: u64) {
    // SAFETY: guaranteed by the caller.
    let _previous = unsafe { atomic_xadd::<u64, u64, { AtomicOrdering::Relaxed }>(dst, n) };
}
