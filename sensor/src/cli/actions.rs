//! `sensor actions`: the response actions, newest first, with who, why and until when.

use super::{
    api::ApiArgs,
    output::{self, Column},
};
use crate::{
    api::{ListQuery, client::with_query},
    response::Action,
};

/// Arguments of `sensor actions`.
#[derive(Debug, clap::Args)]
pub struct ActionsArgs {
    /// Only actions in this state: pending, active, cleared, expired or `dry_run`.
    #[arg(long, value_name = "STATE")]
    pub state: Option<String>,
    /// At most this many (0: all).
    #[arg(long, value_name = "N", default_value_t = 50)]
    pub limit: usize,
    /// Print JSON instead of a table.
    #[arg(long)]
    pub json: bool,
    #[command(flatten)]
    pub api: ApiArgs,
}

/// `1h 59m`, `42s`: a number of seconds for people.
pub fn short_duration(secs: f64) -> String {
    let s = secs.max(0.0).round() as u64;
    match s {
        0..60 => format!("{s}s"),
        60..3600 => format!("{}m {}s", s / 60, s % 60),
        3600..86_400 => format!("{}h {}m", s / 3600, s % 3600 / 60),
        _ => format!("{}d {}h", s / 86_400, s % 86_400 / 3600),
    }
}

/// Prints actions as a table.
pub fn print(actions: &[Action]) -> anyhow::Result<()> {
    let col = |header, right| Column { header, right };
    let columns = [
        col("ID", true),
        col("KIND", false),
        col("STATE", false),
        col("RULES", false),
        col("BY", false),
        col("CREATED (UTC)", false),
        col("UNTIL (UTC)", false),
        col("HITS", true),
        col("WHY", false),
    ];
    let rows: Vec<Vec<String>> = actions
        .iter()
        .map(|a| {
            vec![
                a.id.to_string(),
                a.kind.to_string(),
                a.state.to_string(),
                a.targets
                    .iter()
                    .map(ToString::to_string)
                    .collect::<Vec<_>>()
                    .join(", "),
                a.who.clone(),
                a.created.format("%Y-%m-%d %H:%M:%S").to_string(),
                match (a.until, a.duration_s) {
                    (Some(u), _) => u.format("%Y-%m-%d %H:%M:%S").to_string(),
                    (None, Some(s)) => format!("for {}", short_duration(s as f64)),
                    (None, None) => "until cleared".to_owned(),
                },
                a.hits.to_string(),
                a.why.clone(),
            ]
        })
        .collect();
    output::table(&columns, &rows)?;
    Ok(())
}

/// Lists the actions.
pub fn actions(args: &ActionsArgs) -> anyhow::Result<()> {
    let actions: Vec<Action> = args.api.client().get(&with_query(
        "/v1/actions",
        &ListQuery {
            state: args.state.clone(),
            limit: Some(args.limit),
        },
    ))?;
    if args.json {
        return Ok(output::json(&actions)?);
    }
    print(&actions)?;
    output::line(&format!("{} actions", actions.len()))?;
    Ok(())
}
