//! Response policies as the config file gives them (`[[policy]]`), and the one shipped
//! out of the box: when an EDR alert with network evidence (a remote endpoint, or a breach
//! on the same device within the hour) arrives for a device, block the triggering
//! connections and suspend new connections to that endpoint on that port for two hours.
//!
//! ```toml
//! [[policy]]
//! name = "exfil-needs-a-human"
//! mode = "confirm"                 # autonomous (default) | confirm | dry_run
//! do = "quarantine"                # block_and_suspend | block_connections | suspend_endpoint
//!                                  # | quarantine | block_outbound | pattern_of_life
//! direction = "out"                # quarantine: in | out | both (default)
//! for = "4h"                       # default 2h; "0s" for until cleared
//! scope = ["10.77.1.0/24"]         # only devices in these networks (all if empty)
//! repeat_growth = 2.0              # each repeat within repeat_within lasts this much longer
//! repeat_max = "24h"
//! repeat_within = "7d"
//!
//! [policy.when]
//! on = "edr_alert"                 # edr_alert | breach | incident
//! tactics = ["exfiltration"]       # EDR or incident tactics (any if empty)
//! unusual = false                  # EDR: only alerts unusual for the device
//! min_score = 0                    # breach/incident score, EDR severity
//! models = []                      # breach: only these models
//! vendors = []                     # EDR: only these vendors
//! network_evidence = false         # EDR: only alerts with a remote endpoint or a breach
//! tags = ["vip"]                   # only devices tagged so (`sensor tag DEVICE vip`)
//! ```
//!
//! A policy of the same name as the shipped one replaces it (`enabled = false` turns it
//! off). The never-block list wins over every policy.

use std::time::Duration;

use ipnet::IpNet;
use serde::Deserialize;

use crate::{edr::Vendor, response::Mode};

const fn yes() -> bool {
    true
}
const fn two_hours() -> Duration {
    Duration::from_hours(2)
}
const fn growth() -> f64 {
    2.0
}
const fn day() -> Duration {
    Duration::from_hours(24)
}
const fn week() -> Duration {
    Duration::from_hours(24 * 7)
}

/// What a policy waits for.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum On {
    /// An EDR alert joined to a device.
    #[default]
    EdrAlert,
    /// A model breach on a device.
    Breach,
    /// An incident (its investigated device).
    Incident,
}

/// What a policy does.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Do {
    /// Block the triggering connections and suspend their endpoints.
    BlockAndSuspend,
    /// Block the triggering connections (their flows).
    BlockConnections,
    /// Suspend new connections to the triggering endpoints.
    SuspendEndpoint,
    /// Quarantine the device.
    Quarantine,
    /// Cut the device's new connections out of the inside networks as they open.
    BlockOutbound,
    /// Cut the device's new connections its pattern of life does not hold.
    PatternOfLife,
}

/// Which way a quarantine cuts.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Direction {
    /// Traffic to the device.
    In,
    /// Traffic from the device.
    Out,
    /// Both.
    #[default]
    Both,
}

/// The trigger.
#[derive(Clone, Debug, Default, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct When {
    /// What to wait for.
    #[serde(default)]
    pub on: On,
    /// EDR alert or incident tactics (case, spaces and dashes ignored); any if empty.
    #[serde(default)]
    pub tactics: Vec<String>,
    /// EDR: only alerts unusual for their device.
    #[serde(default)]
    pub unusual: bool,
    /// Breach and incident score, EDR vendor severity (0-100).
    #[serde(default)]
    pub min_score: u8,
    /// Breach: only these models; any if empty.
    #[serde(default)]
    pub models: Vec<String>,
    /// EDR: only these vendors; any if empty.
    #[serde(default)]
    pub vendors: Vec<Vendor>,
    /// EDR: only alerts with network evidence (a remote endpoint, or a breach on the same
    /// device within the hour).
    #[serde(default)]
    pub network_evidence: bool,
    /// Only devices with one of these tags (`sensor tag`); any device if empty.
    #[serde(default)]
    pub tags: Vec<String>,
}

/// A policy.
#[derive(Clone, Debug, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Policy {
    /// Unique; names the policy in actions and the audit log.
    pub name: String,
    /// What it is for.
    #[serde(default)]
    pub description: String,
    /// False to turn it off.
    #[serde(default = "yes")]
    pub enabled: bool,
    /// At once, after approval, or as a dry run.
    #[serde(default)]
    pub mode: Mode,
    /// The trigger.
    pub when: When,
    /// What to do.
    #[serde(rename = "do")]
    pub action: Do,
    /// Quarantine: which way.
    #[serde(default)]
    pub direction: Direction,
    /// How long (0: until cleared).
    #[serde(
        rename = "for",
        default = "two_hours",
        deserialize_with = "crate::config_file::duration"
    )]
    pub duration: Duration,
    /// Only devices in these networks; all if empty.
    #[serde(default)]
    pub scope: Vec<IpNet>,
    /// Each repeat on the same device within `repeat_within` lasts this many times longer.
    #[serde(default = "growth")]
    pub repeat_growth: f64,
    /// The longest a repeat may last.
    #[serde(default = "day", deserialize_with = "crate::config_file::duration")]
    pub repeat_max: Duration,
    /// How far back repeats count.
    #[serde(default = "week", deserialize_with = "crate::config_file::duration")]
    pub repeat_within: Duration,
}

/// The name of the policy shipped enabled.
pub const DEFAULT_NAME: &str = "edr-network-evidence";

/// The policy shipped enabled: the seed's behaviour.
pub fn shipped() -> Policy {
    Policy {
        name: DEFAULT_NAME.to_owned(),
        description: "An EDR alert with network evidence for a device: block the triggering \
                      connections and suspend new connections to that endpoint on that port \
                      for two hours."
            .to_owned(),
        enabled: true,
        mode: Mode::Autonomous,
        when: When {
            on: On::EdrAlert,
            network_evidence: true,
            ..When::default()
        },
        action: Do::BlockAndSuspend,
        direction: Direction::Both,
        duration: two_hours(),
        scope: Vec::new(),
        repeat_growth: growth(),
        repeat_max: day(),
        repeat_within: week(),
    }
}

/// The policies in force: the shipped one unless replaced by name, then the configured.
pub fn in_force(configured: &[Policy]) -> Vec<Policy> {
    let mut all = Vec::new();
    if !configured.iter().any(|p| p.name == DEFAULT_NAME) {
        all.push(shipped());
    }
    all.extend(configured.iter().cloned());
    all.retain(|p| p.enabled);
    all
}
