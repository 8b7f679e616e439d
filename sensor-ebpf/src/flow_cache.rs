//! The per-CPU write-back flow cache in front of the shared flow table.
//!
//! Most packets of a busy flow bring nothing new: no first payload, no FIN or RST, no TCP
//! flag the table has not seen, no burst after a silence. Such a packet is counted in this CPU's cache slot for the
//! flow with plain adds, instead of a shared hash lookup and two atomic adds. Everything
//! else takes the table path, after the slot's pending deltas are written back, and then
//! fills the slot. The slot also remembers the rules generation its flow passed under, so
//! the cached packets skip the rule lookups too until a rule changes. A busy slot is written back at least every `FLOW_CACHE_FLUSH_NS`, which
//! also keeps the table's LRU from evicting a flow only the cache sees. Readers add every
//! CPU's pending deltas to the table's entries, so counts are exact at rest.

use aya_ebpf::bindings::BPF_NOEXIST;
use sensor_common::{
    Counter, Direction, FlowCacheSlot, FlowKey, FlowStats,
    flow::{BURST_GAP_NS, FLOW_CACHE_FLUSH_NS, tcp_flags},
};

use crate::{
    flows::{Seen, atomic_add, payload_bit},
    maps::{FLOW_CACHE, FLOWS},
    parse::Packet,
    run::Run,
};

/// This CPU's slot for `key`.
#[inline(always)]
pub fn slot(key: &FlowKey) -> Option<*mut FlowCacheSlot> {
    FLOW_CACHE.get_ptr_mut(key.cache_slot())
}

/// Counts the packet in the slot if the slot holds its flow, the flow passed the current
/// rules, and the packet brings nothing the table must see; returns whether it did.
#[inline(always)]
pub fn count(
    run: &Run,
    slot: *mut FlowCacheSlot,
    packet: &Packet,
    key: &FlowKey,
    dir: Direction,
    len: u64,
) -> bool {
    let i = dir.index() & 1;
    let flags = packet.tcp_flags;
    // SAFETY: a per-CPU slot, not shared with another CPU, not preempted by this program.
    unsafe {
        if (*slot).valid == 0
            || (*slot).rules_generation != run.rules_generation
            || (*slot).passed & (1 << i) == 0
            || (*slot).key != *key
        {
            return false;
        }
        // Payload after a silence starts a burst, which the table counts.
        if packet.payload_len > 0 && run.now.wrapping_sub((*slot).last_payload_ns) >= BURST_GAP_NS {
            return false;
        }
        let known = (*slot).tcp_flags[i];
        if flags & (tcp_flags::FIN | tcp_flags::RST) != 0 || known | flags != known {
            return false;
        }
        if packet.payload_len > 0 && run.events_on() && (*slot).event_flags & payload_bit(dir) == 0
        {
            return false;
        }
        (*slot).packets[i] += 1;
        (*slot).bytes[i] += len;
        (*slot).last_seen_ns = run.now;
        if packet.payload_len > 0 {
            (*slot).last_payload_ns = run.now;
        }
        run.tally.add(Counter::FlowCacheHit, 1);
        if run.now.wrapping_sub((*slot).flushed_ns) >= FLOW_CACHE_FLUSH_NS {
            write_back(run, slot);
        }
    }
    true
}

/// Writes the slot's pending deltas to the table. If the table has evicted the flow
/// meanwhile, it is inserted again with what the slot knows, and counted.
#[inline(always)]
#[expect(
    clippy::needless_borrows_for_generic_args,
    reason = "the key is passed by reference into map memory; a copy would take 44 of the \
              program's 512 bytes of stack"
)]
pub fn write_back(run: &Run, slot: *mut FlowCacheSlot) {
    // SAFETY: as in `count`; the table pointer is a live map value whose counters are only
    // updated atomically.
    unsafe {
        (*slot).flushed_ns = run.now;
        if (*slot).valid == 0 || (*slot).packets[0] | (*slot).packets[1] == 0 {
            return;
        }
        let (packets, bytes) = ((*slot).packets, (*slot).bytes);
        (*slot).packets = [0; 2];
        (*slot).bytes = [0; 2];
        run.tally.add(Counter::FlowCacheFlush, 1);
        let key = &raw const (*slot).key;
        if let Some(stats) = FLOWS.get_ptr_mut(&*key) {
            atomic_add(&raw mut (*stats).packets[0], packets[0]);
            atomic_add(&raw mut (*stats).packets[1], packets[1]);
            atomic_add(&raw mut (*stats).bytes[0], bytes[0]);
            atomic_add(&raw mut (*stats).bytes[1], bytes[1]);
            if (*slot).last_seen_ns > (*stats).last_seen_ns {
                (*stats).last_seen_ns = (*slot).last_seen_ns;
            }
            if (*slot).last_payload_ns > (*stats).last_payload_ns {
                (*stats).last_payload_ns = (*slot).last_payload_ns;
            }
            return;
        }
        let again = FlowStats {
            packets,
            bytes,
            first_seen_ns: (*slot).last_seen_ns,
            last_seen_ns: (*slot).last_seen_ns,
            tcp_flags: (*slot).tcp_flags,
            event_flags: (*slot).event_flags,
            last_payload_ns: (*slot).last_payload_ns,
            ..FlowStats::default()
        };
        if FLOWS.insert(&*key, again, u64::from(BPF_NOEXIST)).is_ok() {
            run.tally.add(Counter::FlowCacheReinsert, 1);
        }
    }
}

/// Makes the slot hold `key`, as the table has it after this packet (which passed the rules
/// in `dir`), with no deltas.
#[inline(always)]
pub fn fill(run: &Run, slot: *mut FlowCacheSlot, key: &FlowKey, dir: Direction, seen: &Seen) {
    let generation = run.rules_generation;
    let bit = 1u8 << (dir.index() & 1);
    // SAFETY: as in `count`.
    unsafe {
        let same =
            (*slot).valid != 0 && (*slot).rules_generation == generation && (*slot).key == *key;
        (*slot).passed = if same { (*slot).passed | bit } else { bit };
        (*slot).key = *key;
        (*slot).rules_generation = generation;
        (*slot).valid = 1;
        (*slot).tcp_flags = seen.tcp_flags;
        (*slot).event_flags = seen.event_flags;
        (*slot).packets = [0; 2];
        (*slot).bytes = [0; 2];
        (*slot).last_seen_ns = run.now;
        (*slot).flushed_ns = run.now;
        (*slot).last_payload_ns = seen.last_payload_ns;
    }
}
