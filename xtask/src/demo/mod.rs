//! `cargo xtask demo`: the main job. Builds the lab network of the EDR fixtures in network
//! namespaces (three workstations, a file server and an intranet server behind a gateway,
//! the internet beyond it), gives the sensor four days of this network's routine to learn
//! from, starts `sensor run` on the gateway with a Defender tenant (a local Graph stand-in
//! serving the fixtures) and tells a story with real tools: ordinary use, a beacon, a new
//! tool, a scan, lateral movement over SMB, a bulk upload, and Defender's alerts about it.
//! It shows what the sensor made of each, and ends with a summary table.
//!
//! Everything it makes is removed at the end, on error and on Ctrl-C.

mod acts;
mod psexec;
mod services;
mod story;
mod summary;

use std::{
    path::PathBuf,
    process::Command,
    sync::{
        Arc,
        atomic::{AtomicBool, Ordering},
    },
    thread,
    time::{Duration, Instant},
};

use anyhow::{Context as _, bail};
use serde_json::Value;
use xtask::office::Office;

use crate::process::{banner, cargo, elapsed, run as run_cmd, say};

/// A response policy of the demo's own: impact on a device (ransomware) quarantines it,
/// once an analyst approves.
const POLICY: &str = r#"
[[policy]]
name = "ransomware-needs-a-human"
mode = "confirm"
do = "quarantine"
direction = "both"
for = "4h"

[policy.when]
on = "edr_alert"
tactics = ["impact"]
"#;

/// The sensor's CLI against the running agent (its API socket).
struct Cli {
    sensor: PathBuf,
    socket: PathBuf,
}

impl Cli {
    fn cmd(&self, args: &[&str]) -> Command {
        let mut cmd = Command::new(&self.sensor);
        cmd.args(args).env("SENSOR_SOCKET", &self.socket);
        cmd
    }

    /// Shows the command and what it prints.
    fn show(&self, args: &[&str]) -> anyhow::Result<()> {
        say(&format!("\n$ sensor {}", args.join(" ")));
        run_cmd(&mut self.cmd(args))
    }

    /// What `sensor <args> --json` prints, as a list (empty when it fails).
    fn list(&self, args: &[&str]) -> Vec<Value> {
        let mut all = args.to_vec();
        all.push("--json");
        self.cmd(&all)
            .output()
            .ok()
            .and_then(|o| serde_json::from_slice::<Value>(&o.stdout).ok())
            .and_then(|v| v.as_array().cloned())
            .unwrap_or_default()
    }

    /// Waits up to `limit` for `sensor <args> --json` to list something `found` accepts.
    fn wait_for(&self, args: &[&str], limit: Duration, found: impl Fn(&Value) -> bool) -> bool {
        let start = Instant::now();
        loop {
            if self.list(args).iter().any(&found) {
                return true;
            }
            if start.elapsed() > limit {
                return false;
            }
            thread::sleep(Duration::from_millis(400));
        }
    }
}

/// Runs the demo.
pub fn run() -> anyhow::Result<()> {
    let start = Instant::now();
    let stop = Arc::new(AtomicBool::new(false));
    {
        let stop = Arc::clone(&stop);
        ctrlc::set_handler(move || stop.store(true, Ordering::SeqCst))
            .context("failed to install the Ctrl-C handler")?;
    }
    let check = || -> anyhow::Result<()> {
        if stop.load(Ordering::SeqCst) {
            bail!("interrupted; the lab has been removed");
        }
        Ok(())
    };

    banner("1/9 setup");
    crate::setup::setup()?;
    check()?;

    banner("2/9 build the sensor (its build script builds and embeds the XDP program)");
    run_cmd(&mut cargo(&[
        "build",
        "--package",
        "sensor",
        "--package",
        "sensor-tests",
        "--bin",
        "sensor",
        "--bin",
        "edr-standin",
    ]))?;
    let bin = xtask::target_dir().join("debug");
    let sensor = bin.join("sensor");
    check()?;

    banner("3/9 the lab: the EDR fixtures' network in namespaces");
    let lab = Office::build()?;
    let scratch = std::env::temp_dir().join(format!("{}-demo", lab.prefix));
    std::fs::create_dir_all(&scratch).context("failed to create the demo scratch dir")?;
    let result = story::tell(&lab, &sensor, &bin.join("edr-standin"), &scratch, &check);
    drop(lab);
    let _ = std::fs::remove_dir_all(&scratch);
    let summary = result?;
    say(&format!(
        "\ndemo finished in {}; namespaces, links and pins removed",
        elapsed(start)
    ));
    if !summary.all_met() {
        bail!("the sensor missed part of the story (see the summary)");
    }
    Ok(())
}
