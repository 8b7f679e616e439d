//! `sensor block`, `suspend`, `quarantine` and `clear`: manual response through the agent,
//! which records who did it and why, and owns the kernel rules it writes.

use std::{net::IpAddr, time::Duration};

use anyhow::Context as _;
use ipnet::IpNet;
use sensor_common::rule::scope;

use super::{
    actions,
    api::{ApiArgs, who},
    output,
    run::duration,
};
use crate::{
    api::{ClearRequest, ListQuery, client::with_query},
    ebpf::{Endpoint, Target},
    response::{Action, ActionKind, NewAction},
};

/// Which side of a packet an address rule matches.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum Side {
    /// As source.
    Src,
    /// As destination.
    Dst,
    /// Either.
    Both,
}

impl Side {
    const fn bits(self) -> u8 {
        match self {
            Self::Src => scope::SRC,
            Self::Dst => scope::DST,
            Self::Both => scope::BOTH,
        }
    }
}

/// A transport protocol for endpoint rules.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum Proto {
    /// TCP.
    Tcp,
    /// UDP.
    Udp,
}

impl Proto {
    const fn number(self) -> u8 {
        match self {
            Self::Tcp => 6,
            Self::Udp => 17,
        }
    }
}

/// What every action takes.
#[derive(Debug, clap::Args)]
pub struct Common {
    /// Why (kept with the action, shown by `sensor actions` and in the device's log).
    #[arg(long, value_name = "TEXT", default_value = "")]
    pub why: String,
    /// Print the action as JSON.
    #[arg(long)]
    pub json: bool,
    #[command(flatten)]
    pub api: ApiArgs,
}

/// Arguments of `sensor block`.
#[derive(Debug, clap::Args)]
pub struct BlockArgs {
    /// An address (10.0.0.5), a network (10.0.0.0/24) or an endpoint (10.0.0.5:445,
    /// `[2001:db8::5]:443`).
    #[arg(value_name = "TARGET")]
    pub target: String,
    /// Which side of a packet the address matches.
    #[arg(long, value_enum, default_value_t = Side::Both)]
    pub side: Side,
    /// The endpoint's protocol.
    #[arg(long, value_enum, default_value_t = Proto::Tcp)]
    pub proto: Proto,
    /// How long (90s, 30m, 2h); until cleared if left out.
    #[arg(long = "for", value_name = "DURATION", value_parser = duration)]
    pub for_: Option<Duration>,
    #[command(flatten)]
    pub common: Common,
}

/// Arguments of `sensor suspend`.
#[derive(Debug, clap::Args)]
pub struct SuspendArgs {
    /// The endpoint new connections to which are refused: 10.0.0.5:445, `[2001:db8::5]:22`.
    #[arg(value_name = "IP:PORT")]
    pub endpoint: String,
    /// The endpoint's protocol.
    #[arg(long, value_enum, default_value_t = Proto::Tcp)]
    pub proto: Proto,
    /// How long.
    #[arg(long = "for", value_name = "DURATION", value_parser = duration, default_value = "2h")]
    pub for_: Duration,
    #[command(flatten)]
    pub common: Common,
}

/// Arguments of `sensor quarantine`.
#[derive(Debug, clap::Args)]
pub struct QuarantineArgs {
    /// The device: an address, a MAC, a host name or a device id.
    #[arg(value_name = "DEVICE")]
    pub device: String,
    /// Only traffic to the device.
    #[arg(long = "in", conflicts_with_all = ["out_", "both"])]
    pub in_: bool,
    /// Only traffic from the device.
    #[arg(long = "out", conflicts_with = "both")]
    pub out_: bool,
    /// Both ways (the default).
    #[arg(long)]
    pub both: bool,
    /// How long (90s, 30m, 2h); until cleared if left out.
    #[arg(long = "for", value_name = "DURATION", value_parser = duration)]
    pub for_: Option<Duration>,
    #[command(flatten)]
    pub common: Common,
}

/// Arguments of `sensor contain`.
#[derive(Debug, clap::Args)]
pub struct ContainArgs {
    /// The device: an address, a MAC, a host name or a device id.
    #[arg(value_name = "DEVICE")]
    pub device: String,
    /// Cut only the connections its learned pattern of life does not hold (a peer or port
    /// it never used), instead of every new connection out of the inside networks.
    #[arg(long)]
    pub pattern_of_life: bool,
    /// How long (90s, 30m, 2h); until cleared if left out.
    #[arg(long = "for", value_name = "DURATION", value_parser = duration)]
    pub for_: Option<Duration>,
    #[command(flatten)]
    pub common: Common,
}

/// Arguments of `sensor clear`.
#[derive(Debug, clap::Args)]
pub struct ClearArgs {
    /// An action id (see `sensor actions`), or an address whose active actions all end.
    #[arg(value_name = "ACTION|ADDRESS")]
    pub what: String,
    /// Print the cleared actions as JSON.
    #[arg(long)]
    pub json: bool,
    #[command(flatten)]
    pub api: ApiArgs,
}

/// `10.0.0.5:445` or `[2001:db8::5]:443`.
fn parse_endpoint(s: &str, proto: Proto) -> Option<Endpoint> {
    let addr: std::net::SocketAddr = s.parse().ok()?;
    Some(Endpoint {
        addr: addr.ip(),
        port: addr.port(),
        proto: proto.number(),
    })
}

/// The block rule a target string means.
fn block_target(args: &BlockArgs) -> anyhow::Result<Target> {
    let t = args.target.as_str();
    if let Ok(addr) = t.parse::<IpAddr>() {
        return Ok(Target::BlockIp {
            addr,
            scope: args.side.bits(),
        });
    }
    if let Ok(net) = t.parse::<IpNet>() {
        return Ok(Target::BlockCidr {
            net,
            scope: args.side.bits(),
        });
    }
    if let Some(endpoint) = parse_endpoint(t, args.proto) {
        return Ok(Target::BlockEndpoint {
            endpoint,
            scope: args.side.bits(),
        });
    }
    anyhow::bail!(
        "`{t}` is not an address, a network or an endpoint; write 10.0.0.5, 10.0.0.0/24, \
         10.0.0.5:445 or [2001:db8::5]:443"
    )
}

fn submit(common: &Common, request: &NewAction) -> anyhow::Result<()> {
    let action: Action = common.api.client().post("/v1/actions", request)?;
    if common.json {
        return Ok(output::json(&action)?);
    }
    actions::print(std::slice::from_ref(&action))?;
    output::line(&format!(
        "action {} is in force; end it with `sensor clear {}`",
        action.id, action.id
    ))?;
    Ok(())
}

fn seconds(d: Duration) -> u64 {
    d.as_secs().max(1)
}

/// `sensor block`.
pub fn block(args: &BlockArgs) -> anyhow::Result<()> {
    let target = block_target(args)?;
    submit(
        &args.common,
        &NewAction {
            kind: ActionKind::Block,
            targets: vec![target],
            device: None,
            scope: None,
            for_s: args.for_.map(seconds),
            who: who(),
            mode: crate::response::Mode::Autonomous,
            policy: None,
            why: args.common.why.clone(),
        },
    )
}

/// `sensor suspend`.
pub fn suspend(args: &SuspendArgs) -> anyhow::Result<()> {
    let endpoint = parse_endpoint(&args.endpoint, args.proto).with_context(|| {
        format!(
            "`{}` is not an endpoint; write 10.0.0.5:445 or [2001:db8::5]:22",
            args.endpoint
        )
    })?;
    submit(
        &args.common,
        &NewAction {
            kind: ActionKind::Suspend,
            targets: vec![Target::Suspend { endpoint }],
            device: None,
            scope: None,
            for_s: Some(seconds(args.for_)),
            who: who(),
            mode: crate::response::Mode::Autonomous,
            policy: None,
            why: args.common.why.clone(),
        },
    )
}

/// `sensor quarantine`.
pub fn quarantine(args: &QuarantineArgs) -> anyhow::Result<()> {
    let bits = if args.in_ {
        scope::DST
    } else if args.out_ {
        scope::SRC
    } else {
        scope::BOTH
    };
    submit(
        &args.common,
        &NewAction {
            kind: ActionKind::Quarantine,
            targets: Vec::new(),
            device: Some(args.device.clone()),
            scope: Some(bits),
            for_s: args.for_.map(seconds),
            who: who(),
            mode: crate::response::Mode::Autonomous,
            policy: None,
            why: args.common.why.clone(),
        },
    )
}

/// `sensor contain`.
pub fn contain(args: &ContainArgs) -> anyhow::Result<()> {
    submit(
        &args.common,
        &NewAction {
            kind: if args.pattern_of_life {
                ActionKind::PatternOfLife
            } else {
                ActionKind::Egress
            },
            targets: Vec::new(),
            device: Some(args.device.clone()),
            scope: None,
            for_s: args.for_.map(seconds),
            who: who(),
            mode: crate::response::Mode::Autonomous,
            policy: None,
            why: args.common.why.clone(),
        },
    )
}

/// `sensor clear`.
pub fn clear(args: &ClearArgs) -> anyhow::Result<()> {
    let client = args.api.client();
    let ids: Vec<i64> = if let Ok(id) = args.what.parse::<i64>() {
        vec![id]
    } else if let Ok(addr) = args.what.parse::<IpAddr>() {
        let active: Vec<Action> = client.get(&with_query(
            "/v1/actions",
            &ListQuery {
                state: Some("active".to_owned()),
                limit: Some(0),
            },
        ))?;
        let ids: Vec<i64> = active
            .iter()
            .filter(|a| a.targets.iter().any(|t| t.addresses().contains(&addr)))
            .map(|a| a.id)
            .collect();
        if ids.is_empty() {
            anyhow::bail!("no active action names {addr} (see `sensor actions --state active`)");
        }
        ids
    } else {
        anyhow::bail!(
            "`{}` is neither an action id nor an address (see `sensor actions`)",
            args.what
        );
    };
    let mut cleared = Vec::new();
    for id in ids {
        let action: Action = client.post(
            &format!("/v1/actions/{id}/clear"),
            &ClearRequest { who: who() },
        )?;
        cleared.push(action);
    }
    if args.json {
        return Ok(output::json(&cleared)?);
    }
    actions::print(&cleared)?;
    output::line(&format!("{} actions cleared", cleared.len()))?;
    Ok(())
}
