//! Brute force: many short connections from one source to one login service (SSH, RDP,
//! FTP, SMB, Kerberos) within the window, most of them the same size: failed logins look
//! alike byte for byte, where real sessions (or automation doing work) vary.

use std::collections::HashMap;

use serde::Deserialize;

use super::{Ctx, Detector, Window, bound, uids};
use crate::detect::{Finding, Metric};

/// `[params]`.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Params {
    /// Attempts in the window that make a brute force.
    pub min_attempts: usize,
    /// Connections longer than this (seconds) are sessions, not attempts.
    #[serde(default = "default_max_duration")]
    pub max_duration_s: f64,
    /// Share of the attempts whose bytes sent are within 10% of the median.
    #[serde(default = "default_alike")]
    pub min_alike_share: f64,
}

const fn default_alike() -> f64 {
    0.6
}

const fn default_max_duration() -> f64 {
    30.0
}

/// The detector.
pub struct BruteForce {
    p: Params,
    windows: HashMap<String, Window<(u64, String)>>,
}

impl BruteForce {
    /// A detector with `p`.
    pub fn new(p: Params) -> Self {
        Self {
            p,
            windows: HashMap::new(),
        }
    }
}

impl Detector for BruteForce {
    fn observe(&mut self, ctx: &Ctx<'_>) -> Vec<Finding> {
        let r = ctx.record;
        if r.duration > self.p.max_duration_s {
            return Vec::new();
        }
        let key = format!("{} -> {}:{}", r.orig_h, r.resp_h, r.resp_p);
        bound(&mut self.windows, &key);
        let w = self.windows.entry(key.clone()).or_default();
        w.push(
            r.ts,
            (r.orig_bytes, r.uid.clone()),
            ctx.window,
            4 * self.p.min_attempts.max(64),
        );
        let n = w.len();
        if n < self.p.min_attempts {
            return Vec::new();
        }
        let mut sizes: Vec<u64> = w.iter().map(|(_, (b, _))| *b).collect();
        sizes.sort_unstable();
        let median = sizes[sizes.len() / 2] as f64;
        let alike = sizes
            .iter()
            .filter(|b| (**b as f64 - median).abs() <= 0.1 * median.max(1.0))
            .count() as f64
            / n as f64;
        if alike < self.p.min_alike_share {
            return Vec::new();
        }
        let min = self.p.min_attempts as f64;
        let service = r
            .app
            .service
            .clone()
            .unwrap_or_else(|| format!("{}/{}", r.proto, r.resp_p));
        vec![Finding {
            summary: format!(
                "{key}: {n} short {service} connections within {}",
                humantime::format_duration(ctx.window)
            ),
            key,
            device_id: r.device_id,
            ts: r.ts,
            strength: (0.6 + 0.4 * (n as f64 - min) / (2.0 * min)).min(1.0),
            metrics: vec![
                Metric::against("attempts", n as f64, min, ">= min_attempts"),
                Metric::against(
                    "share of attempts alike in size",
                    alike,
                    self.p.min_alike_share,
                    ">= min_alike_share",
                ),
            ],
            connections: uids(w.iter().map(|(_, (_, u))| u)),
        }]
    }
}
