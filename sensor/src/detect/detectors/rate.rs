//! Rates: how much of a measure (connections opened, bytes taken in from outside) a device
//! shows within the window, against a multiple of its own busiest hours. A device that
//! suddenly opens thousands of connections (a worm, a scanner, a misbehaving updater) or
//! pulls down far more than it ever does (tools staged from the internet) stands out from
//! its own history, whatever the network around it does. A device with too little history
//! is judged on a higher absolute bar.

use std::collections::HashMap;

use serde::Deserialize;

use super::{Ctx, Detector, Window, bound, uids};
use crate::detect::{
    Finding, Metric,
    hourly::{self, Measure},
};

/// `[params]`.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Params {
    /// What is measured: `connections` or `bytes_in` (`bytes_out` is the exfiltration
    /// detector's, per endpoint).
    pub measure: Measure,
    /// The least the window must hold to be worth looking at, for a learned device.
    pub min_value: u64,
    /// What the window must hold for a device with too little history.
    pub min_value_unlearned: u64,
    /// How many times the device's 95th-percentile hour the window must hold.
    pub ratio: f64,
    /// Active hours of history the percentile needs.
    #[serde(default = "default_hours")]
    pub min_hours: usize,
}

const fn default_hours() -> usize {
    24
}

/// Records kept per device window at most.
const WINDOW_CAP: usize = 100_000;

/// The detector.
pub struct Rate {
    p: Params,
    windows: HashMap<String, Window<(u64, String)>>,
}

impl Rate {
    /// A detector with `p`.
    pub fn new(p: Params) -> Self {
        Self {
            p,
            windows: HashMap::new(),
        }
    }
}

impl Detector for Rate {
    fn observe(&mut self, ctx: &Ctx<'_>) -> Vec<Finding> {
        let r = ctx.record;
        let value = match self.p.measure {
            Measure::Connections => 1,
            Measure::BytesIn => r.resp_bytes,
            Measure::BytesOut => r.orig_bytes,
        };
        let key = r.orig_h.to_string();
        bound(&mut self.windows, &key);
        let w = self.windows.entry(key.clone()).or_default();
        w.push(r.ts, (value, r.uid.clone()), ctx.window, WINDOW_CAP);
        let total: u64 = w.iter().map(|(_, (v, _))| *v).sum();
        let p95 = r.device_id.and_then(|d| {
            ctx.baseline
                .hourly_p95(d, self.p.measure, ctx.ts_ns(), self.p.min_hours)
        });
        let (bar, strength, compared) = hourly::bar(
            p95,
            self.p.ratio,
            self.p.min_value,
            self.p.min_value_unlearned,
            total as f64,
        );
        if (total as f64) < bar {
            return Vec::new();
        }
        let label = self.p.measure.label();
        let shown = match self.p.measure {
            Measure::Connections => format!("{total} connections"),
            Measure::BytesIn | Measure::BytesOut => {
                format!("{:.1} MB ({label})", total as f64 / 1e6)
            }
        };
        vec![Finding {
            summary: format!(
                "{key}: {shown} within {}, {:.0}x its usual busiest hour",
                humantime::format_duration(ctx.window),
                p95.map_or(0.0, |p| total as f64 / p.max(1.0))
            ),
            key: format!("{key} {label}"),
            device_id: r.device_id,
            ts: r.ts,
            strength,
            metrics: vec![Metric::against(label, total as f64, bar, compared)],
            connections: uids(w.iter().map(|(_, (_, u))| u)),
        }]
    }
}

#[cfg(test)]
mod tests {
    use chrono::{DateTime, Duration, Utc};

    use super::{Params, Rate};
    use crate::{
        capture::ConnRecord,
        detect::{
            engine::{Engine, arp_record},
            hourly::Measure,
            model,
        },
    };

    /// A connection from 10.0.0.5 to one of a few internal servers.
    fn conn(ts: DateTime<Utc>, n: u32) -> ConnRecord {
        let to = format!("10.0.1.{}", 1 + n % 4).parse().unwrap();
        let mut r = arp_record(ts, "10.0.0.5".parse().unwrap(), to, Some(1));
        r.uid = format!("C{}x{n}", ts.timestamp());
        r.proto = "tcp".into();
        r.orig_p = 50_000;
        r.resp_p = 443;
        r.orig_bytes = 500;
        r.resp_bytes = 5_000;
        r.resp_pkts = 5;
        r.conn_state = "SF".into();
        r.history = "ShADadFf".into();
        r
    }

    /// Runs `per_hour` connections an hour from `from` for `hours`; returns the models that
    /// fired in the last hour.
    fn hours(e: &mut Engine, from: DateTime<Utc>, hours: i64, per_hour: u32) -> Vec<String> {
        let mut fired = Vec::new();
        for h in 0..hours {
            let start = from + Duration::hours(h);
            let batch: Vec<ConnRecord> = (0..per_hour)
                .map(|i| {
                    conn(
                        start
                            + Duration::milliseconds(
                                i64::from(i) * 3_000_000 / i64::from(per_hour).max(1),
                            ),
                        i,
                    )
                })
                .collect();
            fired = e.observe(&batch).into_iter().map(|b| b.model).collect();
        }
        fired
    }

    #[test]
    fn a_burst_of_connections_unusual_for_the_device_breaches() {
        let t0 = DateTime::from_timestamp(1_700_000_000, 0).unwrap();
        let mut e = Engine::new(
            model::load(None).unwrap(),
            vec!["10.0.0.0/8".parse().unwrap()],
        )
        .unwrap();
        // Two days of its habit: 40 connections an hour.
        let fired = hours(&mut e, t0, 48, 40);
        assert!(
            !fired.iter().any(|m| m == "unusual-connection-rate"),
            "{fired:?}"
        );
        // An hour with 1,500: over min_value and over five times its busiest hours.
        let fired = hours(&mut e, t0 + Duration::hours(48), 1, 1_500);
        assert!(
            fired.iter().any(|m| m == "unusual-connection-rate"),
            "{fired:?}"
        );
    }

    #[test]
    fn a_device_without_history_needs_the_high_bar() {
        let t0 = DateTime::from_timestamp(1_700_000_000, 0).unwrap();
        let mut e = Engine::new(
            model::load(None).unwrap(),
            vec!["10.0.0.0/8".parse().unwrap()],
        )
        .unwrap();
        let fired = hours(&mut e, t0, 1, 1_500);
        assert!(
            !fired.iter().any(|m| m == "unusual-connection-rate"),
            "{fired:?}"
        );
    }

    #[test]
    fn params_name_their_measure() {
        let p: Params = toml::from_str(
            "measure = \"connections\"\nmin_value = 1\nmin_value_unlearned = 2\nratio = 3.0",
        )
        .unwrap();
        assert_eq!(p.measure, Measure::Connections);
        let _ = Rate::new(p);
        assert!(
            toml::from_str::<Params>(
                "measure = \"packets\"\nmin_value = 1\nmin_value_unlearned = 2\nratio = 3.0"
            )
            .is_err()
        );
    }
}
