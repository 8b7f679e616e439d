//! What one run of the program carries from step to step.

use aya_ebpf::programs::XdpContext;
use sensor_common::{Config, config::flags};

use crate::{
    clock,
    cpu::Cpu,
    maps::{self, Tally},
};

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
    /// The agent's settings.
    pub config: Config,
}

impl<'a> Run<'a> {
    /// Reads the clock and the settings.
    #[inline(always)]
    pub fn new(ctx: &'a XdpContext, tally: Tally, cpu: *mut Cpu) -> Self {
        let config = maps::config();
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
        }
    }

    /// Whether events go to the ring buffer.
    #[inline(always)]
    pub fn events_on(&self) -> bool {
        self.config.flags & flags::EVENTS != 0
    }
}
