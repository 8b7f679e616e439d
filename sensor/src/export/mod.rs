//! Exports for SIEMs and stream engines: connection records, actions, breaches, EDR alerts
//! and incidents, as JSON lines with ECS field names, as OCSF, or as CEF; sent to syslog
//! (UDP or TCP), to an HTTP collector in batches with retry, or to a file. This is how a
//! fleet of gateways scales: each sensor ships what it saw, the SIEM joins it (every
//! flow-bearing record carries its Community ID).
//!
//! # Layout
//! - [`ecs`], [`ocsf`], [`cef`]: one record to one line, per format.
//! - [`sink`]: where lines go.
//! - [`runner`]: the agent's loop: new rows since each exporter's cursor, in batches.

pub mod cef;
pub mod ecs;
pub mod ocsf;
pub mod runner;
pub mod sink;

use std::{collections::BTreeMap, path::PathBuf};

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::{capture::ConnRecord, response::Action};

/// An output format.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "snake_case")]
pub enum Format {
    /// Elastic Common Schema field names, one JSON object per line.
    Ecs,
    /// OCSF 1.3: Network Activity for connections, Detection Finding for the rest.
    Ocsf,
    /// ArcSight Common Event Format, one event per line.
    Cef,
}

/// A kind of record.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RecordKind {
    /// Connection records.
    Connections,
    /// Response actions.
    Actions,
    /// Model breaches.
    Breaches,
    /// EDR alerts.
    EdrAlerts,
    /// Incidents.
    Incidents,
}

impl RecordKind {
    /// Every kind, in export order.
    pub const ALL: [Self; 5] = [
        Self::Connections,
        Self::Actions,
        Self::Breaches,
        Self::EdrAlerts,
        Self::Incidents,
    ];

    /// The name used in cursors and configs.
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Connections => "connections",
            Self::Actions => "actions",
            Self::Breaches => "breaches",
            Self::EdrAlerts => "edr_alerts",
            Self::Incidents => "incidents",
        }
    }
}

/// A record to export.
#[derive(Clone, Debug, PartialEq)]
pub enum Record {
    /// A connection (boxed: it is the large one).
    Conn(Box<ConnRecord>),
    /// An action.
    Action(Action),
    /// A row of a table later layers fill (breaches, EDR alerts, incidents), as stored.
    Row {
        /// Which table.
        kind: RecordKind,
        /// The row.
        row: serde_json::Value,
    },
}

impl Record {
    /// The row's time (for rows: `ts_ns`).
    pub fn time(&self) -> DateTime<Utc> {
        match self {
            Self::Conn(c) => c.ts,
            Self::Action(a) => a.created,
            Self::Row { row, .. } => {
                DateTime::from_timestamp_nanos(row["ts_ns"].as_i64().unwrap_or_default())
            }
        }
    }

    /// One line in `format`.
    pub fn format(&self, format: Format) -> String {
        match format {
            Format::Ecs => ecs::line(self),
            Format::Ocsf => ocsf::line(self),
            Format::Cef => cef::line(self),
        }
    }
}

/// The sensor's name and version, as the formats want them.
pub const PRODUCT: &str = "sensor";
/// The version.
pub const VERSION: &str = env!("CARGO_PKG_VERSION");

/// Transport for syslog.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Transport {
    /// One datagram per message.
    #[default]
    Udp,
    /// A stream, one message per line.
    Tcp,
}

/// Where an exporter sends.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "to", rename_all = "snake_case", deny_unknown_fields)]
pub enum Destination {
    /// RFC 5424 syslog.
    Syslog {
        /// `host:port`.
        address: String,
        /// UDP or TCP.
        #[serde(default)]
        transport: Transport,
    },
    /// HTTP POST of newline-delimited lines (`application/x-ndjson`).
    Http {
        /// The collector. `https` is verified against the system's roots (and `ca_file`).
        url: String,
        /// Extra headers (an API key, say). Never logged.
        #[serde(default)]
        headers: BTreeMap<String, String>,
        /// A PEM file of extra roots to trust (a private CA).
        #[serde(default)]
        ca_file: Option<PathBuf>,
    },
    /// Appended to a file.
    File {
        /// The file.
        path: PathBuf,
    },
}

fn default_records() -> Vec<RecordKind> {
    RecordKind::ALL.to_vec()
}

const fn default_batch() -> usize {
    500
}

/// One exporter, as the config file gives it. (Unknown fields are refused by
/// [`Destination`], which receives all this struct does not know: serde cannot deny
/// unknown fields on a struct with a flattened member.)
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ExportConfig {
    /// A name, unique among exporters: it keys the exporter's cursor in the store.
    pub name: String,
    /// The format.
    pub format: Format,
    /// Which records (all by default).
    #[serde(default = "default_records")]
    pub records: Vec<RecordKind>,
    /// Records per batch.
    #[serde(default = "default_batch")]
    pub batch: usize,
    /// Where to.
    #[serde(flatten)]
    pub destination: Destination,
}
