//! Every map of the program, and the helpers that read them.
//!
//! Names and sizes come from `sensor-common` so the agent opens the same maps. The agent may
//! resize the flow table and the ring buffer before load.

use core::{ffi::c_void, ptr};

use crate::cpu::Cpu;
use aya_ebpf::{
    helpers::bpf_map_lookup_elem,
    macros::map,
    maps::{Array, HashMap, LpmTrie, LruHashMap, PerCpuArray, RingBuf, lpm_trie::Key},
};
use sensor_common::{
    AddrRule, COUNTER_SLOTS, Config, Counter, EVENTS_BYTES, EndpointKey, FLOWS_MAX_ENTRIES,
    FlowCacheSlot, FlowKey, FlowStats, LPM_MAX_ENTRIES, MacKey, RULES_MAX_ENTRIES, RuleValue,
    event::FlowBatchEvent,
    flow::FLOW_CACHE_SLOTS,
    rule::{addr_filter, addr_table},
};

/// The flow table. LRU so that a full table evicts the flows idle the longest instead of
/// refusing new ones.
#[map]
pub static FLOWS: LruHashMap<FlowKey, FlowStats> =
    LruHashMap::with_max_entries(FLOWS_MAX_ENTRIES, 0);

/// Each CPU's write-back flow cache (see `flow_cache`).
#[map]
pub static FLOW_CACHE: PerCpuArray<FlowCacheSlot> =
    PerCpuArray::with_max_entries(FLOW_CACHE_SLOTS, 0);

/// Per-reason counters: one entry per CPU holding a slot per [`Counter`]. Per-CPU, so
/// increments need no atomics; one entry, so a packet looks its counters up once.
#[map]
pub static COUNTERS: PerCpuArray<[u64; COUNTER_SLOTS as usize]> =
    PerCpuArray::with_max_entries(1, 0);

/// Each CPU's working memory (see `cpu`).
#[map]
pub static CPU: PerCpuArray<Cpu> = PerCpuArray::with_max_entries(1, 0);

/// Settings from the agent.
#[map]
pub static CONFIG: Array<Config> = Array::with_max_entries(1, 0);

/// Events to the agent.
#[map]
pub static EVENTS: RingBuf = RingBuf::with_byte_size(EVENTS_BYTES, 0);

/// Each CPU's batch of flow-opened events (see `events::flow_opened`).
#[map]
pub static FLOW_BATCH: PerCpuArray<FlowBatchEvent> = PerCpuArray::with_max_entries(1, 0);

/// Addresses no rule may drop.
#[map]
pub static NEVER_BLOCK: LpmTrie<[u8; 16], u64> = LpmTrie::with_max_entries(LPM_MAX_ENTRIES, 0);

/// Quarantined devices by IP (see `sensor_common::rule::addr_table`).
#[map]
pub static QUARANTINE_IP: Array<AddrRule> =
    Array::with_max_entries(addr_table::CELLS, addr_table::MAP_FLAGS);

/// Quarantined devices by MAC.
#[map]
pub static QUARANTINE_MAC: HashMap<MacKey, RuleValue> =
    HashMap::with_max_entries(RULES_MAX_ENTRIES, 0);

/// Peers a quarantined device may still reach (DNS, management).
#[map]
pub static QUARANTINE_ALLOW: LpmTrie<[u8; 16], u64> = LpmTrie::with_max_entries(LPM_MAX_ENTRIES, 0);

/// Exact-flow blocks, keyed by the canonical key with VLANs zero.
#[map]
pub static BLOCK_FLOW: HashMap<FlowKey, RuleValue> =
    HashMap::with_max_entries(RULES_MAX_ENTRIES, 0);

/// IP blocks (see `sensor_common::rule::addr_table`).
#[map]
pub static BLOCK_IP: Array<AddrRule> =
    Array::with_max_entries(addr_table::CELLS, addr_table::MAP_FLAGS);

/// `ip:port` blocks.
#[map]
pub static BLOCK_ENDPOINT: HashMap<EndpointKey, RuleValue> =
    HashMap::with_max_entries(RULES_MAX_ENTRIES, 0);

/// CIDR blocks.
#[map]
pub static BLOCK_CIDR: LpmTrie<[u8; 16], RuleValue> = LpmTrie::with_max_entries(LPM_MAX_ENTRIES, 0);

/// Suspended endpoints: new connections to them are dropped.
#[map]
pub static SUSPEND: HashMap<EndpointKey, RuleValue> =
    HashMap::with_max_entries(RULES_MAX_ENTRIES, 0);

/// The address filter in front of `QUARANTINE_IP` and `BLOCK_IP` (see
/// `sensor_common::rule::addr_filter`), written by the agent.
#[map]
pub static ADDR_FILTER: Array<u64> = Array::with_max_entries(addr_filter::WORDS, 0);

/// Whether some IP rule may name an address of this hash: `false` means none does, so its
/// table probes can be skipped.
#[inline(always)]
pub fn addr_filtered(hash: u32) -> bool {
    let (word, bit) = addr_filter::position(hash);
    // An index past the end cannot happen (`position` stays below `WORDS`); if it did, the
    // probes would decide.
    ADDR_FILTER.get(word).is_none_or(|w| *w & bit != 0)
}

/// The rule for the address with these words and hash in an IP rule table: the cells from
/// its home on are read in order until one holds it.
#[inline(always)]
#[expect(
    clippy::cast_ptr_alignment,
    reason = "`addr` sits at offset 0 of an 8-aligned cell"
)]
pub fn addr_rule(table: &Array<AddrRule>, words: [u32; 4], hash: u32) -> Option<*mut RuleValue> {
    for probe in 0..addr_table::PROBES {
        let cell = table.get_ptr_mut(addr_table::cell(hash, probe))?;
        // SAFETY: a pointer to a live array cell; `addr` sits at offset 0 of an 8-aligned
        // cell, so it loads as four words. A cell the agent is rewriting may read torn,
        // which at worst fails to match (its address is written last).
        unsafe {
            if *(&raw const (*cell).addr).cast::<[u32; 4]>() == words {
                return Some(&raw mut (*cell).rule);
            }
        }
    }
    None
}

/// This CPU's counters, looked up once per packet and handed to whatever counts.
#[derive(Clone, Copy)]
pub struct Tally {
    slots: *mut [u64; COUNTER_SLOTS as usize],
}

impl Tally {
    /// This CPU's counters (`None` only if the map is broken).
    #[inline(always)]
    pub fn get() -> Option<Self> {
        COUNTERS.get_ptr_mut(0).map(|slots| Self { slots })
    }

    /// Adds `n` to a counter.
    #[inline(always)]
    pub fn add(&self, counter: Counter, n: u64) {
        // SAFETY: the entry belongs to this CPU, and XDP programs are not preempted by
        // another run of themselves on the same CPU.
        if let Some(slot) = unsafe { (*self.slots).get_mut(counter.slot() as usize) } {
            *slot += n;
        }
    }
}

/// A writable pointer to an LPM trie's value for the longest prefix matching `addr`.
#[inline(always)]
pub fn lpm_lookup<V>(trie: &LpmTrie<[u8; 16], V>, addr: &[u8; 16]) -> Option<*mut V> {
    let key = Key::new(128, *addr);
    // SAFETY: an aya map static is its map definition (`repr(transparent)`), which is what
    // the helper takes; the key is a valid LPM key on the stack.
    let value = unsafe {
        bpf_map_lookup_elem(
            ptr::from_ref(trie).cast_mut().cast::<c_void>(),
            ptr::from_ref(&key).cast::<c_void>(),
        )
    };
    if value.is_null() {
        None
    } else {
        Some(value.cast::<V>())
    }
}
