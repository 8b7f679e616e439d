//! What one run of the program carries from step to step.

use aya_ebpf::programs::XdpContext;
use sensor_common::{Config, config::flags};

use crate::{clock, cpu::Cpu, maps::Tally};

/// The packet's context, this CPU's counters and working memory, the time, and the agent's
/// settings, gathered once per packet.
pub struct Run<'a> {
    /// The XDP context.
    pub ctx: &'a XdpContext,
    /// This CPU's counters.
    pub tally: Tally,
    /// This CPU's working memory: its own, not shared with another CPU, and not preempted
    /// by another run of this program.
    pub cpu: *mut Cpu,
    /// Kernel `CLOCK_MONOTONIC` (coarse), ns.
    pub now: u64,
    /// The agent's settings, read in place (the loader writes the defaults into a fresh
    /// map). A copy on the stack, chosen between the map's and the defaults, had the
    /// verifier track both through the whole program: 459,000 instructions processed
    /// instead of 193,000.
    pub config: &'a Config,
    /// The rule classes that hold entries, as this packet found them.
    pub active_rules: u32,
    /// The rules generation, as this packet found it. Read once with `active_rules`, so a
    /// packet that passed one set of rules is never cached as having passed the next set
    /// the agent writes meanwhile.
    pub rules_generation: u32,
}

impl<'a> Run<'a> {
    /// Reads the clock and the rules' state.
    #[inline(always)]
    pub fn new(ctx: &'a XdpContext, tally: Tally, cpu: *mut Cpu, config: &'a Config) -> Self {
        let now = if config.fixed_now_ns != 0 {
            config.fixed_now_ns
        } else {
            // SAFETY: `cpu` is this CPU's entry (see the field).
            unsafe { clock::now(&raw mut (*cpu).clock) }
        };
        Self {
            ctx,
            tally,
            cpu,
            now,
            config,
            active_rules: config.active_rules,
            rules_generation: config.rules_generation,
        }
    }

    /// Whether events go to the ring buffer.
    #[inline(always)]
    pub fn events_on(&self) -> bool {
        self.config.flags & flags::EVENTS != 0
    }
}
