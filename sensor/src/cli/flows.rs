//! `sensor flows`: the live flows in the kernel's flow table.

use std::net::IpAddr;

use anyhow::Context as _;

use super::{
    PinArgs,
    output::{self, Column},
};
use crate::{capture::LiveFlow, clock::Clock, ebpf::FlowTable};

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
    /// Print JSON instead of a table.
    #[arg(long)]
    pub json: bool,
    #[command(flatten)]
    pub pins: PinArgs,
}

/// Reads, filters and prints the flows, most recently active first.
pub fn flows(args: &FlowsArgs) -> anyhow::Result<()> {
    let table = FlowTable::open_pinned(&args.pins.pin_dir)?;
    let clock = Clock::new().context("failed to read the system clocks")?;
    let proto = args.proto.as_deref().map(str::to_ascii_lowercase);
    let mut flows: Vec<LiveFlow> = table
        .entries()?
        .iter()
        .map(|(key, stats)| LiveFlow::from_kernel(key, stats, &clock))
        .filter(|f| args.addr.is_none_or(|a| f.involves_addr(a)))
        .filter(|f| args.port.is_none_or(|p| f.involves_port(p)))
        .filter(|f| proto.as_ref().is_none_or(|p| &f.proto == p))
        .collect();
    flows.sort_by_key(|f| std::cmp::Reverse(f.last_seen));
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
