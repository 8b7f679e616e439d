//! Detection: models over connection records, on the records' own clock (so a replayed
//! capture is judged on its time, not the replay's), against learned baselines; breaches
//! with the evidence that explains them.
//!
//! # Layout
//! - [`model`]: the declarative model format and the shipped models.
//! - [`baseline`]: what each device, its peers and the whole network usually do.
//! - [`hourly`]: a device's bytes out, bytes in and connections per active hour.
//! - [`detectors`]: the built-in detectors models name.
//! - [`engine`]: records in, breaches out (filters, throttles, scores, device risk).
//! - [`arp`]: ARP requests as pseudo-records, for the scan models.
//! - [`beacon_score`]: the beaconing score and its sub-scores.

pub mod arp;
pub mod baseline;
pub mod beacon_score;
pub mod detectors;
pub mod engine;
pub mod hourly;
pub mod model;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

pub use engine::Engine;

/// One number of the evidence: what was observed and what it was compared with.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Metric {
    /// What was measured.
    pub name: String,
    /// Its value.
    pub observed: f64,
    /// The value it was compared with (a threshold, a baseline percentile), if any.
    pub baseline: Option<f64>,
    /// How they compare, in words (`>= threshold`, `seen by 0 of 14 devices`).
    pub comparison: String,
}

impl Metric {
    /// A metric compared with a threshold.
    pub fn against(name: &str, observed: f64, baseline: f64, comparison: &str) -> Self {
        Self {
            name: name.to_owned(),
            observed,
            baseline: Some(baseline),
            comparison: comparison.to_owned(),
        }
    }
}

/// What a detector found, before the engine scores and throttles it.
#[derive(Clone, Debug, PartialEq)]
pub struct Finding {
    /// What it is about (the throttle key): e.g. `10.0.0.5 -> 198.51.100.7`.
    pub key: String,
    /// The device, if the records name one.
    pub device_id: Option<i64>,
    /// When (the latest record's time).
    pub ts: DateTime<Utc>,
    /// How strong the case is, 0-1; the model's score is scaled by it.
    pub strength: f64,
    /// One line for people.
    pub summary: String,
    /// The numbers.
    pub metrics: Vec<Metric>,
    /// The connection records involved (uids), newest last, capped.
    pub connections: Vec<String>,
}

/// The evidence stored with a breach.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Evidence {
    /// What it is about.
    pub key: String,
    /// One line for people.
    pub summary: String,
    /// The numbers.
    pub metrics: Vec<Metric>,
    /// The connection records involved.
    pub connections: Vec<String>,
}

/// A model breach.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Breach {
    /// Its id in the store (0 before it is stored).
    pub id: i64,
    /// The model.
    pub model: String,
    /// The model's version.
    pub model_version: u32,
    /// The device.
    pub device_id: Option<i64>,
    /// When.
    pub ts: DateTime<Utc>,
    /// 0-100.
    pub score: u8,
    /// Why.
    pub evidence: Evidence,
}

/// Most connection uids kept as evidence.
pub const MAX_EVIDENCE_CONNECTIONS: usize = 50;

/// A device's risk from its breaches' scores: the strongest counts fully, the next ones
/// less and less (`score_i / i^1.5`, sorted strongest first), capped at 100. Many weak
/// breaches cannot outweigh one strong one by much: 1 + 1/2.8 + 1/5.2 + ... converges
/// to about 2.6 times the weakest score.
pub fn device_risk(scores: &[u8]) -> u8 {
    let mut sorted: Vec<f64> = scores.iter().map(|s| f64::from(*s)).collect();
    sorted.sort_by(|a, b| b.total_cmp(a));
    let sum: f64 = sorted
        .iter()
        .enumerate()
        .map(|(i, s)| s / ((i + 1) as f64).powf(1.5))
        .sum();
    sum.min(100.0).round() as u8
}

#[cfg(test)]
mod tests {
    use super::device_risk;

    #[test]
    fn many_weak_breaches_do_not_outweigh_a_strong_one() {
        assert_eq!(device_risk(&[]), 0);
        assert_eq!(device_risk(&[80]), 80);
        let weak = device_risk(&[20; 50]);
        assert!(weak < 55, "fifty weak breaches give {weak}");
        assert!(device_risk(&[90, 20]) > device_risk(&[90]));
    }
}
