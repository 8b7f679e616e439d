//! Steps two and three: which activities could explain what was gathered (hypothesise), and
//! how strongly the evidence says so (evaluate). Each candidate is a MITRE ATT&CK tactic
//! with the network models and EDR tactics that speak for it and a network fact that
//! speaks for or against it. Confidence is the noisy-or of the evidence weights (each
//! breach's score, each EDR alert's severity, more if unusual for the device, less if
//! routine), scaled down by the facts against.

use std::net::IpAddr;

use super::{
    gather::Gathered,
    incident::{Step, TacticFinding},
};
use crate::{detect::baseline::ADMIN_PORTS, edr::alert::tactic_key};

/// A candidate activity.
struct Tactic {
    name: &'static str,
    models: &'static [&'static str],
    /// EDR tactics, normalized (lowercase letters and digits).
    edr: &'static [&'static str],
}

const TACTICS: &[Tactic] = &[
    Tactic {
        name: "command-and-control",
        models: &[
            "beacon-address",
            "beacon-hostname",
            "rare-external-endpoint",
            "watched-indicator",
            "long-connection",
            "dga-names",
            "dns-tunnel",
            "encrypted-dns",
            "tool-user-agent",
            "rare-user-agent",
            "edr-c2-beacon",
        ],
        edr: &["commandandcontrol"],
    },
    Tactic {
        name: "lateral-movement",
        models: &[
            "lateral-movement",
            "admin-fanout",
            "new-service",
            "edr-credential-access-lateral",
        ],
        edr: &["lateralmovement"],
    },
    Tactic {
        name: "exfiltration",
        models: &["exfiltration", "dns-tunnel"],
        edr: &["exfiltration"],
    },
    Tactic {
        name: "reconnaissance",
        models: &["scan-horizontal", "scan-vertical", "ping-sweep"],
        edr: &["discovery", "reconnaissance"],
    },
    Tactic {
        name: "credential-access",
        models: &["brute-force", "edr-credential-access-lateral"],
        edr: &["credentialaccess"],
    },
    Tactic {
        name: "impact",
        models: &["smb-write-volume", "edr-impact-smb-volume"],
        edr: &["impact"],
    },
];

/// The confidence at which a tactic is concluded.
pub const CONCLUDE_AT: u8 = 50;

fn external(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(a) => !(a.is_private() || a.is_loopback() || a.is_link_local()),
        IpAddr::V6(a) => !(a.is_loopback() || (a.segments()[0] & 0xfe00) == 0xfc00),
    }
}

/// A network fact for or against `tactic`: `(for?, line, factor when against)`.
fn fact(tactic: &str, g: &Gathered) -> Option<(bool, String, f64)> {
    let origin = g.devices.first()?;
    // No records at all: the sensor did not see the device, which says nothing either way.
    if g.connections.is_empty() {
        return None;
    }
    let mine = |c: &&crate::capture::ConnRecord| origin.addrs.contains(&c.orig_h.to_string());
    let out: Vec<_> = g.connections.iter().filter(mine).collect();
    match tactic {
        "command-and-control" => {
            let ext: std::collections::BTreeSet<_> = out
                .iter()
                .filter(|c| external(c.resp_h))
                .map(|c| c.resp_h)
                .collect();
            Some(if ext.is_empty() {
                (
                    false,
                    "no connections to outside endpoints in the window".to_owned(),
                    0.5,
                )
            } else {
                (
                    true,
                    format!("{} outside endpoints reached in the window", ext.len()),
                    1.0,
                )
            })
        }
        "lateral-movement" => {
            let admin: Vec<_> = out
                .iter()
                .filter(|c| !external(c.resp_h) && ADMIN_PORTS.contains(&c.resp_p))
                .collect();
            let hosts: std::collections::BTreeSet<_> = admin.iter().map(|c| c.resp_h).collect();
            Some(if admin.is_empty() {
                (
                    false,
                    "no admin-service connections to inside hosts".to_owned(),
                    0.6,
                )
            } else {
                (
                    true,
                    format!(
                        "{} admin-service connections to {} inside hosts ({})",
                        admin.len(),
                        hosts.len(),
                        hosts
                            .iter()
                            .map(ToString::to_string)
                            .collect::<Vec<_>>()
                            .join(", ")
                    ),
                    1.0,
                )
            })
        }
        "exfiltration" => {
            let bytes: u64 = out
                .iter()
                .filter(|c| external(c.resp_h))
                .map(|c| c.orig_bytes)
                .sum();
            Some(if bytes < 1_000_000 {
                (
                    false,
                    format!("only {bytes} bytes sent outside in the window"),
                    0.5,
                )
            } else {
                (
                    true,
                    format!("{:.1} MB sent outside in the window", bytes as f64 / 1e6),
                    1.0,
                )
            })
        }
        "reconnaissance" => {
            let hosts: std::collections::BTreeSet<_> = out.iter().map(|c| c.resp_h).collect();
            Some(if hosts.len() < 10 {
                (
                    false,
                    format!("only {} hosts contacted in the window", hosts.len()),
                    0.7,
                )
            } else {
                (
                    true,
                    format!("{} hosts contacted in the window", hosts.len()),
                    1.0,
                )
            })
        }
        "impact" => {
            let smb: u64 = g
                .connections
                .iter()
                .filter(|c| c.resp_p == 445)
                .map(|c| c.orig_bytes + c.resp_bytes)
                .sum();
            Some(if smb < 10_000_000 {
                (
                    false,
                    format!("{:.1} MB over SMB in the window", smb as f64 / 1e6),
                    0.8,
                )
            } else {
                (
                    true,
                    format!("{:.1} MB over SMB in the window", smb as f64 / 1e6),
                    1.0,
                )
            })
        }
        _ => None,
    }
}

/// Hypothesises and evaluates; the findings, concluded first, strongest first.
pub fn weigh(g: &Gathered) -> (Vec<TacticFinding>, Step, Step) {
    let mut hyp = Vec::new();
    let mut eval = Vec::new();
    let mut findings = Vec::new();
    for t in TACTICS {
        let mut weights: Vec<f64> = Vec::new();
        let mut evidence_for = Vec::new();
        for b in g
            .breaches
            .iter()
            .filter(|b| t.models.contains(&b.model.as_str()))
        {
            weights.push(f64::from(b.score) / 100.0);
            evidence_for.push(format!(
                "breach #{} {} (score {}): {}",
                b.id, b.model, b.score, b.evidence.summary
            ));
        }
        for a in g.alerts.iter().filter(|a| {
            a.alert
                .tactic
                .as_deref()
                .is_some_and(|x| t.edr.contains(&tactic_key(x).as_str()))
        }) {
            let (factor, words) = match &a.rarity {
                Some(r) if r.surfaced => (1.2, format!("unusual for the device: {}", r.reason)),
                Some(r) => (0.5, format!("routine for the device: {}", r.reason)),
                None => (1.0, "rarity not scored".to_owned()),
            };
            weights.push((f64::from(a.alert.severity) / 100.0 * factor).min(0.95));
            evidence_for.push(format!(
                "{} alert #{} \"{}\" (severity {}; {words})",
                a.alert.vendor.as_str(),
                a.id,
                a.alert.headline(),
                a.alert.severity
            ));
        }
        if weights.is_empty() {
            continue;
        }
        hyp.push(format!(
            "{}: {} pieces of evidence name it",
            t.name,
            weights.len()
        ));
        let mut confidence = 1.0 - weights.iter().map(|w| 1.0 - w).product::<f64>();
        let mut evidence_against = Vec::new();
        if let Some((supports, line, factor)) = fact(t.name, g) {
            // Facts are about the device investigated; say which.
            let line = format!(
                "{}: {line}",
                g.devices.first().map_or("", |d| d.name.as_str())
            );
            if supports {
                evidence_for.push(line);
            } else {
                confidence *= factor;
                evidence_against.push(format!("{line} (confidence × {factor})"));
            }
        }
        let confidence = (confidence * 100.0).round().clamp(0.0, 100.0) as u8;
        let concluded = confidence >= CONCLUDE_AT;
        eval.push(format!(
            "{}: confidence {confidence} ({} for, {} against){}",
            t.name,
            evidence_for.len(),
            evidence_against.len(),
            if concluded { ": concluded" } else { "" }
        ));
        findings.push(TacticFinding {
            tactic: t.name.to_owned(),
            confidence,
            evidence_for,
            evidence_against,
            concluded,
        });
    }
    if hyp.is_empty() {
        hyp.push("no breach or EDR alert names a known activity".to_owned());
    }
    findings.sort_by(|a, b| {
        b.concluded
            .cmp(&a.concluded)
            .then(b.confidence.cmp(&a.confidence))
    });
    (
        findings,
        Step {
            name: "hypothesise".to_owned(),
            lines: hyp,
        },
        Step {
            name: "evaluate".to_owned(),
            lines: eval,
        },
    )
}
