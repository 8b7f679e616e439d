//! This CPU's working memory: one per-CPU map entry, looked up once per packet.
//!
//! What a run keeps between its steps (the walked packet, the flag that sends it back to
//! the address rules) and what the CPU keeps between runs (its clock reading, its new-flow
//! window) share one entry. One lookup per packet instead of one per map, and two adjacent
//! cache lines instead of one apiece in three maps: a packet that opens a flow is bound by
//! memory more than by instructions, so lines it does not touch are what it saves.

use crate::{clock::Reading, parse::Packet};

/// This CPU's entry of `maps::CPU`.
///
/// `recheck_by_address` is set before the walk and read after it through memory the
/// verifier does not track. Carried in a register instead, each of its values would have
/// the verifier walk the whole rest of the program again (it did: 932,455 instructions
/// processed instead of 177,040).
#[repr(C, align(8))]
pub struct Cpu {
    /// The coarse time this CPU read last (see `clock`).
    pub clock: Reading,
    /// The new-flow rate guard's window (see `flows::admit`).
    pub rate: RateWindow,
    /// Non-zero when the address rules could not decide before the walk.
    pub recheck_by_address: u8,
    /// The walked packet.
    pub packet: Packet,
}

/// The new-flow rate guard's current one-second window.
#[repr(C)]
pub struct RateWindow {
    /// Start of the window, kernel monotonic ns.
    pub start_ns: u64,
    /// Flows inserted in it.
    pub inserted: u64,
}
