//! `sensor conns`: connection records from the store, newest first.

use std::{net::IpAddr, time::Duration};

use chrono::Utc;

use super::{
    StateArgs,
    output::{self, Column},
    run::duration,
};
use crate::store::{Store, connections::ConnQuery};

/// Arguments of `sensor conns`.
#[derive(Debug, clap::Args)]
pub struct ConnsArgs {
    /// Only records that started within this long (e.g. 90s, 30m, 2h).
    #[arg(long, value_name = "DURATION", value_parser = duration)]
    pub since: Option<Duration>,
    /// Only records with this address on either side.
    #[arg(long, value_name = "IP")]
    pub addr: Option<IpAddr>,
    /// At most this many (0: all).
    #[arg(long, value_name = "N", default_value_t = 50)]
    pub limit: usize,
    /// Print JSON instead of a table.
    #[arg(long)]
    pub json: bool,
    #[command(flatten)]
    pub state: StateArgs,
}

/// Queries and prints the records.
pub fn conns(args: &ConnsArgs) -> anyhow::Result<()> {
    let path = args.state.db_path();
    if !path.exists() {
        anyhow::bail!(
            "no database at {}: the agent has not run with this --state-dir yet",
            path.display()
        );
    }
    let mut store = Store::open(&path)?;
    let since = args
        .since
        .and_then(|d| chrono::Duration::from_std(d).ok())
        .map(|d| Utc::now() - d);
    let records = store.connections(&ConnQuery {
        since,
        until: None,
        addr: args.addr,
        limit: args.limit,
    })?;
    if args.json {
        return Ok(output::json(&records)?);
    }
    let col = |header, right| Column { header, right };
    let columns = [
        col("START (UTC)", false),
        col("PROTO", false),
        col("ORIGINATOR", false),
        col("RESPONDER", false),
        col("SERVICE", false),
        col("STATE", false),
        col("HISTORY", false),
        col("PKTS>", true),
        col("BYTES>", true),
        col("PKTS<", true),
        col("BYTES<", true),
        col("DURATION", true),
        col("UID", false),
        col("DETAIL", false),
    ];
    let endpoint = |a: IpAddr, p: u16| match a {
        IpAddr::V6(a) => format!("[{a}]:{p}"),
        IpAddr::V4(a) => format!("{a}:{p}"),
    };
    let rows: Vec<Vec<String>> = records
        .iter()
        .map(|r| {
            vec![
                r.ts.format("%Y-%m-%d %H:%M:%S").to_string(),
                r.proto.clone(),
                endpoint(r.orig_h, r.orig_p),
                endpoint(r.resp_h, r.resp_p),
                r.app.service.clone().unwrap_or_default(),
                r.conn_state.clone(),
                r.history.clone(),
                r.orig_pkts.to_string(),
                r.orig_bytes.to_string(),
                r.resp_pkts.to_string(),
                r.resp_bytes.to_string(),
                format!("{:.1}s", r.duration),
                r.uid.clone(),
                detail(&r.app),
            ]
        })
        .collect();
    output::table(&columns, &rows)?;
    output::line(&format!("{} connections", records.len()))?;
    Ok(())
}

/// One line of what the application protocol said.
fn detail(app: &crate::capture::protocols::AppInfo) -> String {
    if let Some(h) = &app.http {
        let ua = h.user_agent.as_deref().unwrap_or("-");
        return format!(
            "{} {}{} ua={ua}",
            h.method,
            h.host.as_deref().unwrap_or(""),
            h.uri
        );
    }
    if let Some(d) = &app.dns {
        return format!("{} {} -> {}", d.qtype, d.query, d.answers.join(","));
    }
    if let Some(s) = &app.ssh {
        return format!(
            "{} / {}",
            s.client.as_deref().unwrap_or("-"),
            s.server.as_deref().unwrap_or("-")
        );
    }
    String::new()
}
