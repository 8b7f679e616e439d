//! `sensor devices`: the device inventory, most recently seen first.

use super::{
    api::DbSource,
    open_db,
    output::{self, Column},
};
use crate::store::devices::Device;

/// Arguments of `sensor devices`.
#[derive(Debug, clap::Args)]
pub struct DevicesArgs {
    /// Print JSON (with every address interval) instead of a table.
    #[arg(long)]
    pub json: bool,
    #[command(flatten)]
    pub source: DbSource,
}

/// Every device, from the agent's API or straight from a store.
pub fn fetch(source: &DbSource) -> anyhow::Result<Vec<Device>> {
    Ok(match &source.state_dir {
        None => source.api.client().get("/v1/devices")?,
        Some(dir) => open_db(dir)?.devices()?,
    })
}

/// Lists the devices.
pub fn devices(args: &DevicesArgs) -> anyhow::Result<()> {
    let devices = fetch(&args.source)?;
    if args.json {
        return Ok(output::json(&devices)?);
    }
    let col = |header, right| Column { header, right };
    let columns = [
        col("ID", true),
        col("MAC", false),
        col("HOSTNAME", false),
        col("ADDRESS", false),
        col("INSIDE", false),
        col("FIRST SEEN (UTC)", false),
        col("LAST SEEN (UTC)", false),
    ];
    let rows: Vec<Vec<String>> = devices
        .iter()
        .map(|d| {
            let current: Vec<String> = d
                .addresses
                .iter()
                .filter(|a| a.until.is_none())
                .map(|a| a.addr.to_string())
                .collect();
            vec![
                d.id.to_string(),
                d.mac.clone().unwrap_or_default(),
                d.hostname.clone().unwrap_or_default(),
                current.join(" "),
                if d.internal { "yes" } else { "no" }.to_owned(),
                d.first_seen.format("%Y-%m-%d %H:%M:%S").to_string(),
                d.last_seen.format("%Y-%m-%d %H:%M:%S").to_string(),
            ]
        })
        .collect();
    output::table(&columns, &rows)?;
    output::line(&format!("{} devices", devices.len()))?;
    Ok(())
}
