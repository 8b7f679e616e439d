//! The `sensor` command line: argument definitions and dispatch.
//!
//! Each subcommand has a file; [`output`] is the only module that prints.

pub mod conns;
pub mod detach;
pub mod devices;
pub mod flows;
pub mod output;
pub mod replay;
pub mod rules;
pub mod run;
pub mod status;

use std::path::PathBuf;

use clap::{Parser, Subcommand};

use crate::ebpf::DEFAULT_PIN_DIR;

/// Self-learning network detection and response sensor for Linux gateways.
#[derive(Debug, Parser)]
#[command(name = "sensor", version, about, propagate_version = true)]
pub struct Cli {
    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// The subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Load the XDP program, attach it to interfaces and watch until stopped.
    Run(run::RunArgs),
    /// List the live flows in the kernel's flow table.
    Flows(flows::FlowsArgs),
    /// List connection records (flows that ended or went idle) from the store.
    Conns(conns::ConnsArgs),
    /// List the device inventory: MACs, addresses over time, host names.
    Devices(devices::DevicesArgs),
    /// Run capture files through the pipeline into connection records.
    Replay(replay::ReplayArgs),
    /// Show the data path's counters.
    Status(status::StatusArgs),
    /// List the response rules in the kernel, with owners, expiry and hits.
    Rules(rules::RulesArgs),
    /// Detach the XDP program an agent left attached and remove its pinned maps.
    Detach(detach::DetachArgs),
}

/// Where the agent pins its maps; shared by the commands that read them.
#[derive(Debug, clap::Args)]
pub struct PinArgs {
    /// Directory of the pinned maps (on a bpf filesystem).
    #[arg(long, value_name = "DIR", default_value = DEFAULT_PIN_DIR)]
    pub pin_dir: PathBuf,
}

/// Where the agent keeps its state (the database).
#[derive(Debug, clap::Args)]
pub struct StateArgs {
    /// Directory of the agent's state: its database, later baselines and cursors.
    #[arg(long, value_name = "DIR", default_value = "/var/lib/sensor")]
    pub state_dir: PathBuf,
}

impl StateArgs {
    /// The database file.
    pub fn db_path(&self) -> PathBuf {
        self.state_dir.join("sensor.db")
    }
}

/// Runs the chosen subcommand.
pub fn dispatch(cli: Cli) -> anyhow::Result<()> {
    match cli.command {
        Command::Run(args) => run::run(&args),
        Command::Flows(args) => flows::flows(&args),
        Command::Conns(args) => conns::conns(&args),
        Command::Replay(args) => replay::replay_cmd(&args),
        Command::Devices(args) => devices::devices(&args),
        Command::Status(args) => status::status(&args),
        Command::Rules(args) => rules::rules(&args),
        Command::Detach(args) => detach::detach(&args),
    }
}
