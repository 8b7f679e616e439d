//! `sensor breaches`: model breaches, newest first, with the evidence that explains them.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};

use super::{
    api::DbSource,
    conns::when,
    open_db,
    output::{self, Column},
};
use crate::{
    api::{BreachesQuery, client::with_query},
    detect::Breach,
    store::devices::Device,
};

/// Arguments of `sensor breaches`.
#[derive(Debug, clap::Args)]
pub struct BreachesArgs {
    /// Only this device's (an address, a MAC, a host name or an id).
    #[arg(long, value_name = "DEVICE")]
    pub device: Option<String>,
    /// Only this model's.
    #[arg(long, value_name = "NAME")]
    pub model: Option<String>,
    /// Only scores at least this.
    #[arg(long, value_name = "0-100")]
    pub min_score: Option<u8>,
    /// Only since this (a time ago or a UTC time).
    #[arg(long, value_name = "WHEN", value_parser = when)]
    pub since: Option<DateTime<Utc>>,
    /// At most this many (0: all).
    #[arg(long, value_name = "N", default_value_t = 50)]
    pub limit: usize,
    /// Show each breach's evidence.
    #[arg(long)]
    pub evidence: bool,
    /// Print JSON instead of a table.
    #[arg(long)]
    pub json: bool,
    #[command(flatten)]
    pub source: DbSource,
}

/// How tables name devices, by id: the host name, else a current address, else the MAC
/// (a device with none of them is shown by its id alone).
pub fn device_names(devices: &[Device]) -> BTreeMap<i64, String> {
    devices
        .iter()
        .filter_map(|d| {
            let address = d
                .addresses
                .iter()
                .find(|a| a.until.is_none())
                .map(|a| a.addr.to_string());
            let name = d.hostname.clone().or(address).or_else(|| d.mac.clone())?;
            Some((d.id, name))
        })
        .collect()
}

/// Prints breaches as a table (and their evidence if asked); a device is shown by its name
/// in `names` with its id, for `sensor device ID`.
pub fn print(
    breaches: &[Breach],
    evidence: bool,
    names: &BTreeMap<i64, String>,
) -> anyhow::Result<()> {
    let col = |header, right| Column { header, right };
    let rows: Vec<Vec<String>> = breaches
        .iter()
        .map(|b| {
            vec![
                b.id.to_string(),
                b.ts.format("%Y-%m-%d %H:%M:%S").to_string(),
                format!("{} v{}", b.model, b.model_version),
                b.score.to_string(),
                b.device_id
                    .map(|d| {
                        names
                            .get(&d)
                            .map_or(d.to_string(), |n| format!("{n} ({d})"))
                    })
                    .unwrap_or_default(),
                b.evidence.summary.clone(),
            ]
        })
        .collect();
    output::table(
        &[
            col("ID", true),
            col("TIME (UTC)", false),
            col("MODEL", false),
            col("SCORE", true),
            col("DEVICE", false),
            col("WHY", false),
        ],
        &rows,
    )?;
    if evidence {
        for b in breaches {
            output::line(&format!("\nbreach {} ({}):", b.id, b.model))?;
            for m in &b.evidence.metrics {
                let against = m.baseline.map(|v| format!(" vs {v}")).unwrap_or_default();
                output::line(&format!(
                    "  {}: {}{against} ({})",
                    m.name, m.observed, m.comparison
                ))?;
            }
            output::line(&format!(
                "  connections: {}",
                b.evidence.connections.join(" ")
            ))?;
        }
    }
    Ok(())
}

/// Lists breaches.
pub fn breaches(args: &BreachesArgs) -> anyhow::Result<()> {
    let q = BreachesQuery {
        device: args.device.clone(),
        model: args.model.clone(),
        min_score: args.min_score,
        since: args.since,
        limit: Some(args.limit),
    };
    let list: Vec<Breach> = match &args.source.state_dir {
        None => args
            .source
            .api
            .client()
            .get(&with_query("/v1/breaches", &q))?,
        Some(dir) => q.run(&mut open_db(dir)?)?,
    };
    if args.json {
        return Ok(output::json(&list)?);
    }
    let devices = super::devices::fetch(&args.source)?;
    print(&list, args.evidence, &device_names(&devices))?;
    output::line(&format!("{} breaches", list.len()))?;
    Ok(())
}
