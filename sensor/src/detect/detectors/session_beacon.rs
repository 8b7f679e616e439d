//! Beaconing inside one connection: an implant that keeps a single connection open (HTTP
//! keep-alive polling, a raw TCP session with a heartbeat) opens no new connections to
//! time, so the beacon models that score a pair's connections never see it. The kernel
//! counts such a connection's bursts (packets after a second or more of silence) and keeps
//! the latest silences; a steady rhythm of them is the beacon. Steady means a low
//! coefficient of variation (standard deviation over mean) of the silences: a timer with
//! up to 50% uniform jitter stays under 0.3, while people and other irregular activity,
//! arriving at random, sit near 1. Outside, only endpoints few other devices use count:
//! push services and shared APIs keep alive the same way for everyone.

use serde::Deserialize;

use super::{Ctx, Detector};
use crate::detect::{Finding, Metric, baseline::Feature, beacon_score};

/// `[params]`.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Params {
    /// Bursts the connection must have had.
    pub min_bursts: u32,
    /// Coefficient of variation of the silences at or below which it is a beacon.
    pub max_variation: f64,
    /// Shortest median silence (seconds) worth calling a beacon: faster is someone typing.
    pub min_interval_s: f64,
    /// At most this many other devices may use an outside endpoint.
    #[serde(default = "default_network")]
    pub max_network_devices: usize,
}

const fn default_network() -> usize {
    1
}

/// Silences the score needs at least.
const MIN_GAPS: usize = 4;

/// The detector.
pub struct SessionBeacon {
    p: Params,
}

impl SessionBeacon {
    /// A detector with `p`.
    pub fn new(p: Params) -> Self {
        Self { p }
    }
}

impl Detector for SessionBeacon {
    fn observe(&mut self, ctx: &Ctx<'_>) -> Vec<Finding> {
        let r = ctx.record;
        let gaps = &r.rhythm.gaps_s;
        if r.rhythm.bursts < self.p.min_bursts || gaps.len() < MIN_GAPS {
            return Vec::new();
        }
        let mut sorted = gaps.clone();
        sorted.sort_by(f64::total_cmp);
        let median = beacon_score::quantile(&sorted, 0.5);
        if median < self.p.min_interval_s {
            return Vec::new();
        }
        let mean = gaps.iter().sum::<f64>() / gaps.len() as f64;
        let variance = gaps.iter().map(|g| (g - mean).powi(2)).sum::<f64>() / gaps.len() as f64;
        let variation = variance.sqrt() / mean.max(f64::EPSILON);
        if variation > self.p.max_variation {
            return Vec::new();
        }
        let device = r.device_id.unwrap_or(-1);
        let network = if ctx.resp_inside {
            0
        } else {
            ctx.baseline
                .network_devices(Feature::ExternalEndpoint, &r.resp_h.to_string(), device)
        };
        if network > self.p.max_network_devices {
            return Vec::new();
        }
        vec![Finding {
            key: format!("{} -> {}:{}", r.orig_h, r.resp_h, r.resp_p),
            device_id: r.device_id,
            ts: r.ts,
            strength: (1.0 - variation).clamp(0.5, 1.0),
            summary: format!(
                "{} -> {}:{} held one connection for {:.0} s and woke {} times, every {:.0} s \
                 (variation {:.2})",
                r.orig_h, r.resp_h, r.resp_p, r.duration, r.rhythm.bursts, median, variation
            ),
            metrics: vec![
                Metric::against(
                    "variation of the silences",
                    variation,
                    self.p.max_variation,
                    "<= max_variation",
                ),
                Metric::against(
                    "bursts",
                    f64::from(r.rhythm.bursts),
                    f64::from(self.p.min_bursts),
                    "min_bursts",
                ),
                Metric::against(
                    "median interval (s)",
                    median,
                    self.p.min_interval_s,
                    "min_interval_s",
                ),
            ],
            connections: vec![r.uid.clone()],
        }]
    }

    fn judges_open(&self) -> bool {
        true
    }
}

#[cfg(test)]
mod tests {
    use chrono::DateTime;

    use crate::{
        capture::conn_record::Rhythm,
        detect::{engine::Engine, model},
    };

    fn record(gaps: &[f64], to: &str) -> crate::capture::ConnRecord {
        let ts = DateTime::from_timestamp(1_700_000_000, 0).unwrap();
        let mut r = crate::detect::engine::arp_record(
            ts,
            "10.0.0.5".parse().unwrap(),
            to.parse().unwrap(),
            Some(1),
        );
        r.uid = "Cheld".into();
        r.proto = "tcp".into();
        r.orig_p = 50_000;
        r.resp_p = 443;
        r.resp_pkts = 100;
        r.conn_state = "SF".into();
        r.history = "ShADadFf".into();
        r.duration = gaps.iter().sum();
        r.rhythm = Rhythm {
            bursts: 40,
            gaps_s: gaps.to_vec(),
        };
        r
    }

    fn engine() -> Engine {
        Engine::new(
            model::load(None).unwrap(),
            vec!["10.0.0.0/8".parse().unwrap()],
        )
        .unwrap()
    }

    fn held(gaps: &[f64], to: &str) -> Vec<String> {
        let r = record(gaps, to);
        engine()
            .observe(&[r])
            .into_iter()
            .map(|b| b.model)
            .collect()
    }

    /// A connection still open is judged on its rhythm so far, by the models of one
    /// connection only, and its final record does not raise the same breach again.
    #[test]
    fn a_held_connection_is_judged_while_open_and_once() {
        let mut e = engine();
        let mut open = record(&[20.1; 8], "203.0.113.9");
        // Also a tool's user agent, which only a finished record's models judge.
        open.app.http = Some(crate::capture::protocols::http::Http {
            method: "POST".into(),
            uri: "/beacon".into(),
            user_agent: Some("curl/8.0".into()),
            ..Default::default()
        });
        let fired: Vec<String> = e
            .observe_open(std::slice::from_ref(&open))
            .into_iter()
            .map(|b| b.model)
            .collect();
        assert_eq!(fired, ["beacon-in-connection"]);
        let fired: Vec<String> = e.observe(&[open]).into_iter().map(|b| b.model).collect();
        assert!(
            !fired.contains(&"beacon-in-connection".to_owned()),
            "{fired:?}"
        );
        assert!(fired.contains(&"tool-user-agent".to_owned()), "{fired:?}");
    }

    #[test]
    fn a_jittered_timer_inside_one_connection_is_a_beacon() {
        let jittered = [60.0, 59.0, 38.0, 60.0, 55.0, 56.0, 33.0, 36.0];
        assert!(held(&jittered, "203.0.113.9").contains(&"beacon-in-connection".to_owned()));
        let steady = [20.1; 8];
        assert!(held(&steady, "10.0.9.9").contains(&"beacon-in-connection".to_owned()));
    }

    #[test]
    fn irregular_or_fast_activity_is_not() {
        // Someone at a keyboard, now and then: silences of very different lengths.
        let random = [3.0, 41.0, 7.5, 120.0, 1.2, 16.0, 64.0, 2.5];
        assert!(!held(&random, "203.0.113.9").contains(&"beacon-in-connection".to_owned()));
        // A steady stream of second-long pauses is a stream, not a beacon.
        let fast = [1.1; 8];
        assert!(!held(&fast, "203.0.113.9").contains(&"beacon-in-connection".to_owned()));
    }
}
