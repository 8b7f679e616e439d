//! Every map of the program, and the counter helper.
//!
//! Names and sizes come from `sensor-common` so the agent opens the same maps. The agent may
//! resize the flow table before load (`--flow-table-size`).

use aya_ebpf::{
    macros::map,
    maps::{LruHashMap, PerCpuArray},
};
use sensor_common::{COUNTER_SLOTS, Counter, FLOWS_MAX_ENTRIES, FlowKey, FlowStats};

/// The flow table. LRU so that a full table evicts the flows idle the longest instead of
/// refusing new ones.
#[map]
pub static FLOWS: LruHashMap<FlowKey, FlowStats> =
    LruHashMap::with_max_entries(FLOWS_MAX_ENTRIES, 0);

/// Per-reason counters, one slot per [`Counter`]. Per-CPU, so increments need no atomics.
#[map]
pub static COUNTERS: PerCpuArray<u64> = PerCpuArray::with_max_entries(COUNTER_SLOTS, 0);

/// Adds `n` to a counter slot.
#[inline(always)]
pub fn count(counter: Counter, n: u64) {
    if let Some(slot) = COUNTERS.get_ptr_mut(counter.slot()) {
        // SAFETY: the slot belongs to this CPU, and XDP programs are not preempted by
        // another run of themselves on the same CPU.
        unsafe { *slot += n };
    }
}
