//! `sensor status`: the data path's counters, summed over CPUs, and the agent's own.

use std::path::PathBuf;

use super::{
    api::ApiArgs,
    output::{self, Column},
};
use crate::{
    api::Status,
    ebpf::{Counters, FlowTable},
    telemetry::AgentStats,
};

/// Arguments of `sensor status`.
#[derive(Debug, clap::Args)]
pub struct StatusArgs {
    /// Print JSON instead of a table.
    #[arg(long)]
    pub json: bool,
    /// Show counters that are zero too.
    #[arg(long)]
    pub all: bool,
    #[command(flatten)]
    pub api: ApiArgs,
    /// Read the pinned maps in this directory directly instead of asking the agent (for
    /// a program an agent left enforcing rules).
    #[arg(long, value_name = "DIR")]
    pub pin_dir: Option<PathBuf>,
    /// With --pin-dir: the agent's runtime directory, where it writes its own counters.
    #[arg(long, value_name = "DIR", default_value = "/run/sensor")]
    pub run_dir: PathBuf,
}

/// Prints the number of live flows and every counter.
pub fn status(args: &StatusArgs) -> anyhow::Result<()> {
    let status: Status = match &args.pin_dir {
        None => args.api.client().get("/v1/status")?,
        Some(dir) => Status {
            pin_dir: dir.display().to_string(),
            flows: FlowTable::open_pinned(dir)?.entries()?.len(),
            counters: Counters::open_pinned(dir)?
                .all()?
                .iter()
                .map(|(c, v)| (c.name().to_owned(), *v))
                .collect(),
            agent: AgentStats::read(&args.run_dir),
            active_actions: 0,
        },
    };
    if args.json {
        return Ok(output::json(&status)?);
    }
    output::line(&format!(
        "live flows: {}, active actions: {}",
        status.flows, status.active_actions
    ))?;
    let rows: Vec<Vec<String>> = status
        .counters
        .iter()
        .filter(|(_, v)| args.all || **v != 0)
        .map(|(c, v)| vec![c.clone(), v.to_string()])
        .collect();
    let columns = [
        Column {
            header: "COUNTER",
            right: false,
        },
        Column {
            header: "VALUE",
            right: true,
        },
    ];
    output::table(&columns, &rows)?;
    if let Some(a) = status.agent {
        output::line(&format!(
            "agent: {} flows swept, {} records written, {} flows evicted before recording, \
             {} payloads dropped, {} sweep errors, {} records pruned, {} breaches, {} exported, \
             {} export batches failed",
            a.flows_swept,
            a.records_written,
            a.flows_evicted,
            a.payloads_dropped,
            a.sweep_errors,
            a.pruned,
            a.breaches,
            a.exported,
            a.export_failures
        ))?;
    }
    Ok(())
}
