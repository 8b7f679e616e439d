//! `sensor investigate DEVICE [--at TIME]`, `sensor incidents` and `sensor incident ID
//! [--report md|html|pdf -o FILE]`.

use std::path::PathBuf;

use anyhow::Context as _;

use super::{
    api::{DbSource, who},
    conns::when,
    open_db,
    output::{self, Column},
};
use crate::{
    api::{
        ListQuery,
        client::with_query,
        incidents::{InvestigateRequest, Investigation},
    },
    investigate::incident::Incident,
    report::{self, Format},
};

/// Arguments of `sensor investigate`.
#[derive(Debug, clap::Args)]
pub struct InvestigateArgs {
    /// The device: an address it held then, a MAC, a host name or an id.
    #[arg(value_name = "DEVICE")]
    pub device: String,
    /// Around when: a UTC time (2026-11-20T14:30:00Z) or a time ago (2h); default now.
    #[arg(long, value_name = "TIME", value_parser = when)]
    pub at: Option<chrono::DateTime<chrono::Utc>>,
    /// Print JSON.
    #[arg(long)]
    pub json: bool,
    #[command(flatten)]
    pub source: DbSource,
}

/// Arguments of `sensor incidents`.
#[derive(Debug, clap::Args)]
pub struct IncidentsArgs {
    /// At most this many (0: all).
    #[arg(long, value_name = "N", default_value_t = 50)]
    pub limit: usize,
    /// Print JSON.
    #[arg(long)]
    pub json: bool,
    #[command(flatten)]
    pub source: DbSource,
}

/// Arguments of `sensor incident`.
#[derive(Debug, clap::Args)]
pub struct IncidentArgs {
    /// The incident's id.
    #[arg(value_name = "ID")]
    pub id: i64,
    /// Write a report in this format (Markdown on stdout if neither this nor --json).
    #[arg(long, value_enum, value_name = "FORMAT")]
    pub report: Option<Format>,
    /// Where to write the report (stdout if not given; a PDF needs a file).
    #[arg(short = 'o', long, value_name = "FILE")]
    pub output: Option<PathBuf>,
    /// Print JSON.
    #[arg(long)]
    pub json: bool,
    #[command(flatten)]
    pub source: DbSource,
}

/// `sensor investigate`.
pub fn investigate(args: &InvestigateArgs) -> anyhow::Result<()> {
    let req = InvestigateRequest {
        device: args.device.clone(),
        at: args.at,
        who: who(),
    };
    let result: Investigation = match &args.source.state_dir {
        None => args.source.api.client().post("/v1/investigations", &req)?,
        Some(dir) => crate::api::incidents::run(&mut open_db(dir)?, &req)?,
    };
    if args.json {
        return Ok(output::json(&result)?);
    }
    output::line(&report::markdown::render(&report::document(
        &result.incident,
    )))?;
    output::line(&if result.stored {
        format!(
            "incident #{} stored; `sensor incident {} --report pdf -o incident.pdf` for a report",
            result.incident.id, result.incident.id
        )
    } else {
        "nothing concluded: no incident stored".to_owned()
    })?;
    Ok(())
}

/// `sensor incidents`.
pub fn incidents(args: &IncidentsArgs) -> anyhow::Result<()> {
    let list: Vec<Incident> = match &args.source.state_dir {
        None => args.source.api.client().get(&with_query(
            "/v1/incidents",
            &ListQuery {
                state: None,
                limit: Some(args.limit),
            },
        ))?,
        Some(dir) => open_db(dir)?.incidents(args.limit)?,
    };
    if args.json {
        return Ok(output::json(&list)?);
    }
    let col = |header, right| Column { header, right };
    let rows: Vec<Vec<String>> = list
        .iter()
        .map(|i| {
            vec![
                i.id.to_string(),
                i.score.to_string(),
                i.first.format("%Y-%m-%d %H:%M").to_string(),
                i.last.format("%Y-%m-%d %H:%M").to_string(),
                i.devices
                    .iter()
                    .map(|d| d.name.as_str())
                    .collect::<Vec<_>>()
                    .join(", "),
                i.concluded().join(", "),
                i.title.clone(),
            ]
        })
        .collect();
    output::table(
        &[
            col("ID", true),
            col("SCORE", true),
            col("FIRST (UTC)", false),
            col("LAST (UTC)", false),
            col("DEVICES", false),
            col("TACTICS", false),
            col("TITLE", false),
        ],
        &rows,
    )?;
    output::line(&format!("{} incidents", list.len()))?;
    Ok(())
}

/// `sensor incident`.
pub fn incident(args: &IncidentArgs) -> anyhow::Result<()> {
    let i: Incident = match &args.source.state_dir {
        None => args
            .source
            .api
            .client()
            .get(&format!("/v1/incidents/{}", args.id))?,
        Some(dir) => open_db(dir)?
            .incident(args.id)?
            .ok_or_else(|| anyhow::anyhow!("no incident {} (see `sensor incidents`)", args.id))?,
    };
    if args.json {
        return Ok(output::json(&i)?);
    }
    let format = args.report.unwrap_or(Format::Md);
    let bytes = report::render(&i, format);
    match &args.output {
        Some(path) => std::fs::write(path, &bytes)
            .with_context(|| format!("failed to write {}", path.display()))?,
        None if format == Format::Pdf => {
            anyhow::bail!("a PDF goes to a file: add -o FILE")
        }
        None => output::line(String::from_utf8_lossy(&bytes).trim_end())?,
    }
    Ok(())
}
