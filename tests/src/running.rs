//! A lab with an agent running on its gateway: the common start of the namespace tests.

use std::path::PathBuf;

use crate::{Agent, Lab, env, xtask_lab as lab};

/// Idle timeouts short enough for tests to see records within seconds.
pub use xtask::agent::SHORT_TIMEOUTS;

/// Fields drop in order: the agent stops before the lab's namespaces go.
#[derive(Debug)]
pub struct Running {
    /// The agent on the gateway.
    pub agent: Agent,
    /// The namespaces.
    pub lab: Lab,
    /// Scratch files (agent log, run directory).
    pub scratch: env::Scratch,
}

impl Running {
    /// Builds a lab and starts `sensor run` on both gateway interfaces, with idle timeouts
    /// short enough for records to appear within seconds.
    pub fn start(name: &str) -> Self {
        Self::start_with(name, &SHORT_TIMEOUTS)
    }

    /// As [`Running::start`], with `extra` arguments instead of the short timeouts (`&[]`
    /// keeps the agent's defaults, for tests that read live flows at leisure).
    pub fn start_with(name: &str, extra: &[&str]) -> Self {
        let scratch = env::Scratch::new(name);
        let lab = Lab::build().expect("build the lab");
        let agent = Self::agent_with(&lab, &scratch, "agent.log", extra);
        Self {
            agent,
            lab,
            scratch,
        }
    }

    /// Starts another agent on the same lab (after the first stopped), logging to `log`.
    pub fn agent(lab: &Lab, scratch: &env::Scratch, log: &str) -> Agent {
        Self::agent_with(lab, scratch, log, &SHORT_TIMEOUTS)
    }

    fn agent_with(lab: &Lab, scratch: &env::Scratch, log: &str, extra: &[&str]) -> Agent {
        Agent::start(
            &env::sensor_bin(),
            &lab.gateway,
            &lab.gateway_ifaces(),
            &lab.pin_dir(),
            &scratch.path().join("run"),
            &scratch.path().join(log),
            extra,
        )
        .expect("start the agent")
    }

    /// The pin directory as a string, for `--pin-dir`.
    pub fn pins(&self) -> String {
        self.lab.pin_dir().to_string_lossy().into_owned()
    }

    /// The agent's state directory (its database), as `--state-dir`.
    pub fn state(&self) -> String {
        self.scratch
            .path()
            .join("state")
            .to_string_lossy()
            .into_owned()
    }

    /// The agent's API socket.
    pub fn socket(&self) -> PathBuf {
        self.scratch.path().join("run").join("sensor.sock")
    }

    /// Runs `sensor <args>` against this agent's API.
    pub fn cli(&self, args: &[&str]) -> std::process::Output {
        std::process::Command::new(env::sensor_bin())
            .args(args)
            .env("SENSOR_SOCKET", self.socket())
            .output()
            .expect("run sensor")
    }

    /// Runs `sensor <args> --json` against this agent's API, asserts success, parses.
    pub fn api_json(&self, args: &[&str]) -> serde_json::Value {
        let mut all = args.to_vec();
        all.push("--json");
        let out = self.cli(&all);
        assert!(
            out.status.success(),
            "sensor {all:?} failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        serde_json::from_slice(&out.stdout).expect("sensor printed JSON")
    }

    /// Whether the agent lists the lab's client as a device within `secs` seconds (it does
    /// once it has seen and recorded its traffic).
    pub fn client_is_a_device(&self, secs: u64) -> bool {
        env::eventually(secs, || {
            self.api_json(&["devices"]).as_array().is_some_and(|a| {
                a.iter()
                    .any(|d| d["addresses"][0]["addr"] == lab::CLIENT_IP)
            })
        })
    }

    /// A scratch file path.
    pub fn file(&self, name: &str) -> PathBuf {
        self.scratch.path().join(name)
    }
}
