//! Beaconing: a device connecting to the same address (or host name: TLS server name,
//! HTTP host) at regular intervals with regular sizes, scored as in
//! [`crate::detect::beacon_score`].

use std::collections::HashMap;

use serde::Deserialize;

use super::{Ctx, Detector, Window, bound, uids};
use crate::detect::{Finding, Metric, beacon_score};

/// What a beacon is keyed on.
#[derive(Clone, Copy, Debug, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum Key {
    /// The responder's address.
    Address,
    /// The TLS server name or HTTP host.
    Hostname,
}

/// `[params]`.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Params {
    /// What to key on.
    pub key: Key,
    /// Connections before a pair is scored.
    pub min_connections: usize,
    /// Score (0-1) at or above which it is a beacon.
    pub threshold: f64,
    /// Shortest median interval (seconds) worth calling a beacon: faster is a stream.
    #[serde(default = "default_min_interval")]
    pub min_interval_s: f64,
    /// Lowest interval regularity (0-1) worth calling a beacon, whatever the other
    /// sub-scores: a beacon keeps its rhythm (even a 50% jitter scores about 0.87), while
    /// people visiting a site now and then, all day, fill the hours and last the whole
    /// observation but come at no rhythm.
    #[serde(default)]
    pub min_interval_regularity: f64,
}

const fn default_min_interval() -> f64 {
    1.0
}

/// Connections kept per pair.
const CAP: usize = 2_000;

/// The detector.
pub struct Beacon {
    p: Params,
    windows: HashMap<String, Window<(f64, String)>>,
}

impl Beacon {
    /// A detector with `p`.
    pub fn new(p: Params) -> Self {
        Self {
            p,
            windows: HashMap::new(),
        }
    }
}

impl Detector for Beacon {
    #[expect(
        clippy::many_single_char_names,
        reason = "r, w, n, s, m read like the maths"
    )]
    fn observe(&mut self, ctx: &Ctx<'_>) -> Vec<Finding> {
        let r = ctx.record;
        if crate::detect::baseline::is_group(r.resp_h) {
            return Vec::new();
        }
        let target = match self.p.key {
            Key::Address => r.resp_h.to_string(),
            Key::Hostname => {
                let tls = r.app.tls.as_ref().and_then(|t| t.sni.clone());
                let http = r.app.http.as_ref().and_then(|h| h.host.clone());
                match tls.or(http) {
                    Some(h) => h.to_ascii_lowercase(),
                    None => return Vec::new(),
                }
            }
        };
        let key = format!("{} -> {target}", r.orig_h);
        bound(&mut self.windows, &key);
        let w = self.windows.entry(key.clone()).or_default();
        w.push(r.ts, (r.orig_bytes as f64, r.uid.clone()), ctx.window, CAP);
        let n = w.len();
        // Score at the threshold count, then every time the count grows by a quarter.
        if n < self.p.min_connections
            || (n > self.p.min_connections && !n.is_multiple_of((n / 4).max(1)))
        {
            return Vec::new();
        }
        let t0 = w.iter().map(|(t, _)| *t).min().unwrap_or(r.ts);
        let times: Vec<f64> = w
            .iter()
            .map(|(t, _)| (*t - t0).num_milliseconds() as f64 / 1000.0)
            .collect();
        let sizes: Vec<f64> = w.iter().map(|(_, (b, _))| *b).collect();
        let observed = ctx.observed_s.min(ctx.window.as_secs_f64());
        let Some(s) = beacon_score::score(&times, &sizes, observed) else {
            return Vec::new();
        };
        if s.score < self.p.threshold
            || s.median_interval_s < self.p.min_interval_s
            || s.interval < self.p.min_interval_regularity
        {
            return Vec::new();
        }
        let m = |name: &str, v: f64| Metric::against(name, v, 1.0, "1 is perfectly regular");
        vec![Finding {
            summary: format!(
                "{key}: {n} connections about every {:.0}s (beacon score {:.2})",
                s.median_interval_s, s.score
            ),
            key,
            device_id: r.device_id,
            ts: r.ts,
            strength: ((s.score - self.p.threshold) / (1.0 - self.p.threshold).max(0.01))
                .mul_add(0.4, 0.6)
                .min(1.0),
            metrics: vec![
                Metric::against("beacon score", s.score, self.p.threshold, ">= threshold"),
                m("interval regularity", s.interval),
                m("size regularity", s.size),
                Metric::against(
                    "hourly spread",
                    s.histogram,
                    1.0,
                    "share of the span's slices used",
                ),
                Metric::against(
                    "duration",
                    s.duration,
                    1.0,
                    "share of the observation spanned",
                ),
                Metric::against(
                    "median interval (s)",
                    s.median_interval_s,
                    self.p.min_interval_s,
                    ">= min_interval_s",
                ),
                Metric::against(
                    "connections",
                    n as f64,
                    self.p.min_connections as f64,
                    ">= min_connections",
                ),
            ],
            connections: uids(w.iter().map(|(_, (_, u))| u)),
        }]
    }
}
