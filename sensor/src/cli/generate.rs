//! `sensor completions SHELL` and `sensor man`: generated from the clap definitions, so
//! they never drift from the commands.

use std::io::Write as _;

use clap::CommandFactory as _;

use super::Cli;

/// Arguments of `sensor completions`.
#[derive(Debug, clap::Args)]
pub struct CompletionsArgs {
    /// The shell.
    #[arg(value_enum)]
    pub shell: clap_complete::Shell,
}

/// Prints the completion script for a shell.
pub fn completions(args: &CompletionsArgs) -> anyhow::Result<()> {
    let mut cmd = Cli::command();
    let mut out = std::io::stdout().lock();
    clap_complete::generate(args.shell, &mut cmd, "sensor", &mut out);
    out.flush()?;
    Ok(())
}

/// Prints the man page (roff) of `sensor` and its subcommands.
pub fn man() -> anyhow::Result<()> {
    let cmd = Cli::command();
    let mut out = std::io::stdout().lock();
    clap_mangen::Man::new(cmd.clone()).render(&mut out)?;
    for sub in cmd.get_subcommands() {
        let title = format!("sensor-{}", sub.get_name());
        clap_mangen::Man::new(sub.clone())
            .title(title)
            .render(&mut out)?;
    }
    out.flush()?;
    Ok(())
}
