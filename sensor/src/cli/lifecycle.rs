//! `sensor action ID` (one action with its audit log), `sensor approve ID`, `sensor extend
//! ID DURATION` and `sensor reactivate ID`: an action's life after it is taken.

use std::time::Duration;

use super::{
    actions,
    api::{ApiArgs, who},
    output::{self, Column},
    run::duration,
};
use crate::api::{ClearRequest, ExtendRequest, actions::ActionDetail};

/// Arguments of `sensor action`, `sensor approve` and `sensor reactivate`.
#[derive(Debug, clap::Args)]
pub struct IdArgs {
    /// The action's id.
    #[arg(value_name = "ID")]
    pub id: i64,
    /// Print JSON.
    #[arg(long)]
    pub json: bool,
    #[command(flatten)]
    pub api: ApiArgs,
}

/// Arguments of `sensor extend`.
#[derive(Debug, clap::Args)]
pub struct ExtendArgs {
    /// The action's id.
    #[arg(value_name = "ID")]
    pub id: i64,
    /// The new total duration from when it became active (4h, 90m).
    #[arg(value_name = "DURATION", value_parser = duration)]
    pub total: Duration,
    /// Print JSON.
    #[arg(long)]
    pub json: bool,
    #[command(flatten)]
    pub api: ApiArgs,
}

fn done(action: &crate::response::Action, json: bool, verb: &str) -> anyhow::Result<()> {
    if json {
        return Ok(output::json(action)?);
    }
    actions::print(std::slice::from_ref(action))?;
    output::line(&format!("action {} {verb}", action.id))?;
    Ok(())
}

/// `sensor action`.
pub fn action(args: &IdArgs) -> anyhow::Result<()> {
    let detail: ActionDetail = args.api.client().get(&format!("/v1/actions/{}", args.id))?;
    if args.json {
        return Ok(output::json(&detail)?);
    }
    actions::print(std::slice::from_ref(&detail.action))?;
    output::line(&format!(
        "\nblocked attempts: {}{}",
        detail.action.hits,
        detail
            .action
            .policy
            .as_deref()
            .map(|p| format!("   policy: {p}"))
            .unwrap_or_default()
    ))?;
    output::line("\naudit log:")?;
    let col = |header, right| Column { header, right };
    let rows: Vec<Vec<String>> = detail
        .audit
        .iter()
        .map(|e| {
            vec![
                e.ts.format("%Y-%m-%d %H:%M:%S%.3f").to_string(),
                e.who.clone(),
                e.what.clone(),
                e.detail.clone(),
            ]
        })
        .collect();
    output::table(
        &[
            col("TIME (UTC)", false),
            col("WHO", false),
            col("WHAT", false),
            col("DETAIL", false),
        ],
        &rows,
    )?;
    Ok(())
}

fn post(args: &IdArgs, verb: &str, done_words: &str) -> anyhow::Result<()> {
    let action = args.api.client().post(
        &format!("/v1/actions/{}/{verb}", args.id),
        &ClearRequest { who: who() },
    )?;
    done(&action, args.json, done_words)
}

/// `sensor approve`.
pub fn approve(args: &IdArgs) -> anyhow::Result<()> {
    post(args, "approve", "approved: its rules are in the kernel")
}

/// `sensor reactivate`.
pub fn reactivate(args: &IdArgs) -> anyhow::Result<()> {
    post(args, "reactivate", "reactivated")
}

/// `sensor extend`.
pub fn extend(args: &ExtendArgs) -> anyhow::Result<()> {
    let action = args.api.client().post(
        &format!("/v1/actions/{}/extend", args.id),
        &ExtendRequest {
            total_s: args.total.as_secs(),
            who: who(),
        },
    )?;
    done(&action, args.json, "extended")
}
