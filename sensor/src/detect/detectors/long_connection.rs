//! Long connections: one connection open for longer than a threshold (a tunnel, a C2
//! channel kept open, an unattended remote session).

use serde::Deserialize;

use super::{Ctx, Detector};
use crate::detect::{Finding, Metric};

/// `[params]`.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Params {
    /// Seconds a connection must last.
    pub min_duration_s: f64,
}

/// The detector.
pub struct LongConnection {
    p: Params,
}

impl LongConnection {
    /// A detector with `p`.
    pub fn new(p: Params) -> Self {
        Self { p }
    }
}

impl Detector for LongConnection {
    fn observe(&mut self, ctx: &Ctx<'_>) -> Vec<Finding> {
        let r = ctx.record;
        if r.duration < self.p.min_duration_s {
            return Vec::new();
        }
        let key = format!("{} -> {}:{}", r.orig_h, r.resp_h, r.resp_p);
        vec![Finding {
            summary: format!(
                "{key}: a {} connection open for {}",
                r.proto,
                humantime::format_duration(std::time::Duration::from_secs(r.duration as u64))
            ),
            key,
            device_id: r.device_id,
            ts: ctx.end(),
            strength: (0.6 + 0.4 * r.duration / (4.0 * self.p.min_duration_s)).min(1.0),
            metrics: vec![Metric::against(
                "duration (s)",
                r.duration,
                self.p.min_duration_s,
                ">= min_duration_s",
            )],
            connections: vec![r.uid.clone()],
        }]
    }

    fn judges_open(&self) -> bool {
        true
    }
}
