//! `sensor replay FILE...`: capture files through the real pipeline into a database.

use std::path::PathBuf;

use anyhow::Context as _;
use indicatif::{ProgressBar, ProgressStyle};

use super::output;
use crate::{
    capture::{replay::replay, sweep::Timeouts},
    devices::Inventory,
    store::Store,
};

/// Arguments of `sensor replay`.
#[derive(Debug, clap::Args)]
pub struct ReplayArgs {
    /// pcap or pcapng files, replayed in order.
    #[arg(value_name = "FILE", required = true)]
    pub files: Vec<PathBuf>,
    /// Directory of the database the records go to (read them with
    /// `sensor conns --state-dir DIR`). Kept apart from the live agent's by default.
    #[arg(long, value_name = "DIR", default_value = "sensor-replay")]
    pub state_dir: PathBuf,
    /// A network that is inside (its addresses are devices); repeat for several.
    #[arg(long, value_name = "CIDR", default_values_t = super::run::default_internal())]
    pub internal: Vec<ipnet::IpNet>,
    /// Print the summary as JSON.
    #[arg(long)]
    pub json: bool,
    #[command(flatten)]
    pub models: super::ModelArgs,
}

/// Replays and prints a summary.
pub fn replay_cmd(args: &ReplayArgs) -> anyhow::Result<()> {
    let mut store = Store::open(&args.state_dir.join("sensor.db"))?;
    // The bar's length is the files' bytes (known before reading, unlike the frame count).
    let mut total = 0;
    for file in &args.files {
        total += std::fs::metadata(file)
            .with_context(|| format!("failed to read {}", file.display()))?
            .len();
    }
    let bar = ProgressBar::new(total);
    bar.set_style(
        ProgressStyle::with_template(
            "replaying {wide_bar} {binary_bytes}/{binary_total_bytes} {msg} (eta {eta})",
        )
        .unwrap_or_else(|_| ProgressStyle::default_bar()),
    );
    let inventory = Inventory::new(args.internal.clone());
    let engine = args.models.engine(&args.internal, &mut store)?;
    let stats = replay(
        &args.files,
        &mut store,
        Timeouts::default(),
        inventory,
        engine,
        |p| {
            bar.set_position(p.bytes);
            bar.set_message(format!("{} frames", p.frames));
        },
    )
    .context("replay failed (it needs root to run the XDP program)")?;
    bar.finish_and_clear();
    if args.json {
        return Ok(output::json(&stats)?);
    }
    output::line(&format!(
        "replayed {} frames into {} connection records and {} breaches in {}",
        stats.frames,
        stats.records,
        stats.breaches,
        args.state_dir.display()
    ))?;
    if stats.not_ethernet > 0 || stats.cut > 0 {
        output::line(&format!(
            "skipped {} frames that are not Ethernet; cut {} frames longer than {} bytes",
            stats.not_ethernet,
            stats.cut,
            crate::capture::replay::MAX_FRAME
        ))?;
    }
    Ok(())
}
