//! EDR fusion: what the EDRs say, weighed against what each device usually gets and
//! joined with what the network shows. Each new EDR alert is scored for rarity (and
//! surfaces when unusual); combined models raise a breach when an alert and a network
//! breach meet on one device (or one the breach reaches) within their window. Runs over the store by cursor, so the
//! agent, an import and a restart all see each alert and breach once.
//!
//! # Layout
//! - [`rarity`]: how unusual an alert is, and why.
//! - [`combined`]: the combined models.
//! - [`peers`]: the devices a breach reaches besides its own.
//! - [`task`]: the stage in the agent.

pub mod combined;
pub mod peers;
pub mod rarity;
pub mod task;

use chrono::{DateTime, Duration, Utc};
use serde::Serialize;
use tracing::info;

use crate::{
    detect::{
        Breach,
        model::{Model, ModelError},
    },
    store::{Store, StoreError, edr::StoredAlert},
};
use combined::Combined;

/// The cursor's name among the store's consumers (parentheses: no exporter is named so).
const CURSOR: &str = "(fusion)";

/// Rows read per step.
const BATCH: usize = 500;

/// The default surfacing threshold.
pub const DEFAULT_SURFACE: u8 = 60;

/// What one step did.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize)]
pub struct FusionStats {
    /// Alerts scored.
    pub scored: u64,
    /// Of which surfaced as unusual.
    pub surfaced: u64,
    /// Combined-model breaches raised.
    pub combined: u64,
}

/// The fusion stage.
#[derive(Clone, Debug)]
pub struct Fusion {
    combined: Vec<Combined>,
    surface: u8,
}

/// `[t - d, t + d]`, saturating at the ends of time.
fn around(t: DateTime<Utc>, d: std::time::Duration) -> (DateTime<Utc>, DateTime<Utc>) {
    let d = Duration::from_std(d).unwrap_or(Duration::MAX);
    (
        t.checked_sub_signed(d).unwrap_or(DateTime::<Utc>::MIN_UTC),
        t.checked_add_signed(d).unwrap_or(DateTime::<Utc>::MAX_UTC),
    )
}

impl Fusion {
    /// Fusion with the enabled combined models among `models`, surfacing alerts that
    /// score at least `surface`.
    pub fn new(models: &[Model], surface: u8) -> Result<Self, ModelError> {
        let mut combined = Vec::new();
        for m in models.iter().filter(|m| m.enabled) {
            combined.extend(Combined::from_model(m)?);
        }
        Ok(Self { combined, surface })
    }

    fn is_combined(&self, model: &str) -> bool {
        self.combined.iter().any(|c| c.model.name == model)
    }

    /// Scores the alerts stored since the last step, then matches them and the breaches
    /// stored since against the combined models.
    pub fn step(&self, store: &mut Store) -> Result<FusionStats, StoreError> {
        self.step_with(store, true)
    }

    /// As [`Fusion::step`]; the alerts only if `alerts` (not while a connector is half way
    /// through a poll: an alert's history must be stored before it is judged).
    pub fn step_with(&self, store: &mut Store, alerts: bool) -> Result<FusionStats, StoreError> {
        let mut stats = FusionStats::default();
        if alerts {
            store.consume_edr_alerts(
                CURSOR,
                BATCH,
                |store, mut a| {
                    if a.rarity.is_none() {
                        let r = rarity::score(&store.rarity_counts(&a)?, self.surface);
                        store.set_rarity(a.id, &r)?;
                        stats.scored += 1;
                        if r.surfaced {
                            stats.surfaced += 1;
                            info!(vendor = a.alert.vendor.as_str(), id = %a.alert.id, title = %a.alert.title, score = r.score, reason = %r.reason, "unusual EDR alert");
                        }
                        a.rarity = Some(r);
                    }
                    let Some(device) = a.joined.device_id else {
                        return Ok(());
                    };
                    for c in self.combined.iter().filter(|c| c.admits_alert(&a)) {
                        let (from, to) = around(a.alert.detected, c.model.window);
                        let wanted = |b: &Breach| !self.is_combined(&b.model) && c.admits_breach(b);
                        let mut near = store.breaches_between(device, from, to)?;
                        if c.params.network_peer {
                            near.extend(peers::reaching(store, device, from, to, wanted)?);
                        }
                        if let Some(b) = near
                            .iter()
                            .filter(|b| wanted(b))
                            .min_by_key(|b| (b.ts - a.alert.detected).abs())
                        {
                            stats.combined += u64::from(raise(store, c, &a, b)?);
                        }
                    }
                    Ok(())
                },
            )?;
        }
        store.consume_breaches(CURSOR, BATCH, |store, b| {
            let Some(device) = b.device_id.filter(|_| !self.is_combined(&b.model)) else {
                return Ok(());
            };
            let admitting: Vec<&Combined> = self
                .combined
                .iter()
                .filter(|c| c.admits_breach(&b))
                .collect();
            // The device's alerts are read once, over the widest window, not once per
            // model: a device with many alerts would otherwise cost each breach that many
            // rows per combined model.
            let Some(widest) = admitting.iter().map(|c| c.model.window).max() else {
                return Ok(());
            };
            let (from, to) = around(b.ts, widest);
            let own = store.edr_alerts_between(device, from, to)?;
            for c in admitting {
                let (from, to) = around(b.ts, c.model.window);
                let mut peers_alerts = Vec::new();
                if c.params.network_peer {
                    for peer in peers::reached(store, &b)? {
                        peers_alerts.extend(store.edr_alerts_between(peer, from, to)?);
                    }
                }
                let nearest = own
                    .iter()
                    .filter(|a| (from..=to).contains(&a.alert.detected))
                    .chain(&peers_alerts)
                    .filter(|a| c.admits_alert(a))
                    .min_by_key(|a| (a.alert.detected - b.ts).abs());
                if let Some(a) = nearest {
                    stats.combined += u64::from(raise(store, c, a, &b)?);
                }
            }
            Ok(())
        })?;
        Ok(stats)
    }
}

/// Stores `c`'s breach for `a` and `b` unless the model already breached on the device
/// within its throttle; returns whether it did.
fn raise(store: &mut Store, c: &Combined, a: &StoredAlert, b: &Breach) -> Result<bool, StoreError> {
    let mut breach = c.breach(a, b);
    let Some(device) = breach.device_id else {
        return Ok(false);
    };
    let (from, to) = around(breach.ts, c.model.throttle);
    let recent = store.breaches_between(device, from, to)?;
    if recent.iter().any(|r| r.model == c.model.name) {
        return Ok(false);
    }
    info!(model = %breach.model, device, summary = %breach.evidence.summary, "combined model breach");
    store.insert_breaches(std::slice::from_mut(&mut breach))?;
    Ok(true)
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeSet;

    use super::{DEFAULT_SURFACE, Fusion};
    use crate::{
        detect::{Breach, Evidence, model},
        edr::{
            Vendor,
            import::{
                import,
                tests::{fixtures, lab_store},
            },
        },
    };

    /// The fixtures' lab network with the Graph fixture alerts imported, and a fusion.
    fn lab_with_graph_alerts() -> (crate::store::Store, Fusion) {
        let mut store = lab_store();
        let fusion = Fusion::new(&model::load(None).unwrap(), DEFAULT_SURFACE).unwrap();
        for n in 1..=3 {
            let text = std::fs::read_to_string(
                fixtures().join(format!("microsoft-graph/alerts_v2.page{n}.json")),
            )
            .unwrap();
            import(&mut store, Vendor::Microsoft, &text, "graph", None).unwrap();
        }
        (store, fusion)
    }

    #[test]
    fn common_alerts_stop_surfacing_and_rare_ones_surface() {
        let (mut store, fusion) = lab_with_graph_alerts();
        let stats = fusion.step(&mut store).unwrap();
        assert_eq!(stats.scored, 111);
        let alerts = store.edr_alerts(None, 0).unwrap();
        let surfaced: Vec<_> = alerts
            .iter()
            .filter(|a| a.rarity.as_ref().unwrap().surfaced)
            .collect();
        // The four rare ones, and each common type the first time on each device; never
        // again once learned.
        for title in [
            "Credential dumping activity observed",
            "Suspicious remote service creation",
            "Ransomware behavior detected in the file system",
            "Communication with a known command-and-control server",
        ] {
            assert!(
                surfaced.iter().any(|a| a.alert.title == title),
                "{title} surfaced"
            );
        }
        let firsts: BTreeSet<(String, String)> = surfaced
            .iter()
            .map(|a| (a.alert.subject(), a.alert.kind()))
            .collect();
        assert_eq!(firsts.len(), surfaced.len(), "each device and type once");
        assert_eq!(surfaced.len(), 4 + 9, "three common types on three devices");
        // Another step scores nothing again.
        assert_eq!(fusion.step(&mut store).unwrap().scored, 0);

        // Credential dumping on ws-02 and lateral movement from it an hour later: one
        // combined breach, raised once.
        let ws02 = store.device_by_hostname("ws-02").unwrap().unwrap();
        let dump = alerts
            .iter()
            .find(|a| a.alert.tactic.as_deref() == Some("CredentialAccess"))
            .unwrap();
        let mut lateral = [Breach {
            id: 0,
            model: "lateral-movement".into(),
            model_version: 1,
            device_id: Some(ws02),
            ts: dump.alert.detected + chrono::Duration::hours(1),
            score: 55,
            evidence: Evidence {
                key: "10.77.1.12 -> 10.77.1.20".into(),
                summary: "SMB to fs-01, never before".into(),
                metrics: Vec::new(),
                connections: vec!["C1".into()],
            },
        }];
        store.insert_breaches(&mut lateral).unwrap();
        let stats = fusion.step(&mut store).unwrap();
        assert_eq!(
            stats.combined, 2,
            "credential access + lateral, unusual + unusual"
        );
        let combined = store
            .breaches(&crate::store::breaches::BreachQuery {
                model: Some("edr-credential-access-lateral".into()),
                ..Default::default()
            })
            .unwrap();
        assert_eq!(combined.len(), 1);
        assert_eq!(combined[0].device_id, Some(ws02));
        assert!(combined[0].evidence.summary.contains("Credential dumping"));
        assert_eq!(combined[0].evidence.connections, vec!["C1".to_owned()]);
        assert_eq!(fusion.step(&mut store).unwrap().combined, 0);
    }

    #[test]
    fn impact_on_a_server_pairs_with_the_write_volume_of_the_device_writing_to_it() {
        let (mut store, fusion) = lab_with_graph_alerts();
        fusion.step(&mut store).unwrap();
        let fs01 = store.device_by_hostname("fs-01").unwrap().unwrap();
        let ws02 = store.device_by_hostname("ws-02").unwrap().unwrap();
        let alerts = store.edr_alerts(None, 0).unwrap();
        let impact = alerts
            .iter()
            .find(|a| a.joined.device_id == Some(fs01) && a.alert.title.contains("Ransomware"))
            .unwrap();
        // ws-02 writes to fs-01 over SMB: the breach is ws-02's, its connection reaches fs-01.
        let mut write = crate::store::connections::tests::record(0);
        write.ts = impact.alert.detected - chrono::Duration::minutes(20);
        write.resp_h = "10.77.1.20".parse().unwrap();
        write.resp_p = 445;
        store
            .insert_connections(std::slice::from_ref(&write))
            .unwrap();
        let mut volume = [Breach {
            id: 0,
            model: "smb-write-volume".into(),
            model_version: 1,
            device_id: Some(ws02),
            ts: write.ts,
            score: 65,
            evidence: Evidence {
                key: "10.77.1.12 -> 10.77.1.20".into(),
                summary: "60 MB to fs-01 over SMB".into(),
                metrics: Vec::new(),
                connections: vec![write.uid.clone()],
            },
        }];
        store.insert_breaches(&mut volume).unwrap();
        fusion.step(&mut store).unwrap();
        let combined = store
            .breaches(&crate::store::breaches::BreachQuery {
                model: Some("edr-impact-smb-volume".into()),
                ..Default::default()
            })
            .unwrap();
        assert_eq!(combined.len(), 1, "{combined:?}");
        assert_eq!(combined[0].device_id, Some(fs01), "the alert's device");
        assert!(combined[0].evidence.summary.contains("smb-write-volume"));
    }
}
