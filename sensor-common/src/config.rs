//! Run-time settings the agent writes into the `CONFIG` array for the XDP program.

/// The single entry of the `CONFIG` array.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Config {
    /// New flows each CPU may insert per second; 0 for no limit. Packets over the cap pass
    /// and are counted (`flow_throttled`), so a SYN flood cannot evict every real flow.
    pub new_flows_per_sec: u32,
    /// [`crate::rule::active`] bits: which rule classes hold entries.
    pub active_rules: u32,
    /// Least time between two rule-hit events of one rule, ns.
    pub hit_event_interval_ns: u64,
    /// [`flags`] bits.
    pub flags: u32,
    /// Bumped by the agent on every rule change. A flow cache slot remembers the generation
    /// under which its flow passed the rules, so packets of that flow skip the rule lookups
    /// until a rule changes.
    pub rules_generation: u32,
    /// When not 0, the program's clock: every packet is stamped with this time instead of
    /// the kernel's. `sensor replay` sets it to each frame's capture time, so offline
    /// analysis runs on the capture's own clock.
    pub fixed_now_ns: u64,
}

const _: () = assert!(size_of::<Config>() == 32);

/// Bits of [`Config::flags`].
pub mod flags {
    /// Emit events to the ring buffer (flow opened/ended, payload snippets, ARP/DHCP, hits).
    pub const EVENTS: u32 = 1 << 0;
}

/// Default new flows per CPU per second.
pub const DEFAULT_NEW_FLOWS_PER_SEC: u32 = 100_000;
/// Default pacing of rule-hit events: one per rule per second.
pub const DEFAULT_HIT_EVENT_INTERVAL_NS: u64 = 1_000_000_000;

impl Config {
    /// The defaults: events on, 100,000 new flows per CPU per second, no rules.
    pub const fn new() -> Self {
        Self {
            new_flows_per_sec: DEFAULT_NEW_FLOWS_PER_SEC,
            active_rules: 0,
            hit_event_interval_ns: DEFAULT_HIT_EVENT_INTERVAL_NS,
            flags: flags::EVENTS,
            rules_generation: 0,
            fixed_now_ns: 0,
        }
    }
}

#[cfg(feature = "user")]
mod pod {
    // SAFETY: `repr(C)`, `Copy`, integers only, padding explicit.
    unsafe impl aya::Pod for super::Config {}
}
