//! `sensor flows`: the live flows in the kernel's flow table.

use std::net::IpAddr;

use anyhow::Context as _;
use std::path::PathBuf;

use super::{
    api::ApiArgs,
    output::{self, Column},
};
use crate::{
    api::{FlowsQuery, client::with_query},
    capture::LiveFlow,
    clock::Clock,
    ebpf::FlowTable,
};

/// Arguments of `sensor flows`.
#[derive(Debug, clap::Args)]
pub struct FlowsArgs {
    /// Only flows with this address on either side.
    #[arg(long, value_name = "IP")]
    pub addr: Option<IpAddr>,
    /// Only flows with this port on either side.
    #[arg(long, value_name = "PORT")]
    pub port: Option<u16>,
    /// Only flows of this protocol (`tcp`, `udp`, `icmp`, `icmpv6` or a number).
    #[arg(long, value_name = "PROTO")]
    pub proto: Option<String>,
    /// Only flows tagged with this VLAN id (outer or inner).
    #[arg(long, value_name = "ID")]
    pub vlan: Option<u16>,
    /// Print JSON instead of a table.
    #[arg(long)]
    pub json: bool,
    #[command(flatten)]
    pub api: ApiArgs,
    /// Read the pinned maps in this directory directly instead of asking the agent.
    #[arg(long, value_name = "DIR")]
    pub pin_dir: Option<PathBuf>,
}

/// Reads, filters and prints the flows, most recently active first.
pub fn flows(args: &FlowsArgs) -> anyhow::Result<()> {
    let query = FlowsQuery {
        addr: args.addr,
        port: args.port,
        proto: args.proto.as_deref().map(str::to_ascii_lowercase),
        vlan: args.vlan,
    };
    let flows: Vec<LiveFlow> = match &args.pin_dir {
        None => args.api.client().get(&with_query("/v1/flows", &query))?,
        Some(dir) => {
            let table = FlowTable::open_pinned(dir)?;
            let clock = Clock::new().context("failed to read the system clocks")?;
            let mut flows: Vec<LiveFlow> = table
                .entries()?
                .iter()
                .map(|(key, stats)| LiveFlow::from_kernel(key, stats, &clock))
                .filter(|f| query.matches(f))
                .collect();
            flows.sort_by_key(|f| std::cmp::Reverse(f.last_seen));
            flows
        }
    };
    if args.json {
        return Ok(output::json(&flows)?);
    }
    let col = |header, right| Column { header, right };
    let columns = [
        col("PROTO", false),
        col("ORIGINATOR", false),
        col("RESPONDER", false),
        col("VLAN", false),
        col("PKTS>", true),
        col("BYTES>", true),
        col("PKTS<", true),
        col("BYTES<", true),
        col("FLAGS", false),
        col("DURATION", true),
        col("LAST SEEN (UTC)", false),
    ];
    let rows: Vec<Vec<String>> = flows.iter().map(row).collect();
    output::table(&columns, &rows)?;
    output::line(&format!("{} flows", flows.len()))?;
    Ok(())
}

fn row(f: &LiveFlow) -> Vec<String> {
    let endpoint = |addr: IpAddr, port: u16| match (addr, port) {
        (IpAddr::V6(a), p) if p != 0 => format!("[{a}]:{p}"),
        (a, 0) => a.to_string(),
        (a, p) => format!("{a}:{p}"),
    };
    let vlan = f
        .vlan
        .iter()
        .map(u16::to_string)
        .collect::<Vec<_>>()
        .join(".");
    let flags = if f.orig_tcp_flags.is_empty() && f.resp_tcp_flags.is_empty() {
        String::new()
    } else {
        format!("{}/{}", f.orig_tcp_flags, f.resp_tcp_flags)
    };
    let duration = (f.last_seen - f.first_seen).num_milliseconds() as f64 / 1000.0;
    vec![
        f.proto.clone(),
        endpoint(f.orig_addr, f.orig_port),
        endpoint(f.resp_addr, f.resp_port),
        vlan,
        f.orig_packets.to_string(),
        f.orig_bytes.to_string(),
        f.resp_packets.to_string(),
        f.resp_bytes.to_string(),
        flags,
        format!("{duration:.1}s"),
        f.last_seen.format("%H:%M:%S").to_string(),
    ]
}
