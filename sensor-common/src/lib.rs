//! Types and constants shared by the XDP program (`sensor-ebpf`) and the agent (`sensor`).
//!
//! Everything here crosses the kernel/user boundary through BPF maps, so every type is
//! `#[repr(C)]`, `Copy`, of a fixed size asserted at compile time, with padding spelled out
//! as `_pad` fields. With the `user` feature the types implement `aya::Pod`.
//!
//! # Layout
//! - [`flow`]: the canonical flow key and the per-flow statistics in the flow table.
//! - [`counter`]: the per-reason counter slots of the per-CPU counters array.
//! - Map names and sizes are the constants below; both sides use them.
#![no_std]
#![deny(missing_docs)]

pub mod counter;
pub mod flow;

pub use counter::Counter;
pub use flow::{Direction, FlowKey, FlowStats};

/// Name of the LRU hash map of flows (`FlowKey` → `FlowStats`).
pub const FLOWS_MAP: &str = "FLOWS";
/// Default number of entries in the flow table; the agent may set another before load.
pub const FLOWS_MAX_ENTRIES: u32 = 262_144;
/// Name of the per-CPU array of counters, indexed by [`Counter`].
pub const COUNTERS_MAP: &str = "COUNTERS";
/// Slots in the counters array. Larger than the number of counters in use so that new
/// counters do not change the map's size.
pub const COUNTER_SLOTS: u32 = 64;
/// Name of the XDP program in the object file.
pub const XDP_PROGRAM: &str = "sensor";
