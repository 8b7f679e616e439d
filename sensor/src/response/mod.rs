//! Response: the one place that writes kernel rules. Every rule is owned by an [`Action`]
//! in the store (who, why, when, until), so what the kernel enforces can always be
//! explained, cleared, and restored after a restart.
//!
//! # Layout
//! - [`responder`]: applying, clearing and expiring actions.
//! - [`ownership`]: one owner per kernel rule.
//! - [`lifecycle`]: approving, extending and reactivating them, and their audit log.
//! - [`watch`]: egress and pattern-of-life actions, which cut connections as they open.
//! - [`reconcile`]: making the kernel's rules and the store's actions agree on start.

pub mod lifecycle;
pub mod ownership;
pub mod reconcile;
pub mod responder;
pub mod watch;

use std::{fmt, str::FromStr};

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

pub use reconcile::Reconciled;
pub use responder::{ConfigLists, Responder, ResponseError, RuleView};

use crate::ebpf::Target;

/// What an action does.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ActionKind {
    /// Drop traffic of an address, endpoint, network or flow.
    Block,
    /// Drop new connections to an endpoint; established ones go on.
    Suspend,
    /// Cut a device off, but for the allowed peers.
    Quarantine,
    /// Cut a device's new connections to anywhere outside the inside networks, as they
    /// open (each one's flow is blocked within a drain of the event ring, ~100 ms).
    Egress,
    /// Cut a device's new connections that its pattern of life does not hold (a peer or
    /// port it never used), as they open.
    PatternOfLife,
}

/// Where an action is in its life: pending → active → expired or cleared; a dry run is
/// recorded and never enforced.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ActionState {
    /// Waiting for someone to approve it (`sensor approve`); nothing in the kernel.
    Pending,
    /// Its rules are in the kernel.
    Active,
    /// Someone cleared it.
    Cleared,
    /// Its time ran out.
    Expired,
    /// What a policy in dry-run mode would have done; never in the kernel.
    DryRun,
}

/// How a request is carried out.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "snake_case")]
pub enum Mode {
    /// At once.
    #[default]
    Autonomous,
    /// Recorded as pending until someone approves it.
    Confirm,
    /// Recorded as what would have been done; never enforced.
    DryRun,
}

macro_rules! names {
    ($ty:ty { $($variant:ident => $name:literal),* $(,)? }) => {
        impl $ty {
            /// The name used in the store and the API.
            pub const fn as_str(self) -> &'static str {
                match self { $(Self::$variant => $name),* }
            }
        }
        impl FromStr for $ty {
            type Err = String;
            fn from_str(s: &str) -> Result<Self, String> {
                match s {
                    $($name => Ok(Self::$variant),)*
                    other => Err(format!("unknown {}: {other}", stringify!($ty))),
                }
            }
        }
        impl fmt::Display for $ty {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(self.as_str())
            }
        }
    };
}

names!(ActionKind {
    Block => "block",
    Suspend => "suspend",
    Quarantine => "quarantine",
    Egress => "egress",
    PatternOfLife => "pattern_of_life",
});
names!(ActionState {
    Pending => "pending",
    Active => "active",
    Cleared => "cleared",
    Expired => "expired",
    DryRun => "dry_run",
});

/// Who cleared an action, and when.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Cleared {
    /// Who.
    pub who: String,
    /// When.
    pub at: DateTime<Utc>,
}

/// A response action and the kernel rules it owns.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Action {
    /// Its id, which the kernel rules carry.
    pub id: i64,
    /// What it does.
    pub kind: ActionKind,
    /// Where it is.
    pub state: ActionState,
    /// The kernel rules it owns.
    pub targets: Vec<Target>,
    /// Who asked for it (`cli:alice`, later a policy's name).
    pub who: String,
    /// Why.
    pub why: String,
    /// When.
    pub created: DateTime<Utc>,
    /// When it ends by itself; `None` for never.
    pub until: Option<DateTime<Utc>>,
    /// The device it acts on, if one is known.
    pub device_id: Option<i64>,
    /// Who cleared it, if someone did.
    pub cleared: Option<Cleared>,
    /// The policy that took it, if one did (`who` then names the policy and its trigger).
    #[serde(default)]
    pub policy: Option<String>,
    /// The duration asked for, in seconds (`None`: until cleared): a pending action's clock
    /// starts when it is approved, a reactivated one's anew.
    #[serde(default)]
    pub duration_s: Option<u64>,
    /// When it last became active.
    #[serde(default)]
    pub activated: Option<DateTime<Utc>>,
    /// Blocked attempts: the kernel's hits on its rules, kept when they leave the kernel.
    #[serde(default)]
    pub hits: u64,
}

/// A request for an action, as the API takes it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct NewAction {
    /// What to do.
    pub kind: ActionKind,
    /// The rules, for block and suspend (of the matching kinds).
    #[serde(default)]
    pub targets: Vec<Target>,
    /// For quarantine: the device by address, MAC or host name.
    #[serde(default)]
    pub device: Option<String>,
    /// For quarantine: which directions ([`sensor_common::rule::scope`] bits).
    #[serde(default)]
    pub scope: Option<u8>,
    /// How long, in seconds; `None` for until cleared.
    #[serde(default)]
    pub for_s: Option<u64>,
    /// Who asks.
    pub who: String,
    /// Why.
    #[serde(default)]
    pub why: String,
    /// At once, after approval, or as a dry run.
    #[serde(default)]
    pub mode: Mode,
    /// The policy asking, if one is.
    #[serde(default)]
    pub policy: Option<String>,
}
