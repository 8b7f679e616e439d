//! `sensor conns`: connection records from the store, newest first.

use std::net::IpAddr;

use chrono::{DateTime, Utc};

use super::{
    api::DbSource,
    open_db,
    output::{self, Column},
    run::duration,
};
use crate::{
    api::{ConnsQuery, client::with_query},
    capture::ConnRecord,
    store::connections::ConnQuery,
};

/// Arguments of `sensor conns`.
#[derive(Debug, clap::Args)]
pub struct ConnsArgs {
    /// Only records that started at or after this: a time ago (90s, 30m, 2h) or a UTC
    /// time (2026-11-23T09:00:00Z).
    #[arg(long, value_name = "WHEN", value_parser = when)]
    pub since: Option<DateTime<Utc>>,
    /// Only records that started before this (same forms as --since).
    #[arg(long, value_name = "WHEN", value_parser = when)]
    pub until: Option<DateTime<Utc>>,
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
    pub source: DbSource,
}

/// A time ago (`90s`, `2h`) or an RFC 3339 time.
pub fn when(s: &str) -> Result<DateTime<Utc>, String> {
    if let Ok(t) = DateTime::parse_from_rfc3339(s) {
        return Ok(t.with_timezone(&Utc));
    }
    let ago = duration(s).map_err(|_| {
        format!("`{s}` is neither a time ago (90s, 30m, 2h) nor a UTC time (2026-11-23T09:00:00Z)")
    })?;
    let ago = chrono::Duration::from_std(ago).map_err(|e| e.to_string())?;
    Ok(Utc::now() - ago)
}

/// Queries and prints the records.
pub fn conns(args: &ConnsArgs) -> anyhow::Result<()> {
    let records: Vec<ConnRecord> = match &args.source.state_dir {
        None => args.source.api.client().get(&with_query(
            "/v1/conns",
            &ConnsQuery {
                since: args.since,
                until: args.until,
                addr: args.addr,
                limit: Some(args.limit),
            },
        ))?,
        Some(dir) => open_db(dir)?.connections(&ConnQuery {
            since: args.since,
            until: args.until,
            addr: args.addr,
            limit: args.limit,
        })?,
    };
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
    let mut parts = Vec::new();
    if let Some(smb) = &app.smb {
        parts.extend(smb.dialect1().map(str::to_owned));
        parts.extend(smb.trees.iter().map(|t| format!("tree {t}")));
        parts.extend(smb.files.iter().map(|f| format!("open {f}")));
    }
    if !app.rpc.is_empty() {
        parts.push(format!("rpc {}", app.rpc.join(",")));
    }
    if let Some(smtp) = &app.smtp {
        parts.push(format!("helo {}", smtp.helo.as_deref().unwrap_or("-")));
        parts.extend(smtp.auth.iter().map(|a| format!("auth {a}")));
        parts.extend(smtp.starttls.then(|| "starttls".to_owned()));
        parts.extend(smtp.mail_from.iter().map(|m| format!("from {m}")));
        parts.extend(smtp.rcpt_to.iter().map(|r| format!("to {r}")));
    }
    if let Some(irc) = &app.irc {
        parts.push(format!("nick {}", irc.nick.as_deref().unwrap_or("-")));
        parts.extend(irc.channels.iter().map(|c| format!("join {c}")));
        parts.extend(irc.uploads());
    }
    if let Some(ftp) = &app.ftp {
        parts.push(format!("user {}", ftp.user.as_deref().unwrap_or("-")));
        parts.extend(ftp.retrieved.iter().map(|f| format!("RETR {f}")));
        parts.extend(ftp.uploads());
    }
    parts.join(" ")
}

#[cfg(test)]
mod tests {
    use super::detail;
    use crate::capture::protocols::{AppInfo, smb::Smb};

    #[test]
    fn smb_and_rpc_say_what_the_client_asked_for() {
        let app = AppInfo {
            smb: Some(Smb {
                trees: vec!["\\\\fs-01\\ADMIN$".into()],
                files: vec!["svcctl".into()],
                v1: false,
            }),
            rpc: vec!["svcctl".into()],
            ..AppInfo::default()
        };
        assert_eq!(
            detail(&app),
            "tree \\\\fs-01\\ADMIN$ open svcctl rpc svcctl"
        );
        assert_eq!(detail(&AppInfo::default()), "");
    }

    #[test]
    fn command_protocols_say_who_and_what_was_sent() {
        use crate::capture::protocols::{ftp::Ftp, smtp::Smtp};
        let app = AppInfo {
            smtp: Some(Smtp {
                helo: Some("pc-7".into()),
                mail_from: vec!["a@b.test".into()],
                rcpt_to: vec!["c@d.test".into()],
                ..Smtp::default()
            }),
            ..AppInfo::default()
        };
        assert_eq!(detail(&app), "helo pc-7 from a@b.test to c@d.test");
        let app = AppInfo {
            ftp: Some(Ftp {
                user: Some("alice".into()),
                stored: vec!["index.html".into()],
                retrieved: vec![],
            }),
            ..AppInfo::default()
        };
        assert_eq!(detail(&app), "user alice FTP STOR index.html");
    }
}
