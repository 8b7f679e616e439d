//! `sensor detach`: remove what an agent left in the kernel: its pinned XDP links (which
//! detaches the program) and its pinned maps (rules included).

use super::{PinArgs, output};
use crate::ebpf::detach_all;

/// Arguments of `sensor detach`.
#[derive(Debug, clap::Args)]
pub struct DetachArgs {
    #[command(flatten)]
    pub pins: PinArgs,
}

/// Detaches and unpins.
pub fn detach(args: &DetachArgs) -> anyhow::Result<()> {
    let links = detach_all(&args.pins.pin_dir)?;
    output::line(&format!(
        "detached {links} interface(s); removed the pins under {}",
        args.pins.pin_dir.display()
    ))?;
    Ok(())
}
