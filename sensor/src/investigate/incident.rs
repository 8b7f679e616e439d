//! The incident: what an investigation concluded, with everything behind it, as stored and
//! as reports show it.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

/// A device in an incident.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct IncidentDevice {
    /// The device id.
    pub id: i64,
    /// Its host name, else its address.
    pub name: String,
    /// Its addresses in the window.
    pub addrs: Vec<String>,
    /// Whether the investigation started from it (else it is related).
    pub origin: bool,
}

/// One tactic the investigation weighed.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct TacticFinding {
    /// `command-and-control`, `lateral-movement`, ...
    pub tactic: String,
    /// How sure, 0-100.
    pub confidence: u8,
    /// Evidence for, one line each, with numbers.
    pub evidence_for: Vec<String>,
    /// Evidence against, one line each, with numbers.
    pub evidence_against: Vec<String>,
    /// Whether it was concluded.
    pub concluded: bool,
}

/// One entry of the incident's timeline.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct TimelineEntry {
    /// When.
    pub ts: DateTime<Utc>,
    /// The device's name.
    pub device: String,
    /// `breach`, `edr_alert`.
    pub kind: String,
    /// One line.
    pub summary: String,
    /// The console link, for EDR alerts.
    pub link: Option<String>,
}

/// Connections between two addresses in the window, for the picture.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Link {
    /// The originator.
    pub from: String,
    /// The responder.
    pub to: String,
    /// `tcp/445`, ...
    pub service: String,
    /// Connections.
    pub connections: u64,
    /// Bytes both ways.
    pub bytes: u64,
}

/// One recorded step of an investigation.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Step {
    /// `gather`, `hypothesise`, `evaluate`, `conclude`, `merge`.
    pub name: String,
    /// What it did, line by line.
    pub lines: Vec<String>,
}

/// An incident.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Incident {
    /// Its id in the store (0 before it is stored).
    pub id: i64,
    /// One line.
    pub title: String,
    /// A paragraph.
    pub summary: String,
    /// 0-100.
    pub score: u8,
    /// When it was opened and last changed.
    pub created: DateTime<Utc>,
    /// When it was last changed.
    pub updated: DateTime<Utc>,
    /// The activity it covers.
    pub first: DateTime<Utc>,
    /// The activity it covers.
    pub last: DateTime<Utc>,
    /// What started it (`breach 12 (lateral-movement)`, `edr alert 40`, `analyst`).
    pub triggers: Vec<String>,
    /// The devices.
    pub devices: Vec<IncidentDevice>,
    /// The breaches it holds (ids).
    pub breaches: Vec<i64>,
    /// The EDR alerts it holds (ids).
    pub edr_alerts: Vec<i64>,
    /// The tactics weighed, concluded ones first.
    pub tactics: Vec<TacticFinding>,
    /// What to do.
    pub recommended: Vec<String>,
    /// Breaches and alerts in time order.
    pub timeline: Vec<TimelineEntry>,
    /// Who spoke with whom.
    pub links: Vec<Link>,
    /// How it was reached.
    pub steps: Vec<Step>,
}

impl Incident {
    /// The concluded tactics' names.
    pub fn concluded(&self) -> Vec<&str> {
        self.tactics
            .iter()
            .filter(|t| t.concluded)
            .map(|t| t.tactic.as_str())
            .collect()
    }
}
