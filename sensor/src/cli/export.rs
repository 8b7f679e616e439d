//! `sensor export`: records as ECS or OCSF JSON lines, or CEF, on stdout: for a one-off
//! hand-over to a SIEM, or a pipe into a shipper. The agent's exporters send the same
//! lines continuously (see `sensor run --config`).

use chrono::{DateTime, Utc};

use super::{api::DbSource, conns::when, open_db, output};
use crate::{
    api::{ConnsQuery, ListQuery, client::with_query},
    capture::ConnRecord,
    export::{Format, Record, RecordKind},
    response::Action,
    store::connections::ConnQuery,
};

/// Arguments of `sensor export`.
#[derive(Debug, clap::Args)]
pub struct ExportArgs {
    /// The format.
    #[arg(long, value_enum, default_value_t = Format::Ecs)]
    pub format: Format,
    /// Which records: connections, actions, breaches, `edr_alerts`, incidents (comma
    /// separated; all by default).
    #[arg(long, value_name = "KINDS", value_delimiter = ',', value_parser = kind)]
    pub records: Vec<RecordKind>,
    /// Connection records that started at or after this (a time ago or a UTC time).
    #[arg(long, value_name = "WHEN", value_parser = when)]
    pub since: Option<DateTime<Utc>>,
    /// Connection records that started before this.
    #[arg(long, value_name = "WHEN", value_parser = when)]
    pub until: Option<DateTime<Utc>>,
    /// At most this many connection records (0: all).
    #[arg(long, value_name = "N", default_value_t = 0)]
    pub limit: usize,
    #[command(flatten)]
    pub source: DbSource,
}

fn kind(s: &str) -> Result<RecordKind, String> {
    RecordKind::ALL
        .into_iter()
        .find(|k| k.as_str() == s)
        .ok_or_else(|| {
            format!("`{s}` is not one of connections, actions, breaches, edr_alerts, incidents")
        })
}

/// Prints the records.
pub fn export(args: &ExportArgs) -> anyhow::Result<()> {
    let kinds = if args.records.is_empty() {
        RecordKind::ALL.to_vec()
    } else {
        args.records.clone()
    };
    let mut store = args.source.state_dir.as_deref().map(open_db).transpose()?;
    let client = args.source.api.client();
    for kind in kinds {
        let records: Vec<Record> = match (kind, store.as_mut()) {
            (RecordKind::Connections, Some(s)) => s
                .connections(&ConnQuery {
                    since: args.since,
                    until: args.until,
                    addr: None,
                    limit: args.limit,
                })?
                .into_iter()
                .map(|c| Record::Conn(Box::new(c)))
                .collect(),
            (RecordKind::Connections, None) => client
                .get::<Vec<ConnRecord>>(&with_query(
                    "/v1/conns",
                    &ConnsQuery {
                        since: args.since,
                        until: args.until,
                        addr: None,
                        limit: Some(args.limit),
                    },
                ))?
                .into_iter()
                .map(|c| Record::Conn(Box::new(c)))
                .collect(),
            (RecordKind::Actions, Some(s)) => s
                .actions(None, 0)?
                .into_iter()
                .map(Record::Action)
                .collect(),
            (RecordKind::Actions, None) => client
                .get::<Vec<Action>>(&with_query(
                    "/v1/actions",
                    &ListQuery {
                        state: None,
                        limit: Some(0),
                    },
                ))?
                .into_iter()
                .map(Record::Action)
                .collect(),
            (other, Some(s)) => s
                .table_rows(other.as_str())?
                .into_iter()
                .map(|row| Record::Row { kind: other, row })
                .collect(),
            (other, None) => client
                .get::<Vec<serde_json::Value>>(&format!("/v1/{}", other.as_str()))?
                .into_iter()
                .map(|row| Record::Row { kind: other, row })
                .collect(),
        };
        for r in &records {
            output::line(&r.format(args.format))?;
        }
    }
    Ok(())
}
