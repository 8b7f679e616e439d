//! "Unusual": a value a device has not shown before (once it has been learned long
//! enough), that few of its peers and few devices on the whole network show either. One
//! detector for every profiled feature: rare external endpoints, unusual ports, new inside
//! admin peers (lateral movement), rare user agents and TLS fingerprints, new DNS domains;
//! and activity at an hour the device is never active.

use serde::Deserialize;

use super::{Ctx, Detector};
use crate::detect::{Finding, Metric, baseline::Feature};

/// What is judged.
#[derive(Clone, Copy, Debug, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum What {
    /// A profiled feature.
    Feature(Feature),
    /// The hour of day.
    Hour,
}

/// `[params]`.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Params {
    /// The feature (`external_endpoint`, `admin_peer`, `port_used`, `dns_name`,
    /// `user_agent`, `ja4`) or `hour`.
    pub feature: String,
    /// How long a device must have been learned before "new for it" counts ("0s" judges
    /// from the first record, which only suits features rare on any network).
    #[serde(default = "default_learning")]
    pub learning: String,
    /// At most this many other devices on the network may have shown the value.
    #[serde(default)]
    pub max_network_devices: usize,
    /// At most this share of the device's peers may have shown it.
    #[serde(default = "default_peer_share")]
    pub max_peer_share: f64,
    /// Hour: connections the device must have made before its hours are known.
    #[serde(default = "default_hour_samples")]
    pub min_hour_samples: u32,
}

fn default_learning() -> String {
    "7d".to_owned()
}
const fn default_peer_share() -> f64 {
    0.1
}
const fn default_hour_samples() -> u32 {
    500
}

/// The detector.
pub struct Rarity {
    what: What,
    learning_ns: i64,
    p: Params,
}

impl Rarity {
    /// A detector with `p`, or what is wrong with them.
    pub fn new(p: Params) -> Result<Self, String> {
        let what = if p.feature == "hour" {
            What::Hour
        } else {
            What::Feature(
                serde_json::from_value::<Feature>(serde_json::Value::String(p.feature.clone()))
                    .map_err(|_| {
                        format!(
                            "unknown feature {:?} (external_endpoint, admin_peer, port_used, \
                             dns_name, user_agent, ja4 or hour)",
                            p.feature
                        )
                    })?,
            )
        };
        let learning_ns = humantime::parse_duration(&p.learning)
            .map_err(|e| format!("learning {:?}: {e}", p.learning))?
            .as_nanos() as i64;
        Ok(Self {
            what,
            learning_ns,
            p,
        })
    }
}

impl Detector for Rarity {
    fn observe(&mut self, ctx: &Ctx<'_>) -> Vec<Finding> {
        let r = ctx.record;
        // A service belongs to the responder; everything else to the originator.
        let served = self.what == What::Feature(Feature::PortServed);
        let owner = if served {
            ctx.baseline.holder(r.resp_h)
        } else {
            r.device_id
        };
        let Some(device) = owner else {
            return Vec::new();
        };
        let host = if served { r.resp_h } else { r.orig_h };
        let ts = ctx.ts_ns();
        let b = ctx.baseline;
        let learned = b.learned_ns(device, ts);
        if learned < self.learning_ns {
            return Vec::new();
        }
        let learned_for = humantime::format_duration(std::time::Duration::from_secs(
            (learned / 1_000_000_000) as u64,
        ));
        match self.what {
            What::Hour => {
                use chrono::Timelike as _;
                let Some(p) = b.device(device) else {
                    return Vec::new();
                };
                let total: u32 = p.hours.iter().sum();
                let hour = r.ts.hour() as usize;
                if total < self.p.min_hour_samples || p.hours[hour] > 0 {
                    return Vec::new();
                }
                vec![Finding {
                    key: format!("{} hour {hour:02}", r.orig_h),
                    device_id: Some(device),
                    ts: r.ts,
                    strength: 1.0,
                    summary: format!(
                        "{} active at {hour:02}:00 UTC, an hour it never used in {learned_for} \
                         ({total} connections learned)",
                        r.orig_h
                    ),
                    metrics: vec![Metric::against(
                        "connections in this hour",
                        0.0,
                        f64::from(total),
                        "of all learned connections",
                    )],
                    connections: vec![r.uid.clone()],
                }]
            }
            What::Feature(feature) => {
                let Some(value) = ctx
                    .features
                    .iter()
                    .find(|(f, _)| *f == feature)
                    .map(|(_, v)| v.clone())
                else {
                    return Vec::new();
                };
                if b.device_count(device, feature, &value, ts) > 0.0 {
                    return Vec::new();
                }
                let network = b.network_devices(feature, &value, device);
                if network > self.p.max_network_devices {
                    return Vec::new();
                }
                let (peers_with, peers) = b.peers_with(device, feature, &value);
                let share = if peers == 0 {
                    0.0
                } else {
                    peers_with as f64 / peers as f64
                };
                if share > self.p.max_peer_share {
                    return Vec::new();
                }
                let total = b.device_count_total().max(1);
                let summary = if served {
                    format!(
                        "{host} serves {value} (to {}): new for this device (learned for \
                         {learned_for}), served by {peers_with} of {peers} peers and {network} \
                         other devices",
                        r.orig_h
                    )
                } else {
                    format!(
                        "{host} -> {value}: new for this device (learned for {learned_for}), \
                         seen by {peers_with} of {peers} peers and {network} other devices"
                    )
                };
                vec![Finding {
                    key: format!("{host} {value}"),
                    device_id: Some(device),
                    ts: r.ts,
                    strength: (1.0 - network as f64 / (self.p.max_network_devices + 1) as f64)
                        .mul_add(0.4, 0.6 - 0.2 * share),
                    summary,
                    metrics: vec![
                        Metric::against("times this device showed it", 0.0, 0.0, "never before"),
                        Metric::against(
                            "peers that showed it",
                            peers_with as f64,
                            peers as f64,
                            &format!("share <= {}", self.p.max_peer_share),
                        ),
                        Metric::against(
                            "devices on the network that showed it",
                            network as f64,
                            total as f64,
                            &format!("<= {}", self.p.max_network_devices),
                        ),
                    ],
                    connections: vec![r.uid.clone()],
                }]
            }
        }
    }
}
