//! A `sensor run` process inside a namespace, stopped with SIGTERM on drop.

use std::{
    fs::File,
    io::Write as _,
    path::{Path, PathBuf},
    process::{Child, Stdio},
    thread,
    time::{Duration, Instant},
};

use anyhow::{Context as _, bail};

use crate::netns::Netns;

/// Idle timeouts short enough for a demo or a test to see records within seconds.
pub const SHORT_TIMEOUTS: [&str; 6] = [
    "--tcp-closed-timeout",
    "1s",
    "--udp-timeout",
    "2s",
    "--icmp-timeout",
    "2s",
];

/// How long the agent may take to load, attach and pin.
const READY_TIMEOUT: Duration = Duration::from_secs(30);

/// A running agent.
#[derive(Debug)]
pub struct Agent {
    child: Option<Child>,
    log: PathBuf,
    ready: PathBuf,
}

impl Agent {
    /// Starts `sensor run --iface ... <extra>` in `ns` and waits until it is ready (it writes
    /// `<run_dir>/sensor.ready` once every interface is attached). Its log goes to `log`; its
    /// database to `state` beside the run directory, never the system's.
    pub fn start(
        sensor: &Path,
        ns: &Netns,
        ifaces: &[&str],
        pin_dir: &Path,
        run_dir: &Path,
        log: &Path,
        extra: &[&str],
    ) -> anyhow::Result<Self> {
        let out =
            File::create(log).with_context(|| format!("failed to create {}", log.display()))?;
        let err = out
            .try_clone()
            .context("failed to duplicate the log file")?;
        // A killed agent leaves its ready marker behind; this one must write its own.
        let ready = run_dir.join("sensor.ready");
        match std::fs::remove_file(&ready) {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => {
                return Err(e).with_context(|| format!("failed to remove {}", ready.display()));
            }
            _ => {}
        }
        let mut cmd = ns.command(&sensor.to_string_lossy());
        cmd.arg("run");
        for iface in ifaces {
            cmd.args(["--iface", iface]);
        }
        cmd.arg("--pin-dir")
            .arg(pin_dir)
            .arg("--run-dir")
            .arg(run_dir)
            .arg("--state-dir")
            .arg(run_dir.with_file_name("state"))
            .args(extra)
            .env("NO_COLOR", "1")
            .stdin(Stdio::null())
            .stdout(out)
            .stderr(err);
        let child = cmd.spawn().context("failed to start sensor run")?;
        let mut agent = Self {
            child: Some(child),
            log: log.to_path_buf(),
            ready,
        };
        agent.wait_ready()?;
        Ok(agent)
    }

    fn wait_ready(&mut self) -> anyhow::Result<()> {
        let start = Instant::now();
        while start.elapsed() < READY_TIMEOUT {
            if self.ready.exists() {
                return Ok(());
            }
            if let Some(child) = self.child.as_mut()
                && let Some(status) = child.try_wait().context("failed to poll the agent")?
            {
                bail!("sensor run exited early ({status}):\n{}", self.log_text());
            }
            thread::sleep(Duration::from_millis(50));
        }
        bail!(
            "sensor run was not ready within {READY_TIMEOUT:?}:\n{}",
            self.log_text()
        )
    }

    /// Everything the agent has logged so far.
    pub fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// Kills the agent with SIGKILL, as a crash would, and waits for it.
    pub fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Stops the agent with SIGTERM and waits for it; returns its exit success.
    pub fn stop(&mut self) -> anyhow::Result<bool> {
        let Some(mut child) = self.child.take() else {
            return Ok(true);
        };
        // `ip netns exec` execs the program, so the child's pid is the agent's.
        let pid = child.id().to_string();
        let _ = std::process::Command::new("kill")
            .args(["-TERM", &pid])
            .status();
        let start = Instant::now();
        while start.elapsed() < Duration::from_secs(10) {
            if let Some(status) = child.try_wait().context("failed to poll the agent")? {
                return Ok(status.success());
            }
            thread::sleep(Duration::from_millis(50));
        }
        let _ = child.kill();
        let _ = child.wait();
        bail!("sensor run ignored SIGTERM for 10 s:\n{}", self.log_text())
    }
}

impl Drop for Agent {
    fn drop(&mut self) {
        if let Err(err) = self.stop() {
            let _ = writeln!(std::io::stderr(), "warning: {err:#}");
        }
    }
}
