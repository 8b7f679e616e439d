//! A device's activity per active hour, for the last week of hours it was active: bytes it
//! sent out, bytes it took in from outside, connections it opened. What is unusual for a
//! device is judged against its own busy hours (the 95th percentile), not an average that
//! its idle nights would drag down.

use serde::{Deserialize, Serialize};

/// Active hours kept per measure (a week of round-the-clock activity).
const HOURS_KEPT: usize = 168;
const HOUR_NS: i64 = 3_600_000_000_000;

/// What is counted per hour.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Measure {
    /// Bytes the device sent to outside endpoints.
    BytesOut,
    /// Bytes outside endpoints sent back on connections the device opened.
    BytesIn,
    /// Connections the device opened, anywhere.
    Connections,
}

impl Measure {
    /// How the measure reads in evidence.
    pub const fn label(self) -> &'static str {
        match self {
            Self::BytesOut => "bytes out",
            Self::BytesIn => "bytes in",
            Self::Connections => "connections",
        }
    }
}

/// The hourly series of one device. Field names are the saved baseline's (`out_hourly` is
/// older than the others, which a baseline saved before them lacks).
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub struct Hourly {
    #[serde(default, rename = "out_hourly")]
    bytes_out: Vec<(i64, u64)>,
    #[serde(default, rename = "in_hourly")]
    bytes_in: Vec<(i64, u64)>,
    #[serde(default, rename = "conn_hourly")]
    connections: Vec<(i64, u64)>,
}

impl Hourly {
    fn series(&self, m: Measure) -> &Vec<(i64, u64)> {
        match m {
            Measure::BytesOut => &self.bytes_out,
            Measure::BytesIn => &self.bytes_in,
            Measure::Connections => &self.connections,
        }
    }

    fn series_mut(&mut self, m: Measure) -> &mut Vec<(i64, u64)> {
        match m {
            Measure::BytesOut => &mut self.bytes_out,
            Measure::BytesIn => &mut self.bytes_in,
            Measure::Connections => &mut self.connections,
        }
    }

    /// Adds `value` to the hour of `ts_ns`.
    pub fn add(&mut self, m: Measure, ts_ns: i64, value: u64) {
        let hour = ts_ns.div_euclid(HOUR_NS);
        let series = self.series_mut(m);
        match series.last_mut() {
            Some((h, v)) if *h == hour => *v = v.saturating_add(value),
            _ => {
                series.push((hour, value));
                if series.len() > HOURS_KEPT {
                    series.remove(0);
                }
            }
        }
    }

    /// The 95th percentile of the active hours before the hour of `ts_ns`, if there are
    /// at least `min_hours` of them.
    pub fn p95(&self, m: Measure, ts_ns: i64, min_hours: usize) -> Option<f64> {
        let hour = ts_ns.div_euclid(HOUR_NS);
        let mut past: Vec<u64> = self
            .series(m)
            .iter()
            .filter(|(h, _)| *h < hour)
            .map(|(_, v)| *v)
            .collect();
        if past.is_empty() || past.len() < min_hours {
            return None;
        }
        past.sort_unstable();
        let i = ((past.len() - 1) as f64 * 0.95).round() as usize;
        Some(past[i] as f64)
    }
}

/// The bar a window's total must reach against a device's history: `ratio` times its
/// 95th-percentile hour `p95` but never below `min`, or `min_unlearned` when it has too
/// little history (`p95` is `None`). Returns the bar, the strength of `total` over it (0.6
/// at the bar, 1 at four times it) and what the bar is, for the evidence.
pub fn bar(
    p95: Option<f64>,
    ratio: f64,
    min: u64,
    min_unlearned: u64,
    total: f64,
) -> (f64, f64, &'static str) {
    match p95 {
        Some(p95) => {
            let bar = (ratio * p95).max(min as f64);
            (
                bar,
                (total / bar / 4.0).mul_add(0.4, 0.6).min(1.0),
                "the device's 95th-percentile hour times ratio",
            )
        }
        None => (
            min_unlearned as f64,
            0.6,
            "the bar for a device with too little history",
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::{HOUR_NS, Hourly, Measure};

    #[test]
    fn busy_hours_set_the_bar_and_the_current_hour_does_not_count() {
        let mut h = Hourly::default();
        for hour in 0..40 {
            let conns = if hour % 10 == 0 { 200 } else { 20 };
            h.add(Measure::Connections, hour * HOUR_NS, conns);
        }
        h.add(Measure::Connections, 40 * HOUR_NS, 5_000);
        assert_eq!(h.p95(Measure::Connections, 40 * HOUR_NS, 24), Some(200.0));
        assert_eq!(h.p95(Measure::Connections, 40 * HOUR_NS, 41), None);
        assert_eq!(h.p95(Measure::BytesIn, 40 * HOUR_NS, 1), None);
    }

    #[test]
    fn a_baseline_saved_before_the_new_measures_still_loads() {
        let h: Hourly = serde_json::from_str(r#"{"out_hourly":[[1,500]]}"#).unwrap();
        assert_eq!(h.p95(Measure::BytesOut, 2 * HOUR_NS, 1), Some(500.0));
        assert_eq!(h.p95(Measure::Connections, 2 * HOUR_NS, 1), None);
    }
}
