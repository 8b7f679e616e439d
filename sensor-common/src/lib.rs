//! Types and constants shared by the XDP program (`sensor-ebpf`) and the agent (`sensor`).
//!
//! Everything here crosses the kernel/user boundary through BPF maps, so every type is
//! `#[repr(C)]`, `Copy`, of a fixed size asserted at compile time, with padding spelled out
//! as `_pad` fields. With the `user` feature the types implement `aya::Pod`.
//!
//! # Layout
//! - [`flow`]: the canonical flow key and the per-flow statistics in the flow table.
//! - [`counter`]: the per-reason counter slots of the per-CPU counters array.
//! - [`rule`]: the response rules' keys and value.
//! - [`event`]: the events of the ring buffer.
//! - [`config`]: the run-time settings the agent hands the program.
//! - Map names and sizes are the constants below; both sides use them.
#![no_std]
#![deny(missing_docs)]

pub mod config;
pub mod counter;
pub mod event;
pub mod flow;
pub mod rule;

pub use config::Config;
pub use counter::Counter;
pub use flow::{Direction, FlowCacheSlot, FlowKey, FlowStats};
pub use rule::{AddrRule, EndpointKey, MacKey, RuleKind, RuleValue};

/// Name of the LRU hash map of flows (`FlowKey` → `FlowStats`).
pub const FLOWS_MAP: &str = "FLOWS";
/// Default number of entries in the flow table; the agent may set another before load.
pub const FLOWS_MAX_ENTRIES: u32 = 262_144;
/// Name of the per-CPU write-back flow cache ([`FlowCacheSlot`]s).
pub const FLOW_CACHE_MAP: &str = "FLOW_CACHE";
/// Name of the per-CPU array of counters, indexed by [`Counter`].
pub const COUNTERS_MAP: &str = "COUNTERS";
/// Slots in the counters array. Larger than the number of counters in use so that new
/// counters do not change the map's size.
pub const COUNTER_SLOTS: u32 = 64;
/// Name of the single-entry array of [`Config`].
pub const CONFIG_MAP: &str = "CONFIG";
/// Name of the per-CPU batch of flow-opened events. Pinned, so a program swapped in by a
/// new agent sends the openings the old one had batched.
pub const FLOW_BATCH_MAP: &str = "FLOW_BATCH";
/// Name of the ring buffer of events.
pub const EVENTS_MAP: &str = "EVENTS";
/// Default size of the ring buffer in bytes (a power of two).
pub const EVENTS_BYTES: u32 = 4 << 20;

/// Name of the LPM trie of addresses no rule may drop (value: owning action id).
pub const NEVER_BLOCK_MAP: &str = "NEVER_BLOCK";
/// Name of the table of quarantined devices by IP ([`rule::addr_table`]).
pub const QUARANTINE_IP_MAP: &str = "QUARANTINE_IP";
/// Name of the hash of quarantined devices by MAC.
pub const QUARANTINE_MAC_MAP: &str = "QUARANTINE_MAC";
/// Name of the LPM trie of peers quarantined devices may still reach (value: action id).
pub const QUARANTINE_ALLOW_MAP: &str = "QUARANTINE_ALLOW";
/// Name of the hash of exact-flow blocks (canonical [`FlowKey`], VLANs zero).
pub const BLOCK_FLOW_MAP: &str = "BLOCK_FLOW";
/// Name of the table of IP blocks ([`rule::addr_table`]).
pub const BLOCK_IP_MAP: &str = "BLOCK_IP";
/// Name of the hash of `ip:port` blocks.
pub const BLOCK_ENDPOINT_MAP: &str = "BLOCK_ENDPOINT";
/// Name of the LPM trie of CIDR blocks.
pub const BLOCK_CIDR_MAP: &str = "BLOCK_CIDR";
/// Name of the hash of suspended endpoints.
pub const SUSPEND_MAP: &str = "SUSPEND";
/// Name of the array behind [`rule::addr_filter`].
pub const ADDR_FILTER_MAP: &str = "ADDR_FILTER";
/// Entries of each rule hash map.
pub const RULES_MAX_ENTRIES: u32 = 65_536;
/// Entries of each LPM trie (never-block, allow list, CIDR blocks).
pub const LPM_MAX_ENTRIES: u32 = 16_384;

/// Every map the agent pins, in the order it pins them; the last is the agent's "ready".
pub const PINNED_MAPS: [&str; 16] = [
    FLOWS_MAP,
    FLOW_CACHE_MAP,
    CONFIG_MAP,
    EVENTS_MAP,
    FLOW_BATCH_MAP,
    NEVER_BLOCK_MAP,
    QUARANTINE_IP_MAP,
    QUARANTINE_MAC_MAP,
    QUARANTINE_ALLOW_MAP,
    BLOCK_FLOW_MAP,
    BLOCK_IP_MAP,
    BLOCK_ENDPOINT_MAP,
    BLOCK_CIDR_MAP,
    SUSPEND_MAP,
    ADDR_FILTER_MAP,
    COUNTERS_MAP,
];

/// Name of the XDP program in the object file: the one for frames that may span several
/// buffers (loaded with frags; asks the kernel for each frame's length).
pub const XDP_PROGRAM: &str = "sensor";
/// Name of the same program for frames that fit one buffer (loaded without frags, so the
/// packet bounds are the whole frame).
pub const XDP_PROGRAM_LINEAR: &str = "sensor_linear";
