//! Exfiltration: bytes a device sends to one outside endpoint within the window, unusual
//! for the device (a multiple of its usual busiest hours) and to an endpoint few other
//! devices use. A device with too little history is judged on a higher absolute bar.

use std::collections::HashMap;

use serde::Deserialize;

use super::{Ctx, Detector, Window, bound, uids};
use crate::detect::{
    Finding, Metric,
    baseline::Feature,
    hourly::{self, Measure},
};

/// `[params]`.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Params {
    /// Bytes out in the window worth looking at, for a learned device.
    pub min_bytes: u64,
    /// Bytes out in the window that are a breach for a device with too little history.
    pub min_bytes_unlearned: u64,
    /// How many times the device's 95th-percentile hour the window must hold.
    pub ratio: f64,
    /// Active hours of history the percentile needs.
    #[serde(default = "default_hours")]
    pub min_hours: usize,
    /// At most this many other devices may use the endpoint.
    #[serde(default = "default_network")]
    pub max_network_devices: usize,
}

const fn default_hours() -> usize {
    24
}
const fn default_network() -> usize {
    1
}

/// The detector.
pub struct Volume {
    p: Params,
    windows: HashMap<String, Window<(u64, String)>>,
}

impl Volume {
    /// A detector with `p`.
    pub fn new(p: Params) -> Self {
        Self {
            p,
            windows: HashMap::new(),
        }
    }
}

impl Detector for Volume {
    fn observe(&mut self, ctx: &Ctx<'_>) -> Vec<Finding> {
        let r = ctx.record;
        let key = format!("{} -> {}", r.orig_h, r.resp_h);
        bound(&mut self.windows, &key);
        let w = self.windows.entry(key.clone()).or_default();
        w.push(r.ts, (r.orig_bytes, r.uid.clone()), ctx.window, 10_000);
        let sent: u64 = w.iter().map(|(_, (b, _))| *b).sum();
        let ts = ctx.ts_ns();
        let device = r.device_id.unwrap_or(-1);
        let network =
            ctx.baseline
                .network_devices(Feature::ExternalEndpoint, &r.resp_h.to_string(), device);
        if network > self.p.max_network_devices {
            return Vec::new();
        }
        let p95 = r.device_id.and_then(|d| {
            ctx.baseline
                .hourly_p95(d, Measure::BytesOut, ts, self.p.min_hours)
        });
        let (bar, strength, compared) = hourly::bar(
            p95,
            self.p.ratio,
            self.p.min_bytes,
            self.p.min_bytes_unlearned,
            sent as f64,
        );
        if (sent as f64) < bar {
            return Vec::new();
        }
        vec![Finding {
            summary: format!(
                "{key}: {:.1} MB out within {} to an endpoint {network} other devices use",
                sent as f64 / 1e6,
                humantime::format_duration(ctx.window)
            ),
            key,
            device_id: r.device_id,
            ts: r.ts,
            strength,
            metrics: vec![
                Metric::against("bytes out", sent as f64, bar, compared),
                Metric::against(
                    "other devices using the endpoint",
                    network as f64,
                    self.p.max_network_devices as f64,
                    "<= max_network_devices",
                ),
            ],
            connections: uids(w.iter().map(|(_, (_, u))| u)),
        }]
    }
}
