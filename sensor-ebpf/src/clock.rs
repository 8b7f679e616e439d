//! The coarse clock, read from the kernel once per tick per CPU.
//!
//! `CLOCK_MONOTONIC` (coarse) only moves at a timer tick, but reading it is a helper call
//! and a sequence-counter loop over the timekeeper's cache lines: most of what a dropped
//! packet costs after its headers. `jiffies` moves at the same tick and the verifier inlines
//! its read into one load. So each CPU keeps the coarse time it read with the `jiffies` it
//! read it at, and reads the clock again only when `jiffies` has moved: one load and one
//! compare per packet, the helper once a tick.
//!
//! The kernel advances `jiffies` just before the timekeeper at a tick: a CPU that reads
//! both in between keeps the previous tick's time until the next tick. A time read here
//! lags the true time by at most two ticks (8 ms at `HZ=250`) instead of one, and never
//! goes back.

use aya_ebpf::helpers::{bpf_jiffies64, bpf_ktime_get_coarse_ns};

/// The coarse time a CPU read, and the `jiffies` it read it at (kept in `cpu::Cpu`).
#[repr(C)]
pub struct Reading {
    jiffies: u64,
    ns: u64,
}

/// Kernel `CLOCK_MONOTONIC` (coarse), ns, by way of this CPU's last `reading`.
///
/// # Safety
/// `reading` must be this CPU's, valid for reads and writes, and not preempted by another
/// run of this program.
#[inline(always)]
pub unsafe fn now(reading: *mut Reading) -> u64 {
    // SAFETY: the helper takes no arguments and only reads the clock.
    let jiffies = unsafe { bpf_jiffies64() };
    // SAFETY: guaranteed by the caller.
    unsafe {
        if (*reading).jiffies == jiffies && (*reading).ns != 0 {
            return (*reading).ns;
        }
        let ns = bpf_ktime_get_coarse_ns();
        (*reading).jiffies = jiffies;
        (*reading).ns = ns;
        ns
    }
}
