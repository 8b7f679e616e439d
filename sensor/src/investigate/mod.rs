//! Automated investigations, as a level-1/2 analyst would run them, in deterministic and
//! explained steps that are recorded with the result: gather what happened around a device,
//! hypothesise which activities could explain it (MITRE ATT&CK tactics), evaluate the
//! evidence for and against each with numbers, conclude. A conclusion is an incident;
//! incidents that share devices and time are one incident (a lateral chain is one story).
//!
//! Triggered by a breach over a score, by an EDR alert (unusual ones, or all), or by an
//! analyst (`sensor investigate DEVICE --at TIME`).
//!
//! # Layout
//! - [`incident`]: the incident.
//! - [`gather`], [`tactics`], [`conclude`]: the steps.
//! - [`triggers`]: what starts an investigation in the agent.

pub mod conclude;
pub mod gather;
pub mod incident;
pub mod tactics;
pub mod triggers;

use chrono::{DateTime, Duration, Utc};

use crate::store::{Store, StoreError};
use incident::{Incident, IncidentDevice, Step, TacticFinding};

/// How far around the moment an investigation looks.
#[derive(Clone, Copy, Debug)]
pub struct Window {
    /// Before it.
    pub before: Duration,
    /// After it.
    pub after: Duration,
}

impl Default for Window {
    fn default() -> Self {
        Self {
            before: Duration::hours(24),
            after: Duration::hours(1),
        }
    }
}

/// The longest span of activity an incident grows to by merging.
pub const MAX_SPAN: Duration = Duration::days(3);

/// Investigates `device` around `at`; `trigger` says why. The incident is not stored.
pub fn investigate(
    store: &mut Store,
    device: i64,
    at: DateTime<Utc>,
    trigger: &str,
    window: Window,
) -> Result<Incident, StoreError> {
    let (g, gathered) = gather::gather(store, device, at - window.before, at + window.after)?;
    let (tactics, hypothesised, evaluated) = tactics::weigh(&g);
    let now = Utc::now();
    let mut incident = Incident {
        id: 0,
        title: String::new(),
        summary: String::new(),
        score: 0,
        created: now,
        updated: now,
        first: at,
        last: at,
        triggers: vec![trigger.to_owned()],
        devices: g.devices.clone(),
        breaches: g.breaches.iter().map(|b| b.id).collect(),
        edr_alerts: g.alerts.iter().map(|a| a.id).collect(),
        tactics,
        recommended: Vec::new(),
        timeline: Vec::new(),
        links: g.links.clone(),
        steps: vec![gathered, hypothesised, evaluated],
    };
    let concluded = conclude::conclude(&mut incident, &g.breaches, &g.alerts);
    incident.steps.push(concluded);
    Ok(incident)
}

/// Stores `incident` if it concluded anything: merged into a stored incident that shares
/// a device and overlaps in time (within `window`, and its span stays within
/// [`MAX_SPAN`]), else as a new one. Returns the stored
/// incident, or `None` if there was nothing to store.
pub fn record(
    store: &mut Store,
    mut incident: Incident,
    window: Window,
) -> Result<Option<Incident>, StoreError> {
    if incident.concluded().is_empty() {
        return Ok(None);
    }
    let ids: Vec<i64> = incident.devices.iter().map(|d| d.id).collect();
    let near = store.incidents_between(
        incident.first - window.before,
        incident.last + window.before,
    )?;
    // An incident grows for at most `MAX_SPAN`: a device in trouble week after week gets
    // an incident per episode, not one that never closes.
    let Some(mut into) = near.into_iter().find(|i| {
        i.devices.iter().any(|d| ids.contains(&d.id)) && incident.last - i.first <= MAX_SPAN
    }) else {
        store.save_incident(&mut incident)?;
        return Ok(Some(incident));
    };
    merge(&mut into, incident);
    let breaches = store.breaches_by_id(&into.breaches)?;
    let alerts = store.edr_alerts_by_id(&into.edr_alerts)?;
    let concluded = conclude::conclude(&mut into, &breaches, &alerts);
    into.steps.push(concluded);
    store.save_incident(&mut into)?;
    Ok(Some(into))
}

/// Folds `new` into `into`: devices, records and links joined; each tactic at its
/// stronger finding, with the evidence of both.
fn merge(into: &mut Incident, new: Incident) {
    let before = into.devices.len();
    let named: Vec<String> = new.devices.iter().map(|d| d.name.clone()).collect();
    for d in new.devices {
        if !into.devices.iter().any(|x| x.id == d.id) {
            into.devices.push(IncidentDevice { origin: false, ..d });
        }
    }
    for b in new.breaches {
        if !into.breaches.contains(&b) {
            into.breaches.push(b);
        }
    }
    for a in new.edr_alerts {
        if !into.edr_alerts.contains(&a) {
            into.edr_alerts.push(a);
        }
    }
    for l in new.links {
        if !into.links.contains(&l) {
            into.links.push(l);
        }
    }
    for t in new.tactics {
        match into.tactics.iter_mut().find(|x| x.tactic == t.tactic) {
            Some(x) => merge_tactic(x, t),
            None => into.tactics.push(t),
        }
    }
    into.tactics.sort_by(|a, b| {
        b.concluded
            .cmp(&a.concluded)
            .then(b.confidence.cmp(&a.confidence))
    });
    into.triggers.extend(new.triggers);
    into.updated = new.updated;
    let mut lines = vec![format!(
        "merged an investigation of {} ({} new devices) into incident #{}",
        named.join(", "),
        into.devices.len() - before,
        into.id
    )];
    lines.extend(new.steps.iter().flat_map(|s| {
        s.lines
            .iter()
            .map(move |l| format!("{}: {l}", s.name))
            .collect::<Vec<_>>()
    }));
    into.steps.push(Step {
        name: "merge".to_owned(),
        lines,
    });
}

fn merge_tactic(x: &mut TacticFinding, t: TacticFinding) {
    x.confidence = x.confidence.max(t.confidence);
    x.concluded |= t.concluded;
    for e in t.evidence_for {
        if !x.evidence_for.contains(&e) {
            x.evidence_for.push(e);
        }
    }
    for e in t.evidence_against {
        if !x.evidence_against.contains(&e) {
            x.evidence_against.push(e);
        }
    }
}

#[cfg(test)]
mod tests {
    use chrono::{DateTime, Utc};

    use super::triggers::Triggers;
    use crate::{
        detect::{Breach, Evidence, model},
        edr::{
            Vendor,
            import::{
                import,
                tests::{fixtures, lab_store},
            },
        },
        fusion::{DEFAULT_SURFACE, Fusion},
        store::connections::tests::record,
    };

    fn at(s: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(s).unwrap().into()
    }

    /// The ws-02 story: credential dumping and remote service creation on ws-02, then SMB
    /// from it to fs-01 (a lateral-movement breach), then ransomware on fs-01 the next day:
    /// one incident holding them all.
    #[test]
    fn the_ws02_story_is_one_incident() {
        let mut store = lab_store();
        let ws02 = store.device_by_hostname("ws-02").unwrap().unwrap();
        let mut smb = record(0);
        smb.ts = at("2026-11-20T14:35:00Z");
        smb.resp_h = "10.77.1.20".parse().unwrap();
        smb.resp_p = 445;
        smb.orig_bytes = 2_000_000;
        smb.device_id = Some(ws02);
        store.insert_connections(&[smb.clone()]).unwrap();
        let mut lateral = [Breach {
            id: 0,
            model: "lateral-movement".into(),
            model_version: 1,
            device_id: Some(ws02),
            ts: smb.ts,
            score: 55,
            evidence: Evidence {
                key: "10.77.1.12 -> 10.77.1.20".into(),
                summary: "admin service smb on 10.77.1.20, never reached before".into(),
                metrics: Vec::new(),
                connections: vec![smb.uid.clone()],
            },
        }];
        store.insert_breaches(&mut lateral).unwrap();
        for n in 1..=3 {
            let text = std::fs::read_to_string(
                fixtures().join(format!("microsoft-graph/alerts_v2.page{n}.json")),
            )
            .unwrap();
            import(&mut store, Vendor::Microsoft, &text, "graph", None).unwrap();
        }
        Fusion::new(&model::load(None).unwrap(), DEFAULT_SURFACE)
            .unwrap()
            .step(&mut store)
            .unwrap();
        let opened = Triggers::default().step(&mut store).unwrap();
        assert!(opened >= 2, "{opened}");
        let incidents = store.incidents(0).unwrap();
        let chains: Vec<_> = incidents
            .iter()
            .filter(|i| i.devices.iter().any(|d| d.id == ws02))
            .collect();
        assert_eq!(
            chains.len(),
            1,
            "{:#?}",
            incidents.iter().map(|i| &i.title).collect::<Vec<_>>()
        );
        let chain = chains[0];
        let alerts = store.edr_alerts_by_id(&chain.edr_alerts).unwrap();
        for title in [
            "Credential dumping activity observed",
            "Suspicious remote service creation",
            "Ransomware behavior detected in the file system",
        ] {
            assert!(
                alerts.iter().any(|a| a.alert.title == title),
                "{title} in {}",
                chain.title
            );
        }
        assert!(chain.breaches.contains(&lateral[0].id));
        let names: Vec<&str> = chain.devices.iter().map(|d| d.name.as_str()).collect();
        assert!(
            names.contains(&"ws-02") && names.contains(&"fs-01"),
            "{names:?}"
        );
        let concluded = chain.concluded();
        for t in ["credential-access", "lateral-movement", "impact"] {
            assert!(concluded.contains(&t), "{t} in {concluded:?}");
        }
        let steps: Vec<&str> = chain.steps.iter().map(|s| s.name.as_str()).collect();
        for s in ["gather", "hypothesise", "evaluate", "conclude", "merge"] {
            assert!(steps.contains(&s), "{s} in {steps:?}");
        }
        assert!(!chain.recommended.is_empty());
        assert!(chain.title.contains("ws-02"), "{}", chain.title);
        // Nothing starts twice.
        assert_eq!(Triggers::default().step(&mut store).unwrap(), 0);
        // The same devices in trouble again the next day, past the incident's longest span:
        // a new incident, not the old one grown without end (within the span it would merge).
        let mut later = chain.clone();
        later.id = 0;
        later.first = chain.last + chrono::Duration::hours(23);
        later.last = chain.first + super::MAX_SPAN + chrono::Duration::hours(1);
        assert!(later.last >= later.first);
        let again = super::record(&mut store, later, super::Window::default())
            .unwrap()
            .unwrap();
        assert_ne!(again.id, chain.id, "a new episode");
    }
}
