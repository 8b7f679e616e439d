//! Combined models: an EDR alert and a network breach on the same device (or, with
//! `network_peer`, reaching it) within a window,
//! in the same TOML format as the network models (`detector = "combined"`):
//!
//! ```toml
//! name = "edr-credential-access-lateral"
//! version = 1
//! description = "Credential dumping on a device that then moves laterally."
//! detector = "combined"
//! score = 90
//! window = "24h"         # the alert and the breach at most this far apart
//! throttle = "24h"       # at most one breach per device per this long
//!
//! [params]
//! edr_tactics = ["credential access"]     # any if empty; case, spaces and dashes ignored
//! edr_unusual = false                     # only alerts that surfaced as unusual
//! edr_min_severity = 0                    # the vendor's severity, 0-100
//! network_models = ["lateral-movement"]   # any network model if empty
//! network_min_score = 0
//! network_peer = false                    # also breaches whose connections reach the device
//! ```

use serde::Deserialize;

use crate::{
    detect::{
        Breach, Evidence, Metric,
        model::{Model, ModelError},
    },
    edr::alert::tactic_key,
    store::edr::StoredAlert,
};

/// The detector name of combined models.
pub const DETECTOR: &str = "combined";

/// `[params]`.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Params {
    /// Alerts with one of these MITRE tactics; any if empty.
    #[serde(default)]
    pub edr_tactics: Vec<String>,
    /// Only alerts that surfaced as unusual.
    #[serde(default)]
    pub edr_unusual: bool,
    /// Only alerts of at least this vendor severity.
    #[serde(default)]
    pub edr_min_severity: u8,
    /// Breaches of these network models; any network model's if empty.
    #[serde(default)]
    pub network_models: Vec<String>,
    /// Only breaches of at least this score.
    #[serde(default)]
    pub network_min_score: u8,
    /// Also breaches of other devices whose connections reach the alert's device (see
    /// [`super::peers`]).
    #[serde(default)]
    pub network_peer: bool,
}

/// A combined model, ready to match.
#[derive(Clone, Debug)]
pub struct Combined {
    /// The model.
    pub model: Model,
    /// Its parameters, tactics normalized.
    pub params: Params,
}

impl Combined {
    /// The combined model `model`, if it is one.
    pub fn from_model(model: &Model) -> Result<Option<Self>, ModelError> {
        if model.detector != DETECTOR {
            return Ok(None);
        }
        let mut params: Params = crate::detect::detectors::params(model)?;
        params.edr_tactics = params.edr_tactics.iter().map(|t| tactic_key(t)).collect();
        Ok(Some(Self {
            model: model.clone(),
            params,
        }))
    }

    /// Whether alert `a` is one this model combines.
    pub fn admits_alert(&self, a: &StoredAlert) -> bool {
        let p = &self.params;
        a.joined.device_id.is_some()
            && a.alert.severity >= p.edr_min_severity
            && (!p.edr_unusual || a.rarity.as_ref().is_some_and(|r| r.surfaced))
            && (p.edr_tactics.is_empty()
                || a.alert
                    .tactic
                    .as_deref()
                    .is_some_and(|t| p.edr_tactics.contains(&tactic_key(t))))
    }

    /// Whether breach `b` (of a network model, not a combined one) is one this model
    /// combines.
    pub fn admits_breach(&self, b: &Breach) -> bool {
        let p = &self.params;
        b.device_id.is_some()
            && b.score >= p.network_min_score
            && (p.network_models.is_empty() || p.network_models.contains(&b.model))
    }

    /// The breach of this model for `a` and `b`.
    pub fn breach(&self, a: &StoredAlert, b: &Breach) -> Breach {
        let gap_min = (a.alert.detected - b.ts).num_seconds().abs() as f64 / 60.0;
        let mut metrics = vec![
            Metric::against(
                "minutes between the alert and the breach",
                gap_min,
                self.model.window.as_secs_f64() / 60.0,
                "<= window",
            ),
            Metric::against(
                "EDR severity",
                f64::from(a.alert.severity),
                f64::from(self.params.edr_min_severity),
                ">= edr_min_severity",
            ),
            Metric::against(
                "breach score",
                f64::from(b.score),
                f64::from(self.params.network_min_score),
                ">= network_min_score",
            ),
        ];
        if let Some(r) = &a.rarity {
            metrics.push(Metric {
                name: "EDR alert rarity".to_owned(),
                observed: f64::from(r.score),
                baseline: None,
                comparison: r.reason.clone(),
            });
        }
        Breach {
            id: 0,
            model: self.model.name.clone(),
            model_version: self.model.version,
            device_id: a.joined.device_id,
            ts: a.alert.detected.max(b.ts),
            score: self.model.score,
            evidence: Evidence {
                key: format!("edr alert {} + breach {}", a.id, b.id),
                summary: format!(
                    "{} alert \"{}\" (EDR alert #{}) and network breach {} (#{}, score {}) \
                     {:.0} minutes apart",
                    a.alert.vendor.as_str(),
                    a.alert.title,
                    a.id,
                    b.model,
                    b.id,
                    b.score,
                    gap_min
                ),
                metrics,
                connections: b.evidence.connections.clone(),
            },
        }
    }
}
