//! `sensor rules`: every rule in the kernel maps, with its owner, expiry and hits.

use serde::Serialize;

use super::{
    PinArgs,
    output::{self, Column},
};
use crate::{
    clock::Clock,
    ebpf::{Rules, Target},
};

/// Arguments of `sensor rules`.
#[derive(Debug, clap::Args)]
pub struct RulesArgs {
    /// Print JSON instead of a table.
    #[arg(long)]
    pub json: bool,
    #[command(flatten)]
    pub pins: PinArgs,
}

#[derive(Serialize)]
struct Row {
    rule: String,
    target: Target,
    action_id: u64,
    hits: u64,
    /// Seconds until expiry; `None` for never; negative once expired.
    expires_in_s: Option<f64>,
    expired: bool,
}

/// Lists the rules.
pub fn rules(args: &RulesArgs) -> anyhow::Result<()> {
    let rules = Rules::open_pinned(&args.pins.pin_dir)?;
    let now = Clock::monotonic_now()?;
    let rows: Vec<Row> = rules
        .list()?
        .into_iter()
        .map(|r| {
            let expires_in_s =
                (r.value.expires_ns != 0).then(|| (r.value.expires_ns as f64 - now as f64) / 1e9);
            Row {
                rule: r.target.to_string(),
                expired: expires_in_s.is_some_and(|s| s <= 0.0),
                target: r.target,
                action_id: r.value.action_id,
                hits: r.value.hits,
                expires_in_s,
            }
        })
        .collect();
    if args.json {
        return Ok(output::json(&rows)?);
    }
    let col = |header, right| Column { header, right };
    let columns = [
        col("RULE", false),
        col("ACTION", true),
        col("HITS", true),
        col("EXPIRES", false),
    ];
    let table: Vec<Vec<String>> = rows
        .iter()
        .map(|r| {
            let expires = match r.expires_in_s {
                None => "never".to_owned(),
                Some(s) if s <= 0.0 => "expired".to_owned(),
                Some(s) => format!("in {s:.0}s"),
            };
            vec![
                r.rule.clone(),
                r.action_id.to_string(),
                r.hits.to_string(),
                expires,
            ]
        })
        .collect();
    output::table(&columns, &table)?;
    output::line(&format!("{} rules", rows.len()))?;
    Ok(())
}
