//! What a policy reacts to: an EDR alert, a breach or an incident, with the device it is
//! about, when, and whether a policy's `when` admits it.

use std::net::IpAddr;

use chrono::{DateTime, Duration, Utc};

use super::config::{On, Policy};
use crate::{
    detect::Breach,
    edr::alert::tactic_key,
    investigate::incident::Incident,
    store::{Store, StoreError, edr::StoredAlert},
};

/// How far around an EDR alert a breach on the same device counts as its network evidence.
pub const EVIDENCE_WINDOW: Duration = Duration::hours(1);

/// A trigger.
#[derive(Clone, Debug)]
pub enum Trigger {
    /// An EDR alert.
    Alert(Box<StoredAlert>),
    /// A breach.
    Breach(Breach),
    /// An incident.
    Incident(Box<Incident>),
}

impl Trigger {
    /// The device it is about.
    pub fn device(&self) -> Option<i64> {
        match self {
            Self::Alert(a) => a.joined.device_id,
            Self::Breach(b) => b.device_id,
            Self::Incident(i) => i.devices.iter().find(|d| d.origin).map(|d| d.id),
        }
    }

    /// When it happened.
    pub fn at(&self) -> DateTime<Utc> {
        match self {
            Self::Alert(a) => a.alert.detected,
            Self::Breach(b) => b.ts,
            Self::Incident(i) => i.last,
        }
    }

    /// One line for the action's `why` and the audit log.
    pub fn describe(&self) -> String {
        match self {
            Self::Alert(a) => format!(
                "{} alert #{} \"{}\" (severity {}{})",
                a.alert.vendor.as_str(),
                a.id,
                a.alert.title,
                a.alert.severity,
                a.rarity
                    .as_ref()
                    .filter(|r| r.surfaced)
                    .map_or(String::new(), |r| format!(", unusual {}", r.score))
            ),
            Self::Breach(b) => format!(
                "breach #{} {} (score {}): {}",
                b.id, b.model, b.score, b.evidence.summary
            ),
            Self::Incident(i) => format!("incident #{} ({}): {}", i.id, i.score, i.title),
        }
    }

    /// Whether `p`'s `when` and scope admit it (`addrs`: the device's addresses).
    pub fn admitted_by(
        &self,
        p: &Policy,
        addrs: &[IpAddr],
        store: &mut Store,
    ) -> Result<bool, StoreError> {
        let w = &p.when;
        if !p.scope.is_empty() && !addrs.iter().any(|a| p.scope.iter().any(|n| n.contains(a))) {
            return Ok(false);
        }
        if !w.tags.is_empty() {
            let tags = match self.device() {
                Some(d) => store.device_tags(d)?,
                None => Vec::new(),
            };
            if !w.tags.iter().any(|t| tags.contains(t)) {
                return Ok(false);
            }
        }
        let tactic_ok = |tactics: &[String]| {
            w.tactics.is_empty()
                || tactics
                    .iter()
                    .any(|t| w.tactics.iter().any(|x| tactic_key(x) == tactic_key(t)))
        };
        Ok(match (self, w.on) {
            (Self::Alert(a), On::EdrAlert) => {
                a.alert.severity >= w.min_score
                    && (!w.unusual || a.rarity.as_ref().is_some_and(|r| r.surfaced))
                    && (w.vendors.is_empty() || w.vendors.contains(&a.alert.vendor))
                    && tactic_ok(&a.alert.tactic.iter().cloned().collect::<Vec<_>>())
                    && (!w.network_evidence || self.network_evidence(store)?)
            }
            (Self::Breach(b), On::Breach) => {
                b.score >= w.min_score && (w.models.is_empty() || w.models.contains(&b.model))
            }
            (Self::Incident(i), On::Incident) => {
                i.score >= w.min_score
                    && tactic_ok(
                        &i.concluded()
                            .iter()
                            .map(|t| (*t).to_owned())
                            .collect::<Vec<_>>(),
                    )
            }
            _ => false,
        })
    }

    /// An alert's network evidence: a remote endpoint it names, or a breach on the same
    /// device within [`EVIDENCE_WINDOW`].
    fn network_evidence(&self, store: &mut Store) -> Result<bool, StoreError> {
        let Self::Alert(a) = self else {
            return Ok(true);
        };
        if !a.alert.remote_ips.is_empty() || !a.alert.remote_endpoints.is_empty() {
            return Ok(true);
        }
        let Some(device) = a.joined.device_id else {
            return Ok(false);
        };
        let at = a.alert.detected;
        Ok(!store
            .breaches_between(device, at - EVIDENCE_WINDOW, at + EVIDENCE_WINDOW)?
            .is_empty())
    }
}
