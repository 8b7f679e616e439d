//! `sensor device WHO` (a summary) and `sensor log WHO` (the device's timeline).

use super::{
    actions,
    api::DbSource,
    open_db,
    output::{self, Column},
};
use crate::{
    api::{
        ListQuery,
        client::{segment, with_query},
    },
    store::timeline::{DeviceSummary, LogEntry},
};

/// Arguments of `sensor device`.
#[derive(Debug, clap::Args)]
pub struct DeviceArgs {
    /// The device: an address, a MAC, a host name or a device id.
    #[arg(value_name = "DEVICE")]
    pub who: String,
    /// Print JSON instead of text.
    #[arg(long)]
    pub json: bool,
    #[command(flatten)]
    pub source: DbSource,
}

/// Arguments of `sensor tag`.
#[derive(Debug, clap::Args)]
pub struct TagArgs {
    /// The device: an address, a MAC, a host name or a device id.
    #[arg(value_name = "DEVICE")]
    pub who: String,
    /// The tag (`server`, `vip`, `ot`, ...); response policies can select on it.
    #[arg(value_name = "TAG")]
    pub tag: String,
    /// Remove the tag instead.
    #[arg(long)]
    pub remove: bool,
    /// Print JSON.
    #[arg(long)]
    pub json: bool,
    #[command(flatten)]
    pub api: super::api::ApiArgs,
}

/// `sensor tag`.
pub fn tag(args: &TagArgs) -> anyhow::Result<()> {
    let tags: Vec<String> = args.api.client().post(
        &format!("/v1/devices/{}/tags", segment(&args.who)),
        &crate::api::TagRequest {
            tag: args.tag.clone(),
            remove: args.remove,
        },
    )?;
    if args.json {
        return Ok(output::json(&tags)?);
    }
    output::line(&format!(
        "{}: {}",
        args.who,
        if tags.is_empty() {
            "no tags".to_owned()
        } else {
            tags.join(", ")
        }
    ))?;
    Ok(())
}

/// Arguments of `sensor log`.
#[derive(Debug, clap::Args)]
pub struct LogArgs {
    /// The device: an address, a MAC, a host name or a device id.
    #[arg(value_name = "DEVICE")]
    pub who: String,
    /// At most this many entries (0: all).
    #[arg(long, value_name = "N", default_value_t = 100)]
    pub limit: usize,
    /// Print JSON instead of a table.
    #[arg(long)]
    pub json: bool,
    #[command(flatten)]
    pub source: DbSource,
}

fn not_found(who: &str) -> anyhow::Error {
    anyhow::anyhow!("no device known as {who} (see `sensor devices`)")
}

/// `sensor device`.
pub fn device(args: &DeviceArgs) -> anyhow::Result<()> {
    let summary: DeviceSummary = match &args.source.state_dir {
        None => args
            .source
            .api
            .client()
            .get(&format!("/v1/devices/{}", segment(&args.who)))?,
        Some(dir) => {
            let mut store = open_db(dir)?;
            let id = crate::api::device_id(&mut store, &args.who)?;
            store
                .device_summary(id)?
                .ok_or_else(|| not_found(&args.who))?
        }
    };
    if args.json {
        return Ok(output::json(&summary)?);
    }
    let d = &summary.device;
    output::line(&format!(
        "device {}  risk {}  mac {}  name {}  {}  first seen {}  last seen {}{}",
        d.id,
        summary.risk,
        d.mac.as_deref().unwrap_or("-"),
        d.hostname.as_deref().unwrap_or("-"),
        if d.internal { "inside" } else { "outside" },
        d.first_seen.format("%Y-%m-%d %H:%M:%S"),
        d.last_seen.format("%Y-%m-%d %H:%M:%S"),
        if summary.tags.is_empty() {
            String::new()
        } else {
            format!("  tags {}", summary.tags.join(", "))
        }
    ))?;
    output::line("\naddresses over time (UTC):")?;
    for a in &d.addresses {
        output::line(&format!(
            "  {:<40} {} .. {}",
            a.addr,
            a.from.format("%Y-%m-%d %H:%M:%S"),
            a.until.map_or_else(
                || "now".to_owned(),
                |u| u.format("%Y-%m-%d %H:%M:%S").to_string()
            )
        ))?;
    }
    let col = |header, right| Column { header, right };
    for (title, services) in [
        ("services used", &summary.services_used),
        ("services served", &summary.services_served),
    ] {
        output::line(&format!("\n{title}:"))?;
        let rows: Vec<Vec<String>> = services
            .iter()
            .map(|s| {
                vec![
                    format!("{}/{}", s.proto, s.port),
                    s.service.clone().unwrap_or_default(),
                    s.connections.to_string(),
                    s.bytes.to_string(),
                ]
            })
            .collect();
        output::table(
            &[
                col("PORT", false),
                col("SERVICE", false),
                col("CONNS", true),
                col("BYTES", true),
            ],
            &rows,
        )?;
    }
    output::line("\npeers:")?;
    let rows: Vec<Vec<String>> = summary
        .peers
        .iter()
        .map(|p| {
            vec![
                p.addr.clone(),
                p.connections.to_string(),
                p.bytes.to_string(),
            ]
        })
        .collect();
    output::table(
        &[col("PEER", false), col("CONNS", true), col("BYTES", true)],
        &rows,
    )?;
    for h in &summary.edr_hosts {
        output::line(&format!(
            "\n{} sees it as {} ({}): {}",
            h.vendor.as_str(),
            h.name.as_deref().unwrap_or("?"),
            h.vendor_device_id,
            h.os().unwrap_or_else(|| "OS unknown".to_owned())
        ))?;
        let rows: Vec<Vec<String>> = h
            .vulnerabilities
            .iter()
            .map(|v| {
                vec![
                    v.cve.clone(),
                    v.severity.clone(),
                    format!("{} {}", v.software, v.version.as_deref().unwrap_or("")),
                ]
            })
            .collect();
        if !rows.is_empty() {
            output::table(
                &[
                    col("CVE", false),
                    col("SEVERITY", false),
                    col("SOFTWARE", false),
                ],
                &rows,
            )?;
        }
    }
    if !summary.edr_alerts.is_empty() {
        output::line("\nEDR alerts:")?;
        super::edr::print(&summary.edr_alerts)?;
    }
    if !summary.breaches.is_empty() {
        output::line("\nbreaches:")?;
        let names = super::breaches::device_names(std::slice::from_ref(&summary.device));
        super::breaches::print(&summary.breaches, false, &names)?;
    }
    if !summary.actions.is_empty() {
        output::line("\nactions:")?;
        actions::print(&summary.actions)?;
    }
    Ok(())
}

/// `sensor log`.
pub fn log(args: &LogArgs) -> anyhow::Result<()> {
    let entries: Vec<LogEntry> = match &args.source.state_dir {
        None => args.source.api.client().get(&with_query(
            &format!("/v1/devices/{}/log", segment(&args.who)),
            &ListQuery {
                state: None,
                limit: Some(args.limit),
            },
        ))?,
        Some(dir) => {
            let mut store = open_db(dir)?;
            let id = crate::api::device_id(&mut store, &args.who)?;
            store.device_log(id, args.limit)?
        }
    };
    if args.json {
        return Ok(output::json(&entries)?);
    }
    let col = |header, right| Column { header, right };
    let rows: Vec<Vec<String>> = entries
        .iter()
        .map(|e| {
            vec![
                e.ts.format("%Y-%m-%d %H:%M:%S%.3f").to_string(),
                e.kind.clone(),
                e.summary.clone(),
                e.reference.clone().unwrap_or_default(),
            ]
        })
        .collect();
    output::table(
        &[
            col("TIME (UTC)", false),
            col("KIND", false),
            col("WHAT", false),
            col("REF", false),
        ],
        &rows,
    )?;
    output::line(&format!("{} entries", entries.len()))?;
    Ok(())
}
