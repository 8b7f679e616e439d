//! Printing and running commands for the tasks.

use std::{
    io::Write as _,
    process::Command,
    time::{Duration, Instant},
};

use anyhow::{Context as _, bail};

/// Prints a line on stdout.
pub fn say(text: &str) {
    let _ = writeln!(std::io::stdout().lock(), "{text}");
}

/// Prints a stage banner.
pub fn banner(text: &str) {
    say(&format!("\n==> {text}"));
}

/// Prints an error and its causes on stderr.
pub fn error(err: &anyhow::Error) {
    let _ = writeln!(std::io::stderr().lock(), "error: {err:#}");
}

/// Runs a command with inherited output; fails if it fails.
pub fn run(cmd: &mut Command) -> anyhow::Result<()> {
    let status = cmd
        .status()
        .with_context(|| format!("failed to start {cmd:?}"))?;
    if !status.success() {
        bail!("{cmd:?} failed ({status})");
    }
    Ok(())
}

/// `cargo` as the running cargo, with `args`, run from the workspace root.
pub fn cargo(args: &[&str]) -> Command {
    let mut cmd = Command::new(std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into()));
    cmd.current_dir(xtask::workspace_root()).args(args);
    cmd
}

/// Formats a duration as `1m02s` or `4.2s`.
pub fn elapsed(since: Instant) -> String {
    let d: Duration = since.elapsed();
    let secs = d.as_secs();
    if secs >= 60 {
        format!("{}m{:02}s", secs / 60, secs % 60)
    } else {
        format!("{:.1}s", d.as_secs_f64())
    }
}

/// Runs `sensor <args>` and parses what it prints as JSON; fails with its stderr if it
/// fails.
pub fn sensor_json(sensor: &std::path::Path, args: &[&str]) -> anyhow::Result<serde_json::Value> {
    let out = Command::new(sensor)
        .args(args)
        .output()
        .with_context(|| format!("failed to run sensor {args:?}"))?;
    if !out.status.success() {
        bail!(
            "sensor {args:?} failed: {}",
            String::from_utf8_lossy(&out.stderr).trim()
        );
    }
    serde_json::from_slice(&out.stdout).with_context(|| format!("sensor {args:?} printed no JSON"))
}
