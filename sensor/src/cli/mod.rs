//! The `sensor` command line: argument definitions and dispatch.
//!
//! Each subcommand has a file; [`output`] is the only module that prints.

pub mod actions;
pub mod api;
pub mod breaches;
pub mod conns;
pub mod detach;
pub mod device;
pub mod devices;
pub mod edr;
pub mod export;
pub mod flows;
pub mod generate;
pub mod incidents;
pub mod lifecycle;
pub mod models;
pub mod output;
pub mod replay;
pub mod respond;
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
#[expect(
    clippy::large_enum_variant,
    reason = "parsed once per process; boxing would only add noise"
)]
pub enum Command {
    /// Load the XDP program, attach it to interfaces and watch until stopped.
    Run(run::RunArgs),
    /// List the live flows in the kernel's flow table.
    Flows(flows::FlowsArgs),
    /// List connection records (flows that ended or went idle) from the store.
    Conns(conns::ConnsArgs),
    /// List the device inventory: MACs, addresses over time, host names.
    Devices(devices::DevicesArgs),
    /// Summarise one device: addresses over time, services used and served, peers, actions.
    Device(device::DeviceArgs),
    /// Tag a device (or remove a tag); response policies can select devices by tag.
    Tag(device::TagArgs),
    /// Show one device's timeline: its connections, actions and (later) breaches and alerts.
    Log(device::LogArgs),
    /// Run capture files through the pipeline into connection records.
    Replay(replay::ReplayArgs),
    /// Show the data path's counters.
    Status(status::StatusArgs),
    /// List the response rules in the kernel, with owners, expiry and hits.
    Rules(rules::RulesArgs),
    /// List model breaches with the evidence that explains them.
    Breaches(breaches::BreachesArgs),
    /// List, show or try the detection models.
    Models(models::ModelsArgs),
    /// Import EDR alerts and list them with the devices they joined.
    Edr(edr::EdrArgs),
    /// Investigate a device around a time: gather, hypothesise, evaluate, conclude.
    Investigate(incidents::InvestigateArgs),
    /// List incidents, newest activity first.
    Incidents(incidents::IncidentsArgs),
    /// Show one incident, or write its report (Markdown, HTML or PDF).
    Incident(incidents::IncidentArgs),
    /// List response actions: who did what, why, until when.
    Actions(actions::ActionsArgs),
    /// Block an address, a network or an endpoint in the kernel.
    Block(respond::BlockArgs),
    /// Refuse new connections to an endpoint for a while (2h by default).
    Suspend(respond::SuspendArgs),
    /// Cut a device off but for the allowed peers.
    Quarantine(respond::QuarantineArgs),
    /// Cut a device's new connections out of the inside networks (or, with
    /// --pattern-of-life, those it never made before) as they open.
    Contain(respond::ContainArgs),
    /// End actions: by id, or every active one naming an address (also refuses a pending
    /// one).
    #[command(visible_alias = "lift")]
    Clear(respond::ClearArgs),
    /// Show one action: its rules, blocked attempts, and audit log.
    Action(lifecycle::IdArgs),
    /// Approve a pending action (a policy in confirm mode asked for it).
    Approve(lifecycle::IdArgs),
    /// Set an active action's total duration anew (from when it became active).
    Extend(lifecycle::ExtendArgs),
    /// Enforce an expired or cleared action again, for its duration from now.
    Reactivate(lifecycle::IdArgs),
    /// Print records as ECS or OCSF JSON lines, or CEF, for a SIEM.
    Export(export::ExportArgs),
    /// Print a shell completion script.
    Completions(generate::CompletionsArgs),
    /// Print the man page.
    Man,
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
    /// Directory of the agent's state: its database (records, devices, baselines, EDR alerts,
    /// incidents, actions and their audit log, cursors).
    #[arg(long, value_name = "DIR", default_value = "/var/lib/sensor")]
    pub state_dir: PathBuf,
}

impl StateArgs {
    /// The database file.
    pub fn db_path(&self) -> PathBuf {
        self.state_dir.join("sensor.db")
    }
}

/// Which detection models run.
#[derive(Debug, clap::Args)]
pub struct ModelArgs {
    /// A directory of model files (TOML) that replace shipped models by name or add to
    /// them. Default: `/etc/sensor/models` if it exists.
    #[arg(long, value_name = "DIR", global = true)]
    pub models_dir: Option<PathBuf>,
    /// Run no detection models.
    #[arg(long, global = true)]
    pub no_detect: bool,
}

/// The models directory read when `--models-dir` is not given, if it exists.
pub const DEFAULT_MODELS_DIR: &str = "/etc/sensor/models";

impl ModelArgs {
    /// The models directory in effect.
    pub fn dir(&self) -> Option<PathBuf> {
        self.models_dir.clone().or_else(|| {
            let d = PathBuf::from(DEFAULT_MODELS_DIR);
            d.is_dir().then_some(d)
        })
    }

    /// The models in effect.
    pub fn load(&self) -> anyhow::Result<Vec<crate::detect::model::Model>> {
        Ok(crate::detect::model::load(self.dir().as_deref())?)
    }

    /// The detection engine, with the baselines `store` holds; `None` with `--no-detect`.
    pub fn engine(
        &self,
        internal: &[ipnet::IpNet],
        store: &mut crate::store::Store,
    ) -> anyhow::Result<Option<crate::detect::Engine>> {
        if self.no_detect {
            return Ok(None);
        }
        let mut engine = crate::detect::Engine::new(self.load()?, internal.to_vec())?;
        engine.restore(store)?;
        Ok(Some(engine))
    }
}

/// Opens the database of a state directory for an offline read; it must exist.
pub fn open_db(state_dir: &std::path::Path) -> anyhow::Result<crate::store::Store> {
    let path = state_dir.join("sensor.db");
    if !path.exists() {
        anyhow::bail!(
            "no database at {}: no agent or replay has used this --state-dir yet",
            path.display()
        );
    }
    Ok(crate::store::Store::open(&path)?)
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
        Command::Actions(args) => actions::actions(&args),
        Command::Breaches(args) => breaches::breaches(&args),
        Command::Edr(args) => edr::edr(&args),
        Command::Investigate(args) => incidents::investigate(&args),
        Command::Incidents(args) => incidents::incidents(&args),
        Command::Incident(args) => incidents::incident(&args),
        Command::Models(args) => models::models(&args),
        Command::Block(args) => respond::block(&args),
        Command::Suspend(args) => respond::suspend(&args),
        Command::Quarantine(args) => respond::quarantine(&args),
        Command::Clear(args) => respond::clear(&args),
        Command::Contain(args) => respond::contain(&args),
        Command::Action(args) => lifecycle::action(&args),
        Command::Approve(args) => lifecycle::approve(&args),
        Command::Extend(args) => lifecycle::extend(&args),
        Command::Reactivate(args) => lifecycle::reactivate(&args),
        Command::Device(args) => device::device(&args),
        Command::Log(args) => device::log(&args),
        Command::Tag(args) => device::tag(&args),
        Command::Export(args) => export::export(&args),
        Command::Completions(args) => generate::completions(&args),
        Command::Man => generate::man(),
        Command::Detach(args) => detach::detach(&args),
    }
}
