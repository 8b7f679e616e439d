//! `sensor rules`: every rule in the kernel maps, with its owning action, expiry and hits.

use std::path::PathBuf;

use super::{
    api::ApiArgs,
    output::{self, Column},
};
use crate::{clock::Clock, ebpf::Rules, response::RuleView};

/// Arguments of `sensor rules`.
#[derive(Debug, clap::Args)]
pub struct RulesArgs {
    /// Print JSON instead of a table.
    #[arg(long)]
    pub json: bool,
    #[command(flatten)]
    pub api: ApiArgs,
    /// Read the pinned maps in this directory directly instead of asking the agent (the
    /// rules a stopped agent left enforced; owners are then shown by id only).
    #[arg(long, value_name = "DIR")]
    pub pin_dir: Option<PathBuf>,
}

/// Lists the rules.
pub fn rules(args: &RulesArgs) -> anyhow::Result<()> {
    let rows: Vec<RuleView> = match &args.pin_dir {
        None => args.api.client().get("/v1/rules")?,
        Some(dir) => {
            let now = Clock::monotonic_now()?;
            Rules::open_pinned(dir)?
                .list()?
                .into_iter()
                .map(|r| RuleView::of(r, now, None))
                .collect()
        }
    };
    if args.json {
        return Ok(output::json(&rows)?);
    }
    let col = |header, right| Column { header, right };
    let columns = [
        col("RULE", false),
        col("ACTION", true),
        col("HITS", true),
        col("EXPIRES", false),
        col("BY", false),
        col("WHY", false),
    ];
    let table: Vec<Vec<String>> = rows
        .iter()
        .map(|r| {
            let expires = match r.expires_in_s {
                None => "never".to_owned(),
                Some(s) if s <= 0.0 => "expired".to_owned(),
                Some(s) => format!("in {}", super::actions::short_duration(s)),
            };
            let (by, why) = r.action.as_ref().map_or_else(
                || {
                    let by = if r.action_id == 0 { "settings" } else { "" };
                    (by.to_owned(), String::new())
                },
                |a| (a.who.clone(), a.why.clone()),
            );
            vec![
                r.rule.clone(),
                r.action_id.to_string(),
                r.hits.to_string(),
                expires,
                by,
                why,
            ]
        })
        .collect();
    output::table(&columns, &table)?;
    output::line(&format!("{} rules", rows.len()))?;
    Ok(())
}
