//! Kernel monotonic time to wall-clock UTC.
//!
//! The XDP program stamps flows with `bpf_ktime_get_coarse_ns`, which counts
//! `CLOCK_MONOTONIC` (coarse) nanoseconds since boot. The agent converts such stamps to UTC
//! here and nowhere else, using the offset between `CLOCK_REALTIME` and `CLOCK_MONOTONIC`
//! sampled once when the [`Clock`] is made.

use chrono::{DateTime, Utc};
use nix::time::{ClockId, clock_gettime};

/// Converts kernel monotonic nanoseconds to UTC.
#[derive(Clone, Copy, Debug)]
pub struct Clock {
    /// `CLOCK_REALTIME - CLOCK_MONOTONIC`, in ns.
    offset_ns: i128,
}

impl Clock {
    /// Samples the clocks now. The monotonic clock is read on both sides of the real-time
    /// read and the midpoint taken, so the offset is good to well under a millisecond.
    pub fn new() -> Result<Self, nix::Error> {
        let before = ns(ClockId::CLOCK_MONOTONIC)?;
        let real = ns(ClockId::CLOCK_REALTIME)?;
        let after = ns(ClockId::CLOCK_MONOTONIC)?;
        Ok(Self::from_offset(real - i128::midpoint(before, after)))
    }

    /// A clock with a given offset, for tests and replays.
    pub const fn from_offset(offset_ns: i128) -> Self {
        Self { offset_ns }
    }

    /// The UTC time of a kernel monotonic timestamp.
    pub fn to_utc(&self, monotonic_ns: u64) -> DateTime<Utc> {
        let real = i128::from(monotonic_ns) + self.offset_ns;
        let real = i64::try_from(real).unwrap_or(i64::MAX);
        DateTime::from_timestamp_nanos(real)
    }

    /// The kernel monotonic time now, in ns.
    pub fn monotonic_now() -> Result<u64, nix::Error> {
        Ok(u64::try_from(ns(ClockId::CLOCK_MONOTONIC)?).unwrap_or(0))
    }
}

fn ns(clock: ClockId) -> Result<i128, nix::Error> {
    let ts = clock_gettime(clock)?;
    Ok(i128::from(ts.tv_sec()) * 1_000_000_000 + i128::from(ts.tv_nsec()))
}

#[cfg(test)]
mod tests {
    use super::Clock;

    #[test]
    fn offset_is_applied() {
        let clock = Clock::from_offset(1_700_000_000_000_000_000);
        assert_eq!(clock.to_utc(5_000_000_000).timestamp(), 1_700_000_005);
    }

    #[test]
    fn now_converts_to_about_now() {
        let clock = Clock::new().unwrap();
        let mono = Clock::monotonic_now().unwrap();
        let drift = (clock.to_utc(mono) - chrono::Utc::now())
            .num_milliseconds()
            .abs();
        assert!(drift < 1000, "converted time is {drift} ms off");
    }
}
