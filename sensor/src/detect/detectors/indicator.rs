//! Watched indicators: addresses, domains (and their subdomains), host names and JA4
//! fingerprints an analyst lists in the model, each with an optional expiry.

use chrono::{DateTime, Utc};
use serde::Deserialize;

use super::{Ctx, Detector};
use crate::detect::{Finding, Metric, model::ModelError};

/// One indicator.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Entry {
    /// An address, a domain, a host name or a JA4.
    pub value: String,
    /// When it stops being watched (RFC 3339); never if absent.
    #[serde(default)]
    pub expires: Option<DateTime<Utc>>,
    /// Where it came from, why it matters.
    #[serde(default)]
    pub note: String,
}

/// `[params]`.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Params {
    /// The list.
    #[serde(default)]
    pub indicators: Vec<Entry>,
}

/// The detector.
pub struct Indicator {
    entries: Vec<Entry>,
}

impl Indicator {
    /// A detector with `p`.
    pub fn new(p: Params) -> Result<Self, ModelError> {
        let entries = p
            .indicators
            .into_iter()
            .map(|mut e| {
                e.value = e.value.trim().trim_end_matches('.').to_ascii_lowercase();
                e
            })
            .filter(|e| !e.value.is_empty())
            .collect();
        Ok(Self { entries })
    }
}

fn matches_name(name: &str, value: &str) -> bool {
    let name = name.trim_end_matches('.').to_ascii_lowercase();
    name == value || name.ends_with(&format!(".{value}"))
}

impl Detector for Indicator {
    fn observe(&mut self, ctx: &Ctx<'_>) -> Vec<Finding> {
        let r = ctx.record;
        let mut out = Vec::new();
        for e in &self.entries {
            if e.expires.is_some_and(|x| x <= r.ts) {
                continue;
            }
            let v = e.value.as_str();
            let hit = if r.resp_h.to_string() == v || r.orig_h.to_string() == v {
                Some("address")
            } else if r
                .app
                .dns
                .as_ref()
                .is_some_and(|d| matches_name(&d.query, v))
            {
                Some("DNS query")
            } else if r
                .app
                .tls
                .as_ref()
                .and_then(|t| t.sni.as_deref())
                .is_some_and(|s| matches_name(s, v))
            {
                Some("TLS server name")
            } else if r
                .app
                .http
                .as_ref()
                .and_then(|h| h.host.as_deref())
                .is_some_and(|h| matches_name(h, v))
            {
                Some("HTTP host")
            } else if r
                .app
                .tls
                .as_ref()
                .is_some_and(|t| t.ja4.eq_ignore_ascii_case(v))
            {
                Some("JA4")
            } else {
                None
            };
            if let Some(what) = hit {
                let note = if e.note.is_empty() {
                    String::new()
                } else {
                    format!(" ({})", e.note)
                };
                out.push(Finding {
                    key: format!("{} {v}", r.orig_h),
                    device_id: r.device_id,
                    ts: r.ts,
                    strength: 1.0,
                    summary: format!(
                        "{} -> {}: {what} matches watched indicator {v}{note}",
                        r.orig_h, r.resp_h
                    ),
                    metrics: vec![Metric {
                        name: format!("watched {what}"),
                        observed: 1.0,
                        baseline: None,
                        comparison: format!(
                            "listed{}",
                            e.expires.map(|x| format!(" until {x}")).unwrap_or_default()
                        ),
                    }],
                    connections: vec![r.uid.clone()],
                });
            }
        }
        out
    }
}
