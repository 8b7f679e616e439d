//! `edr-standin`: the demo lab's Microsoft Defender tenant. A Graph stand-in over HTTPS (a
//! CA of its own) serving the fixtures' alerts of the lab network, told as a story that
//! happens now: the routine alerts (the types that recur) are dated so that their 20 days
//! end two hours ago; the rare ones are held back, and `release HOST` on stdin serves those
//! naming HOST, dated now, as if Defender had just raised them.
//!
//! Usage: `edr-standin <dir> <listen address>`. It writes the CA and the app's secret into
//! `<dir>`, then prints one JSON line saying how to reach it; each `release` is answered
//! with one JSON line. It stops when stdin closes.

use std::{
    collections::HashMap,
    io::{BufRead as _, Write as _},
    process::ExitCode,
    sync::Arc,
};

use chrono::{DateTime, TimeDelta, Utc};
use sensor_tests::{
    graph_api::{self, CLIENT, SECRET, TENANT},
    tls_server,
};
use serde_json::{Value, json};

/// How long before now the routine alerts end.
const HISTORY_ENDS_AGO: TimeDelta = TimeDelta::hours(2);

fn main() -> ExitCode {
    let mut args = std::env::args().skip(1);
    let (Some(dir), Some(listen)) = (args.next(), args.next()) else {
        let _ = writeln!(
            std::io::stderr(),
            "usage: edr-standin <dir> <listen address>"
        );
        return ExitCode::FAILURE;
    };
    match serve(std::path::Path::new(&dir), &listen) {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            let _ = writeln!(std::io::stderr(), "edr-standin: {err}");
            ExitCode::FAILURE
        }
    }
}

fn serve(dir: &std::path::Path, listen: &str) -> Result<(), String> {
    let stub = graph_api::fixture_stub();
    let all = std::mem::take(&mut *stub.alerts.lock().map_err(|e| e.to_string())?);
    let (routine, mut held) = split_rare(all);
    let newest = routine
        .iter()
        .filter_map(updated)
        .max()
        .ok_or("no alerts")?;
    let shift = Utc::now() - HISTORY_ENDS_AGO - newest;
    *stub.alerts.lock().map_err(|e| e.to_string())? =
        routine.into_iter().map(|a| shifted(a, shift)).collect();
    let stub = Arc::new(stub);

    tls_server::make_ca(dir);
    let secret = dir.join("graph.secret");
    std::fs::write(&secret, SECRET).map_err(|e| format!("writing the secret: {e}"))?;
    let listener =
        std::net::TcpListener::bind(listen).map_err(|e| format!("binding {listen}: {e}"))?;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .map_err(|e| e.to_string())?;
    let addr = tls_server::serve_on(
        &runtime,
        dir,
        graph_api::router(Arc::clone(&stub)),
        listener,
    );
    let served = stub.alerts.lock().map_err(|e| e.to_string())?.len();
    say(&json!({
        "base": format!("https://{addr}"),
        "ca": dir.join("ca.pem"),
        "tenant": TENANT,
        "client_id": CLIENT,
        "secret_file": secret,
        "routine": served,
        "held": held.len(),
    }));

    for line in std::io::stdin().lock().lines() {
        let line = line.map_err(|e| e.to_string())?;
        let Some(host) = line.trim().strip_prefix("release ") else {
            say(&json!({ "error": format!("unknown command {line:?}") }));
            continue;
        };
        let (now, later): (Vec<Value>, Vec<Value>) =
            held.into_iter().partition(|a| names_host(a, host.trim()));
        held = later;
        let mut titles = Vec::new();
        let mut alerts = stub.alerts.lock().map_err(|e| e.to_string())?;
        for alert in now {
            let shift = updated(&alert).map_or(TimeDelta::zero(), |t| Utc::now() - t);
            let alert = shifted(alert, shift);
            let title = alert["title"].as_str().unwrap_or_default().to_owned();
            titles.push(match alert["actorDisplayName"].as_str() {
                Some(actor) => format!("{title} (actor: {actor})"),
                None => title,
            });
            alerts.insert(0, alert);
        }
        drop(alerts);
        say(&json!({ "released": titles }));
    }
    Ok(())
}

/// Prints one line to stdout, flushed (the demo reads it at once).
fn say(v: &Value) {
    let mut out = std::io::stdout().lock();
    let _ = writeln!(out, "{v}");
    let _ = out.flush();
}

/// The alerts whose title recurs, and the ones seen once (the story's).
fn split_rare(alerts: Vec<Value>) -> (Vec<Value>, Vec<Value>) {
    let mut seen: HashMap<String, usize> = HashMap::new();
    for a in &alerts {
        *seen.entry(a["title"].to_string()).or_default() += 1;
    }
    alerts
        .into_iter()
        .partition(|a| seen.get(&a["title"].to_string()).copied().unwrap_or(0) > 1)
}

fn updated(alert: &Value) -> Option<DateTime<Utc>> {
    alert["lastUpdateDateTime"]
        .as_str()
        .and_then(|s| DateTime::parse_from_rfc3339(s).ok())
        .map(|t| t.with_timezone(&Utc))
}

/// Whether the alert's device evidence names `host` (`ws-02` names `ws-02.corp.example`).
fn names_host(alert: &Value, host: &str) -> bool {
    alert["evidence"].as_array().is_some_and(|e| {
        e.iter().any(|ev| {
            ev["deviceDnsName"]
                .as_str()
                .is_some_and(|n| n == host || n.starts_with(&format!("{host}.")))
        })
    })
}

/// Every timestamp in the alert moved by `by`.
fn shifted(mut v: Value, by: TimeDelta) -> Value {
    shift_in(&mut v, by);
    v
}

fn shift_in(v: &mut Value, by: TimeDelta) {
    match v {
        Value::String(s) => {
            if let Ok(t) = DateTime::parse_from_rfc3339(s) {
                *s = (t.with_timezone(&Utc) + by)
                    .format("%Y-%m-%dT%H:%M:%S%.3fZ")
                    .to_string();
            }
        }
        Value::Array(items) => items.iter_mut().for_each(|i| shift_in(i, by)),
        Value::Object(fields) => fields.values_mut().for_each(|f| shift_in(f, by)),
        _ => {}
    }
}
