//! Writing events to the ring buffer.
//!
//! Events are submitted with `BPF_RB_NO_WAKEUP` and the agent polls on a timer, so a busy
//! gateway does not pay a wakeup per event; once the ring is half full, submissions force a
//! wakeup so the agent drains it before it overflows. A full ring is counted, not silent.
//!
//! # Minimum kernel version
//! 5.8 for the ring buffer; 5.18 for `bpf_xdp_load_bytes`.

use core::ffi::c_void;

use aya_ebpf::{
    bindings::{BPF_RB_AVAIL_DATA, BPF_RB_FORCE_WAKEUP, BPF_RB_NO_WAKEUP},
    helpers::bpf_xdp_load_bytes,
};
use sensor_common::{
    Counter, EVENTS_BYTES, FlowKey, RuleValue,
    event::{
        ArpEvent, DHCP_SNIPPET_LEN, DhcpEvent, EventHeader, EventKind, FLOW_BATCH_ABOVE_PER_SEC,
        FLOW_BATCH_LEN, FLOW_BATCH_MAX_AGE_NS, FlowBatchEvent, FlowEvent, PAYLOAD_SNIPPET_LEN,
        PayloadEvent, RuleHitEvent,
    },
};

use crate::{
    maps::{EVENTS, FLOW_BATCH},
    parse::{Arp, Packet},
    run::Run,
};

/// The submit flag: no wakeup until the ring is half full.
#[inline(always)]
fn submit_flags() -> u64 {
    if EVENTS.query(u64::from(BPF_RB_AVAIL_DATA)) > u64::from(EVENTS_BYTES / 2) {
        u64::from(BPF_RB_FORCE_WAKEUP)
    } else {
        u64::from(BPF_RB_NO_WAKEUP)
    }
}

#[inline(always)]
fn header(run: &Run, kind: EventKind) -> EventHeader {
    EventHeader {
        kind: kind as u8,
        _pad: [0; 3],
        ifindex: run.ctx.ingress_ifindex() as u32,
        ts_ns: run.now,
    }
}

/// `min(len, max)`, or `None` for 0, in a form the verifier can bound.
///
/// LLVM is free to compute a `min` in one register and pass a copy made before the compare
/// to the helper, which the verifier then sees as unbounded. Reading the value back through
/// a volatile load and checking that very value right before the call keeps the bound on
/// the register the helper gets.
#[inline(always)]
fn copy_len(len: u32, max: u32) -> Option<u32> {
    let clamped = if len > max { max } else { len };
    // SAFETY: a read of a local.
    let len = unsafe { core::ptr::read_volatile(&raw const clamped) };
    if len == 0 || len > max {
        return None;
    }
    Some(len)
}

/// A flow opened or ended.
#[inline(always)]
pub fn flow(run: &Run, kind: EventKind, key: &FlowKey, initiator: u8, flags: u8) {
    let Some(mut entry) = EVENTS.reserve::<FlowEvent>(0) else {
        run.tally.add(Counter::EventsDropped, 1);
        return;
    };
    let event = entry.as_mut_ptr();
    // SAFETY: a reserved record of the right size, written field by field in place (the
    // whole program shares 512 bytes of stack).
    unsafe {
        (*event).header = header(run, kind);
        (*event).key = *key;
        (*event).initiator = initiator;
        (*event).tcp_flags = flags;
        (*event)._pad = [0; 2];
    }
    entry.submit(submit_flags());
    run.tally.add(Counter::EventsSent, 1);
}

/// A flow opened. While this CPU opens flows faster than [`FLOW_BATCH_ABOVE_PER_SEC`]
/// (`opened` is this second's count so far) the event joins the CPU's `batch` (from
/// [`batch`]), sent when full or [`FLOW_BATCH_MAX_AGE_NS`] old; otherwise it goes out at
/// once, after any batch left over, so the agent reads the flows in the order they opened.
#[inline(always)]
pub fn flow_opened(
    run: &Run,
    batch: Option<*mut FlowBatchEvent>,
    key: &FlowKey,
    initiator: u8,
    flags: u8,
    opened: u64,
) {
    let Some(batch) = batch else {
        flow(run, EventKind::FlowOpened, key, initiator, flags);
        return;
    };
    // SAFETY: this CPU's entry, not shared, and not preempted by another run of the program.
    unsafe {
        let count = (*batch).count as usize;
        if opened <= FLOW_BATCH_ABOVE_PER_SEC {
            if count != 0 {
                send_batch(run, batch);
            }
            flow(run, EventKind::FlowOpened, key, initiator, flags);
            return;
        }
        if count == 0 {
            (*batch).first_ns = run.now;
        }
        let Some(event) = (*batch).events.get_mut(count & (FLOW_BATCH_LEN - 1)) else {
            return;
        };
        event.header = header(run, EventKind::FlowOpened);
        event.key = *key;
        event.initiator = initiator;
        event.tcp_flags = flags;
        event._pad = [0; 2];
        (*batch).count = (count + 1) as u32;
        if count + 1 >= FLOW_BATCH_LEN {
            send_batch(run, batch);
        }
    }
}

/// This CPU's batch of flow-opened events, after sending what it holds if that is older
/// than [`FLOW_BATCH_MAX_AGE_NS`]. Looked up once per packet that reaches the flow table.
#[inline(always)]
pub fn batch(run: &Run) -> Option<*mut FlowBatchEvent> {
    let batch = FLOW_BATCH.get_ptr_mut(0)?;
    // SAFETY: as in `flow_opened`.
    unsafe {
        if (*batch).count != 0 && run.now.wrapping_sub((*batch).first_ns) >= FLOW_BATCH_MAX_AGE_NS {
            send_batch(run, batch);
        }
    }
    Some(batch)
}

/// Copies the batch into the ring as one record and empties it.
///
/// # Safety
/// `batch` must be this CPU's `FLOW_BATCH` entry.
#[inline(always)]
unsafe fn send_batch(run: &Run, batch: *mut FlowBatchEvent) {
    // SAFETY: guaranteed by the caller.
    unsafe {
        let count = u64::from((*batch).count);
        (*batch).header = header(run, EventKind::FlowBatch);
        if EVENTS
            .output::<FlowBatchEvent>(&*batch, submit_flags())
            .is_ok()
        {
            run.tally.add(Counter::EventsSent, count);
        } else {
            run.tally.add(Counter::EventsDropped, count);
        }
        (*batch).count = 0;
    }
}

/// The first payload bytes of one direction.
#[inline(always)]
pub fn payload(run: &Run, key: &FlowKey, direction: u8, packet: &Packet) {
    let Some(len) = copy_len(packet.payload_len, PAYLOAD_SNIPPET_LEN as u32) else {
        return;
    };
    let Some(mut entry) = EVENTS.reserve::<PayloadEvent>(0) else {
        run.tally.add(Counter::EventsDropped, 1);
        return;
    };
    let event = entry.as_mut_ptr();
    // SAFETY: `event` points to a reserved ring-buffer record of the right size; fields are
    // written in place (the record is larger than is wise to build on the BPF stack), and
    // the helper copies at most `len` <= PAYLOAD_SNIPPET_LEN bytes, checked by the kernel
    // against the packet's bounds.
    let copied = unsafe {
        (*event).header = header(run, EventKind::Payload);
        (*event).key = *key;
        (*event).direction = direction;
        (*event)._pad = 0;
        (*event).len = len as u16;
        bpf_xdp_load_bytes(
            run.ctx.ctx,
            packet.payload_offset,
            (*event).data.as_mut_ptr().cast::<c_void>(),
            len,
        )
    };
    if copied != 0 {
        entry.discard(0);
        return;
    }
    entry.submit(submit_flags());
    run.tally.add(Counter::EventsSent, 1);
}

/// An ARP packet.
#[inline(always)]
pub fn arp(run: &Run, arp: &Arp) {
    let Some(mut entry) = EVENTS.reserve::<ArpEvent>(0) else {
        run.tally.add(Counter::EventsDropped, 1);
        return;
    };
    let event = entry.as_mut_ptr();
    // SAFETY: as in `flow`.
    unsafe {
        (*event).header = header(run, EventKind::Arp);
        (*event).vlan = arp.vlan;
        (*event).op = arp.op;
        (*event).sender_mac = arp.sender_mac;
        (*event).sender_ip = arp.sender_ip;
        (*event).target_mac = arp.target_mac;
        (*event).target_ip = arp.target_ip;
        (*event)._pad = [0; 6];
    }
    entry.submit(submit_flags());
    run.tally.add(Counter::EventsSent, 1);
}

/// A DHCP message (UDP 67/68), from its `op` byte, up to [`DHCP_SNIPPET_LEN`] bytes.
#[inline(always)]
pub fn dhcp(run: &Run, packet: &Packet) {
    let Some(len) = copy_len(packet.payload_len, DHCP_SNIPPET_LEN as u32) else {
        return;
    };
    let Some(mut entry) = EVENTS.reserve::<DhcpEvent>(0) else {
        run.tally.add(Counter::EventsDropped, 1);
        return;
    };
    let event = entry.as_mut_ptr();
    // SAFETY: as in `payload`.
    let copied = unsafe {
        (*event).header = header(run, EventKind::Dhcp);
        (*event).src_mac = packet.src_mac;
        (*event).len = len as u16;
        (*event).vlan = packet.vlan;
        (*event)._pad = [0; 4];
        bpf_xdp_load_bytes(
            run.ctx.ctx,
            packet.payload_offset,
            (*event).data.as_mut_ptr().cast::<c_void>(),
            len,
        )
    };
    if copied != 0 {
        entry.discard(0);
        return;
    }
    entry.submit(submit_flags());
    run.tally.add(Counter::EventsSent, 1);
}

/// A rule dropped a packet.
#[inline(always)]
pub fn rule_hit(run: &Run, packet: &Packet, matched: Counter, rule: &RuleValue) {
    let Some(mut entry) = EVENTS.reserve::<RuleHitEvent>(0) else {
        run.tally.add(Counter::EventsDropped, 1);
        return;
    };
    let event = entry.as_mut_ptr();
    // SAFETY: as in `flow`.
    unsafe {
        (*event).header = header(run, EventKind::RuleHit);
        // Built in the record, not copied there through the stack.
        let (key, direction) = packet.flow_key();
        (*event).key = key;
        (*event).direction = direction as u8;
        (*event).kind = rule.kind;
        (*event).matched = matched.slot() as u8;
        (*event)._pad = 0;
        (*event).action_id = rule.action_id;
        (*event).hits = rule.hits;
    }
    entry.submit(submit_flags());
    run.tally.add(Counter::EventsSent, 1);
}
