//! `sensor run`: bring up the data path and keep it up until SIGINT or SIGTERM.

use std::path::PathBuf;

use anyhow::Context as _;
use sensor_common::FLOWS_MAX_ENTRIES;
use tokio::signal::unix::{SignalKind, signal};
use tracing::info;

use super::PinArgs;
use crate::{
    ebpf::{AttachMode, Datapath, LoadOptions},
    instance_lock::InstanceLock,
};

/// Arguments of `sensor run`.
#[derive(Debug, clap::Args)]
pub struct RunArgs {
    /// Interface to watch; repeat for several (a gateway's inside and outside).
    #[arg(long = "iface", value_name = "IF", required = true)]
    pub ifaces: Vec<String>,
    /// XDP mode: native falls back to generic when the driver refuses, unless forced.
    #[arg(long, value_enum, default_value_t = AttachMode::Auto)]
    pub mode: AttachMode,
    /// Entries in the kernel flow table (least recently used flows are evicted when full).
    #[arg(long, value_name = "N", default_value_t = FLOWS_MAX_ENTRIES)]
    pub flow_table_size: u32,
    #[command(flatten)]
    pub pins: PinArgs,
    /// Directory for the agent's runtime files (lock, later the API socket).
    #[arg(long, value_name = "DIR", default_value = "/run/sensor")]
    pub run_dir: PathBuf,
}

/// Loads, attaches, pins, then waits for a signal; dropping the data path detaches the
/// program and removes the pins.
pub fn run(args: &RunArgs) -> anyhow::Result<()> {
    let _lock = InstanceLock::acquire(&args.run_dir)?;
    let mut datapath = Datapath::load(LoadOptions {
        flow_table_size: args.flow_table_size,
    })
    .context("failed to bring up the data path (are you root?)")?;
    for iface in &args.ifaces {
        let mode = datapath.attach(iface, args.mode)?;
        info!(iface = %iface, mode = %mode, "attached XDP program");
    }
    datapath.pin(&args.pins.pin_dir)?;
    info!(
        interfaces = args.ifaces.len(),
        pin_dir = %args.pins.pin_dir.display(),
        flow_table_size = args.flow_table_size,
        "sensor running; stop with Ctrl-C or SIGTERM"
    );
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("failed to start the async runtime")?;
    let signal = runtime.block_on(wait_for_shutdown())?;
    info!(
        signal,
        "stopping: detaching the XDP program and removing pins"
    );
    drop(datapath);
    Ok(())
}

/// Waits for SIGINT or SIGTERM and says which.
async fn wait_for_shutdown() -> anyhow::Result<&'static str> {
    let mut term = signal(SignalKind::terminate()).context("failed to watch SIGTERM")?;
    let mut int = signal(SignalKind::interrupt()).context("failed to watch SIGINT")?;
    Ok(tokio::select! {
        _ = term.recv() => "SIGTERM",
        _ = int.recv() => "SIGINT",
    })
}
