//! The built-in detectors a model names in `detector = "..."`. Each reads its own
//! `[params]`, sees the connection records the model's filter admits, and reports
//! findings; the engine scores, throttles and stores them.

pub mod beacon;
pub mod brute_force;
pub mod dns;
pub mod indicator;
pub mod long_connection;
pub mod pattern;
pub mod rarity;
pub mod rate;
pub mod scan;
pub mod session_beacon;
pub mod volume;

use std::collections::VecDeque;

use chrono::{DateTime, Utc};
use serde::de::DeserializeOwned;

use super::{
    Finding,
    baseline::Baselines,
    model::{Model, ModelError},
};
use crate::capture::ConnRecord;

/// What a detector sees of one record.
pub struct Ctx<'a> {
    /// The record.
    pub record: &'a ConnRecord,
    /// Whether the originator is inside.
    pub orig_inside: bool,
    /// Whether the responder is inside.
    pub resp_inside: bool,
    /// The baselines, as they were before this record.
    pub baseline: &'a Baselines,
    /// The feature values the record shows (see `baseline::features`).
    pub features: &'a [(super::baseline::Feature, String)],
    /// Seconds of record time the engine has observed so far.
    pub observed_s: f64,
    /// The model's window.
    pub window: std::time::Duration,
}

impl Ctx<'_> {
    /// The record's time in ns.
    pub fn ts_ns(&self) -> i64 {
        self.record.ts.timestamp_nanos_opt().unwrap_or(i64::MAX)
    }

    /// The record's end: start plus duration.
    pub fn end(&self) -> DateTime<Utc> {
        self.record.ts + chrono::Duration::milliseconds((self.record.duration * 1000.0) as i64)
    }

    /// `orig -> resp`, the usual key.
    pub fn pair(&self) -> String {
        format!("{} -> {}", self.record.orig_h, self.record.resp_h)
    }
}

/// A detector.
pub trait Detector: Send {
    /// Looks at one record.
    fn observe(&mut self, ctx: &Ctx<'_>) -> Vec<Finding>;

    /// Whether it judges a connection that is still open (a provisional record of a held
    /// connection): true for detectors of one connection's own duration or rhythm, which
    /// would otherwise wait, for days perhaps, for the connection to end.
    fn judges_open(&self) -> bool {
        false
    }
}

/// Builds the detector `model` names.
pub fn build(model: &Model) -> Result<Box<dyn Detector>, ModelError> {
    Ok(match model.detector.as_str() {
        "scan" => Box::new(scan::Scan::new(params(model)?)),
        "brute_force" => Box::new(brute_force::BruteForce::new(params(model)?)),
        "beacon" => Box::new(beacon::Beacon::new(params(model)?)),
        "long_connection" => Box::new(long_connection::LongConnection::new(params(model)?)),
        "dns" => Box::new(dns::Dns::new(params(model)?)),
        "rarity" => Box::new(rarity::Rarity::new(params(model)?).map_err(|message| {
            ModelError::Invalid {
                origin: model.name.clone(),
                message,
            }
        })?),
        "volume" => Box::new(volume::Volume::new(params(model)?)),
        "rate" => Box::new(rate::Rate::new(params(model)?)),
        "session_beacon" => Box::new(session_beacon::SessionBeacon::new(params(model)?)),
        "indicator" => Box::new(indicator::Indicator::new(params(model)?)?),
        "pattern" => Box::new(pattern::Pattern::new(params(model)?)),
        other => {
            return Err(ModelError::Invalid {
                origin: model.name.clone(),
                message: format!(
                    "unknown detector {other:?} (one of scan, brute_force, beacon, \
                     long_connection, session_beacon, dns, rarity, volume, rate, indicator, pattern)"
                ),
            });
        }
    })
}

/// A model's `[params]` as `P`, or an error that names the model.
pub(crate) fn params<P: DeserializeOwned>(model: &Model) -> Result<P, ModelError> {
    model
        .params
        .clone()
        .try_into()
        .map_err(|e: toml::de::Error| ModelError::Invalid {
            origin: model.name.clone(),
            message: format!("[params]: {e}"),
        })
}

/// Records of one key within a time window, oldest first, at most `cap`.
#[derive(Debug, Default)]
pub struct Window<T> {
    items: VecDeque<(DateTime<Utc>, T)>,
}

impl<T> Window<T> {
    /// Adds an item at `ts`, drops those older than `window` before the newest, keeps at
    /// most `cap`.
    pub fn push(&mut self, ts: DateTime<Utc>, item: T, window: std::time::Duration, cap: usize) {
        self.items.push_back((ts, item));
        let newest = self.items.iter().map(|(t, _)| *t).max().unwrap_or(ts);
        let limit = newest - chrono::Duration::from_std(window).unwrap_or(chrono::Duration::MAX);
        self.items.retain(|(t, _)| *t >= limit);
        while self.items.len() > cap {
            self.items.pop_front();
        }
    }

    /// The items.
    pub fn iter(&self) -> impl Iterator<Item = &(DateTime<Utc>, T)> {
        self.items.iter()
    }

    /// How many.
    pub fn len(&self) -> usize {
        self.items.len()
    }

    /// Whether empty.
    pub fn is_empty(&self) -> bool {
        self.items.is_empty()
    }
}

/// Keys kept per detector; the stalest go first (bounded memory on a busy network).
pub const MAX_KEYS: usize = 50_000;

/// Drops the stalest key of `map` when it is full.
pub fn bound<K: Clone + Eq + std::hash::Hash, T, S: std::hash::BuildHasher>(
    map: &mut std::collections::HashMap<K, Window<T>, S>,
    key: &K,
) {
    if map.len() >= MAX_KEYS
        && !map.contains_key(key)
        && let Some(stalest) = map
            .iter()
            .min_by_key(|(_, w)| w.items.back().map(|(t, _)| *t))
            .map(|(k, _)| k.clone())
    {
        map.remove(&stalest);
    }
}

/// Whether a connection failed: refused, reset, never answered, or half-open.
pub fn failed(r: &ConnRecord) -> bool {
    matches!(
        r.conn_state.as_str(),
        "S0" | "REJ" | "RSTO" | "RSTR" | "RSTOS0" | "RSTRH" | "SH" | "SHR" | "OTH"
    ) || r.resp_pkts == 0
}

/// The uids of a window's records, newest last, capped for evidence.
pub fn uids<'a>(items: impl Iterator<Item = &'a String>) -> Vec<String> {
    let all: Vec<String> = items.filter(|u| !u.is_empty()).cloned().collect();
    let skip = all.len().saturating_sub(super::MAX_EVIDENCE_CONNECTIONS);
    all.into_iter().skip(skip).collect()
}
