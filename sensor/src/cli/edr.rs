//! `sensor edr import` and `sensor edr alerts`: EDR alerts from a file (air-gapped sites,
//! vendor exports), and the alerts with the device each joined and why.

use std::path::PathBuf;

use anyhow::Context as _;

use super::{
    StateArgs,
    api::DbSource,
    open_db,
    output::{self, Column},
};
use crate::{
    api::{EdrQuery, client::with_query},
    edr::{Vendor, import::import},
    store::{Store, edr::StoredAlert},
};

/// Arguments of `sensor edr`.
#[derive(Debug, clap::Args)]
pub struct EdrArgs {
    /// What to do.
    #[command(subcommand)]
    pub command: EdrCommand,
}

/// `sensor edr` subcommands.
#[derive(Debug, clap::Subcommand)]
pub enum EdrCommand {
    /// Import alerts from files (JSON lines, or the vendor's API answers; `-` for stdin).
    Import {
        /// The vendor whose shape the files hold.
        #[arg(long, value_enum)]
        vendor: Vendor,
        /// The vendor console's URL, for the pivot links (SentinelOne has none in its
        /// payloads).
        #[arg(long, value_name = "URL")]
        console: Option<String>,
        /// The files.
        #[arg(value_name = "FILE", required = true)]
        files: Vec<PathBuf>,
        /// Print the counts as JSON.
        #[arg(long)]
        json: bool,
        /// Alerts scoring at least this for rarity (0-100) surface as unusual.
        #[arg(long, value_name = "SCORE", default_value_t = crate::fusion::DEFAULT_SURFACE,
              value_parser = clap::value_parser!(u8).range(0..=100))]
        edr_surface: u8,
        #[command(flatten)]
        state: StateArgs,
        #[command(flatten)]
        models: super::ModelArgs,
    },
    /// Each configured connector: last poll, cursor, counts, errors.
    Status {
        /// Print JSON.
        #[arg(long)]
        json: bool,
        #[command(flatten)]
        api: super::api::ApiArgs,
    },
    /// List alerts, newest first, with the device each joined.
    Alerts {
        /// Only this device's (an address, a MAC, a host name or an id).
        #[arg(long, value_name = "DEVICE")]
        device: Option<String>,
        /// At most this many (0: all).
        #[arg(long, value_name = "N", default_value_t = 50)]
        limit: usize,
        /// Only those unusual for their device (rarity at or over the surfacing threshold).
        #[arg(long)]
        unusual: bool,
        /// Print JSON.
        #[arg(long)]
        json: bool,
        #[command(flatten)]
        source: DbSource,
    },
}

/// Runs the subcommand.
pub fn edr(args: &EdrArgs) -> anyhow::Result<()> {
    match &args.command {
        EdrCommand::Import {
            vendor,
            console,
            files,
            json,
            edr_surface,
            state,
            models,
        } => {
            let mut store = Store::open(&state.db_path())?;
            let mut total = crate::edr::import::ImportStats::default();
            for f in files {
                let text = if f.as_os_str() == "-" {
                    std::io::read_to_string(std::io::stdin()).context("failed to read stdin")?
                } else {
                    let bytes = std::fs::read(f)
                        .with_context(|| format!("failed to read {}", f.display()))?;
                    String::from_utf8_lossy(&bytes).into_owned()
                };
                let s = import(
                    &mut store,
                    *vendor,
                    &text,
                    &f.display().to_string(),
                    console.as_deref(),
                )?;
                total.read += s.read;
                total.stored += s.stored;
                total.updated += s.updated;
                total.joined += s.joined;
                total.invalid += s.invalid;
            }
            // Score what is new, and match it with the breaches, as the agent would.
            let fused =
                crate::fusion::Fusion::new(&models.load()?, *edr_surface)?.step(&mut store)?;
            let incidents = crate::investigate::triggers::Triggers::default().step(&mut store)?;
            if *json {
                #[derive(serde::Serialize)]
                struct Imported {
                    #[serde(flatten)]
                    import: crate::edr::import::ImportStats,
                    #[serde(flatten)]
                    fusion: crate::fusion::FusionStats,
                    incidents: u64,
                }
                return Ok(output::json(&Imported {
                    import: total,
                    fusion: fused,
                    incidents,
                })?);
            }
            output::line(&format!(
                "{} alerts read: {} new, {} updated, {} joined to a device; {} invalid records \
                 skipped (see the log); {} scored, {} unusual, {} combined-model breaches; {} \
                 incidents opened or grown",
                total.read,
                total.stored,
                total.updated,
                total.joined,
                total.invalid,
                fused.scored,
                fused.surfaced,
                fused.combined,
                incidents
            ))?;
        }
        EdrCommand::Status { json, api } => {
            let all: std::collections::BTreeMap<String, crate::edr::connectors::ConnectorStatus> =
                api.client().get("/v1/edr/status")?;
            if *json {
                return Ok(output::json(&all)?);
            }
            let col = |header, right| Column { header, right };
            let when = |t: Option<chrono::DateTime<chrono::Utc>>| {
                t.map_or_else(
                    || "never".to_owned(),
                    |t| t.format("%Y-%m-%d %H:%M:%S").to_string(),
                )
            };
            let rows: Vec<Vec<String>> = all
                .iter()
                .map(|(name, s)| {
                    vec![
                        name.clone(),
                        s.vendor.clone(),
                        when(s.last_poll),
                        when(s.last_ok),
                        s.cursor.clone().unwrap_or_default(),
                        s.stored.to_string(),
                        s.invalid.to_string(),
                        s.hosts.to_string(),
                        s.errors.to_string(),
                        s.last_error.clone().unwrap_or_default(),
                    ]
                })
                .collect();
            output::table(
                &[
                    col("CONNECTOR", false),
                    col("VENDOR", false),
                    col("LAST POLL (UTC)", false),
                    col("LAST OK (UTC)", false),
                    col("CURSOR", false),
                    col("STORED", true),
                    col("INVALID", true),
                    col("HOSTS", true),
                    col("ERRORS", true),
                    col("LAST ERROR", false),
                ],
                &rows,
            )?;
            if all.is_empty() {
                output::line("no EDR connectors configured ([[edr]] in the config file)")?;
            }
        }
        EdrCommand::Alerts {
            device,
            limit,
            unusual,
            json,
            source,
        } => {
            let q = EdrQuery {
                device: device.clone(),
                limit: Some(*limit),
                unusual: *unusual,
            };
            let list: Vec<StoredAlert> = match &source.state_dir {
                None => source.api.client().get(&with_query("/v1/edr_alerts", &q))?,
                Some(dir) => q.run(&mut open_db(dir)?)?,
            };
            if *json {
                return Ok(output::json(&list)?);
            }
            print(&list)?;
            output::line(&format!("{} alerts", list.len()))?;
        }
    }
    Ok(())
}

/// A table of alerts.
pub fn print(list: &[StoredAlert]) -> anyhow::Result<()> {
    let col = |header, right| Column { header, right };
    let rows: Vec<Vec<String>> = list
        .iter()
        .map(|s| {
            vec![
                s.alert.detected.format("%Y-%m-%d %H:%M:%S").to_string(),
                s.alert.vendor.as_str().to_owned(),
                format!("{} {}", s.alert.severity, s.alert.severity_label),
                s.rarity.as_ref().map_or_else(
                    || "-".to_owned(),
                    |r| format!("{}{}", r.score, if r.surfaced { " unusual" } else { "" }),
                ),
                s.alert.headline(),
                s.joined
                    .device_id
                    .map_or_else(|| "unjoined".to_owned(), |d| d.to_string()),
                s.joined.key.clone().unwrap_or_default(),
                s.alert.link.clone().unwrap_or_default(),
            ]
        })
        .collect();
    output::table(
        &[
            col("DETECTED (UTC)", false),
            col("VENDOR", false),
            col("SEVERITY", false),
            col("RARITY", false),
            col("TITLE", false),
            col("DEVICE", true),
            col("JOINED BY", false),
            col("LINK", false),
        ],
        &rows,
    )?;
    Ok(())
}
