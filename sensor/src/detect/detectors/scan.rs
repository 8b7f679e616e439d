//! Scans: one source trying one port on many hosts (horizontal), many ports on one host
//! (vertical), or echo requests to many hosts (ping sweep), within the window.

use std::collections::{HashMap, HashSet};

use serde::Deserialize;

use super::{Ctx, Detector, Window, bound, failed, uids};
use crate::detect::{Finding, Metric};

/// Which scan.
#[derive(Clone, Copy, Debug, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum Mode {
    /// One port, many hosts.
    Horizontal,
    /// One host, many ports.
    Vertical,
    /// ICMP echo or ARP requests to many hosts.
    Sweep,
}

/// `[params]`.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Params {
    /// Which scan.
    pub mode: Mode,
    /// Distinct targets in the window that make a scan.
    pub min_targets: usize,
    /// Count only failed attempts (refused, unanswered, reset).
    #[serde(default)]
    pub failed_only: bool,
}

/// The detector.
pub struct Scan {
    p: Params,
    windows: HashMap<String, Window<(String, String)>>,
}

impl Scan {
    /// A detector with `p`.
    pub fn new(p: Params) -> Self {
        Self {
            p,
            windows: HashMap::new(),
        }
    }
}

impl Detector for Scan {
    fn observe(&mut self, ctx: &Ctx<'_>) -> Vec<Finding> {
        let r = ctx.record;
        // ICMP echo requests, and ARP requests (an ARP sweep finds hosts on the local
        // link just as well).
        let echo = matches!(
            (r.proto.as_str(), r.orig_p),
            ("icmp", 8) | ("icmpv6", 128) | ("arp", 1)
        );
        let (key, target) = match self.p.mode {
            Mode::Sweep if echo => (r.orig_h.to_string(), r.resp_h.to_string()),
            Mode::Sweep => return Vec::new(),
            _ if echo || r.proto.starts_with("icmp") => return Vec::new(),
            Mode::Horizontal => (
                format!("{} {}/{}", r.orig_h, r.proto, r.resp_p),
                r.resp_h.to_string(),
            ),
            Mode::Vertical => (
                format!("{} -> {}", r.orig_h, r.resp_h),
                format!("{}/{}", r.proto, r.resp_p),
            ),
        };
        if self.p.failed_only && !failed(r) {
            return Vec::new();
        }
        bound(&mut self.windows, &key);
        let w = self.windows.entry(key.clone()).or_default();
        w.push(
            r.ts,
            (target, r.uid.clone()),
            ctx.window,
            4 * self.p.min_targets.max(64),
        );
        let targets: HashSet<&String> = w.iter().map(|(_, (t, _))| t).collect();
        let n = targets.len();
        if n < self.p.min_targets {
            return Vec::new();
        }
        let what = match self.p.mode {
            Mode::Horizontal => "hosts on one port",
            Mode::Vertical => "ports on one host",
            Mode::Sweep => "hosts pinged",
        };
        let min = self.p.min_targets as f64;
        vec![Finding {
            summary: format!(
                "{key}: {n} {what} within {}",
                humantime::format_duration(ctx.window)
            ),
            key,
            device_id: r.device_id,
            ts: r.ts,
            strength: (0.6 + 0.4 * (n as f64 - min) / min).min(1.0),
            metrics: vec![Metric::against(
                "distinct targets",
                n as f64,
                min,
                ">= min_targets",
            )],
            connections: uids(w.iter().map(|(_, (_, u))| u)),
        }]
    }
}
