//! `sensor status`: the data path's counters, summed over CPUs.

use std::collections::BTreeMap;

use serde::Serialize;

use super::{
    PinArgs,
    output::{self, Column},
};
use crate::{
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
    pub pins: PinArgs,
    /// The agent's runtime directory, where it writes its own counters.
    #[arg(long, value_name = "DIR", default_value = "/run/sensor")]
    pub run_dir: std::path::PathBuf,
}

#[derive(Serialize)]
struct Status {
    pin_dir: String,
    flows: usize,
    counters: BTreeMap<&'static str, u64>,
    /// The running agent's counters, if it has written any.
    agent: Option<AgentStats>,
}

/// Prints the number of live flows and every counter.
pub fn status(args: &StatusArgs) -> anyhow::Result<()> {
    let counters = Counters::open_pinned(&args.pins.pin_dir)?.all()?;
    let flows = FlowTable::open_pinned(&args.pins.pin_dir)?.entries()?.len();
    let agent = AgentStats::read(&args.run_dir);
    if args.json {
        let status = Status {
            pin_dir: args.pins.pin_dir.display().to_string(),
            flows,
            counters: counters.iter().map(|(c, v)| (c.name(), *v)).collect(),
            agent,
        };
        return Ok(output::json(&status)?);
    }
    output::line(&format!("live flows: {flows}"))?;
    let rows: Vec<Vec<String>> = counters
        .iter()
        .filter(|(_, v)| args.all || *v != 0)
        .map(|(c, v)| vec![c.name().to_owned(), v.to_string()])
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
    if let Some(a) = agent {
        output::line(&format!(
            "agent: {} flows swept, {} records written, {} flows evicted before recording, \
             {} payloads dropped, {} sweep errors, {} records pruned",
            a.flows_swept,
            a.records_written,
            a.flows_evicted,
            a.payloads_dropped,
            a.sweep_errors,
            a.pruned
        ))?;
    }
    Ok(())
}
