//! Step four: the incident's words. A title from the concluded tactics in kill-chain
//! order, a summary that cites the strongest evidence of each, a score, what to do, and the
//! timeline of the breaches and alerts behind it.

use super::incident::{Incident, Step, TacticFinding, TimelineEntry};
use crate::{detect::Breach, store::edr::StoredAlert};

/// Kill-chain order, for titles.
const ORDER: &[&str] = &[
    "reconnaissance",
    "credential-access",
    "lateral-movement",
    "command-and-control",
    "exfiltration",
    "impact",
];

fn words(tactic: &str) -> String {
    tactic.replace('-', " ")
}

/// What an analyst should do about `tactic` on `device`.
fn advice(tactic: &str, device: &str, remotes: &[String], inside: &[String]) -> Vec<String> {
    let first = |list: &[String]| {
        list.first()
            .cloned()
            .unwrap_or_else(|| "the endpoint".into())
    };
    match tactic {
        "command-and-control" => vec![
            format!(
                "Suspend new connections from the network to {} (`sensor suspend {}:443 --for 2h`) or block it (`sensor block {}`)",
                first(remotes),
                first(remotes),
                first(remotes)
            ),
            format!("Collect the implant from {device} with the EDR before reimaging"),
        ],
        "lateral-movement" => vec![
            format!(
                "Quarantine {device} (`sensor quarantine {device}`) while the credentials it used are reset"
            ),
            format!(
                "Suspend SMB and RDP to {} from it (`sensor suspend {}:445`)",
                first(inside),
                first(inside)
            ),
        ],
        "exfiltration" => vec![format!(
            "Block {} (`sensor block {}`) and size what left",
            first(remotes),
            first(remotes)
        )],
        "reconnaissance" => vec![format!(
            "Watch {device}: a scan precedes movement; quarantine it if the scan goes on"
        )],
        "credential-access" => vec![format!(
            "Reset the passwords and tickets of the accounts used on {device}; look for their use elsewhere"
        )],
        "impact" => vec![
            format!("Quarantine {device} now (`sensor quarantine {device} --both`)"),
            "Check the shares it wrote to and restore from backups".to_owned(),
        ],
        _ => Vec::new(),
    }
}

/// Fills `incident`'s title, summary, score, advice and timeline from its findings and
/// the breaches and alerts it holds; returns the step.
pub fn conclude(incident: &mut Incident, breaches: &[Breach], alerts: &[StoredAlert]) -> Step {
    let concluded: Vec<&TacticFinding> = {
        let mut c: Vec<&TacticFinding> = incident.tactics.iter().filter(|t| t.concluded).collect();
        c.sort_by_key(|t| {
            ORDER
                .iter()
                .position(|o| *o == t.tactic)
                .unwrap_or(ORDER.len())
        });
        c
    };
    let origin = incident
        .devices
        .iter()
        .find(|d| d.origin)
        .or(incident.devices.first())
        .map_or_else(|| "an unknown device".to_owned(), |d| d.name.clone());
    let others: Vec<String> = incident
        .devices
        .iter()
        .filter(|d| d.name != origin)
        .map(|d| d.name.clone())
        .collect();
    let mut lines = Vec::new();
    if concluded.is_empty() {
        incident.title = format!("Nothing concluded on {origin}");
        "No activity reached the confidence to conclude.".clone_into(&mut incident.summary);
        incident.score = incident
            .tactics
            .iter()
            .map(|t| t.confidence)
            .max()
            .unwrap_or(0);
        lines.push("no tactic reached the confidence to conclude".to_owned());
    } else {
        let names: Vec<String> = concluded.iter().map(|t| words(&t.tactic)).collect();
        let mut title = names.join(", ");
        if let Some(first) = title.get_mut(0..1) {
            first.make_ascii_uppercase();
        }
        incident.title = if others.is_empty() {
            format!("{title} on {origin}")
        } else {
            format!("{title} on {origin}, reaching {}", others.join(", "))
        };
        incident.summary = concluded
            .iter()
            .map(|t| {
                let mut sentence = format!(
                    "{} (confidence {}): {}.",
                    words(&t.tactic),
                    t.confidence,
                    t.evidence_for.first().map_or("", String::as_str)
                );
                if let Some(first) = sentence.get_mut(0..1) {
                    first.make_ascii_uppercase();
                }
                sentence
            })
            .collect::<Vec<_>>()
            .join(" ");
        let strongest = concluded.iter().map(|t| t.confidence).max().unwrap_or(0);
        incident.score = (u32::from(strongest) + 5 * (concluded.len() as u32 - 1)).min(100) as u8;
        lines.push(format!(
            "concluded {} (score {})",
            names.join(", "),
            incident.score
        ));
    }
    let remotes: Vec<String> = alerts
        .iter()
        .flat_map(|a| a.alert.remote_ips.iter().map(ToString::to_string))
        .collect();
    let inside: Vec<String> = incident
        .devices
        .iter()
        .filter(|d| !d.origin)
        .filter_map(|d| d.addrs.first().cloned())
        .collect();
    // Impact is about the device the impact was seen on, which may be the chain's end.
    let impacted = alerts
        .iter()
        .find(|a| {
            a.alert
                .tactic
                .as_deref()
                .is_some_and(|t| t.eq_ignore_ascii_case("impact"))
        })
        .and_then(|a| {
            incident
                .devices
                .iter()
                .find(|d| Some(d.id) == a.joined.device_id)
        })
        .map_or_else(|| origin.clone(), |d| d.name.clone());
    incident.recommended = Vec::new();
    for t in &concluded {
        let on = if t.tactic == "impact" {
            &impacted
        } else {
            &origin
        };
        for a in advice(&t.tactic, on, &remotes, &inside) {
            if !incident.recommended.contains(&a) {
                incident.recommended.push(a);
            }
        }
    }
    let name_of = |id: Option<i64>| {
        incident
            .devices
            .iter()
            .find(|d| Some(d.id) == id)
            .map_or_else(|| "?".to_owned(), |d| d.name.clone())
    };
    let mut timeline: Vec<TimelineEntry> = breaches
        .iter()
        .map(|b| TimelineEntry {
            ts: b.ts,
            device: name_of(b.device_id),
            kind: "breach".to_owned(),
            summary: format!("{} ({}): {}", b.model, b.score, b.evidence.summary),
            link: None,
        })
        .chain(alerts.iter().map(|a| TimelineEntry {
            ts: a.alert.detected,
            device: name_of(a.joined.device_id),
            kind: "edr_alert".to_owned(),
            summary: format!(
                "{}: {} ({}{})",
                a.alert.vendor.as_str(),
                a.alert.title,
                a.alert.severity_label,
                a.rarity
                    .as_ref()
                    .filter(|r| r.surfaced)
                    .map_or(String::new(), |r| format!(", unusual {}", r.score))
            ),
            link: a.alert.link.clone(),
        }))
        .collect();
    timeline.sort_by_key(|e| e.ts);
    if let (Some(f), Some(l)) = (timeline.first(), timeline.last()) {
        incident.first = f.ts;
        incident.last = l.ts;
    }
    incident.timeline = timeline;
    Step {
        name: "conclude".to_owned(),
        lines,
    }
}
