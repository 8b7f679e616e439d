//! Exports from a running agent to a local syslog listener (CEF over UDP, ECS over TCP)
//! and a local HTTP collector (OCSF, which fails once and must be retried): every record
//! arrives, parses, and carries its Community ID. An HTTPS collector with an untrusted
//! certificate gets nothing, and the secret header is never logged.

use std::{
    collections::BTreeSet,
    io::{BufRead as _, BufReader},
    net::{TcpListener, UdpSocket},
    sync::{Arc, Mutex},
    thread,
    time::{Duration, Instant},
};

use axum::{
    Router,
    http::{HeaderMap, StatusCode},
    routing::post,
};
use sensor_tests::{
    env,
    running::{Running, SHORT_TIMEOUTS},
    traffic::{connects, in_netns, listen_tcp, stop},
    xtask_lab as lab,
};
use serde_json::Value;

const UDP_PORT: u16 = 15_514;
const TCP_PORT: u16 = 15_515;
const HTTP_PORT: u16 = 18_080;
const HTTPS_PORT: u16 = 18_443;
const SECRET: &str = "Bearer test-token-5e4a";

/// What the HTTP collector saw: bodies accepted, requests refused, auth headers.
#[derive(Default)]
struct Collected {
    bodies: Vec<String>,
    refused: usize,
    auth: Vec<String>,
}

/// A real HTTP server (axum) that answers the first POST with 503, then 200.
fn collector(listener: TcpListener, seen: Arc<Mutex<Collected>>) {
    thread::spawn(move || {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        rt.block_on(async move {
            listener.set_nonblocking(true).unwrap();
            let listener = tokio::net::TcpListener::from_std(listener).unwrap();
            let app = Router::new().route(
                "/ingest",
                post(move |headers: HeaderMap, body: String| {
                    let seen = Arc::clone(&seen);
                    async move {
                        let mut s = seen.lock().unwrap();
                        if let Some(a) = headers.get("authorization") {
                            s.auth.push(a.to_str().unwrap_or("").to_owned());
                        }
                        if s.refused == 0 {
                            s.refused += 1;
                            return StatusCode::SERVICE_UNAVAILABLE;
                        }
                        s.bodies.push(body);
                        StatusCode::OK
                    }
                }),
            );
            axum::serve(listener, app).await.unwrap();
        });
    });
}

/// The message of an RFC 5424 line: what follows the header's six fields and the `-`
/// for no structured data.
fn syslog_msg(line: &str) -> &str {
    assert!(line.starts_with("<134>1 "), "RFC 5424 header: {line}");
    let mut rest = line;
    for _ in 0..7 {
        rest = rest.split_once(' ').expect("header fields").1;
    }
    rest
}

/// A CEF line's header fields and extension pairs; panics if it is not valid CEF.
fn parse_cef(msg: &str) -> (Vec<String>, Vec<(String, String)>) {
    let body = msg
        .strip_prefix("CEF:0|")
        .unwrap_or_else(|| panic!("CEF: {msg}"));
    let mut header = Vec::new();
    let mut field = String::new();
    let mut chars = body.chars();
    while header.len() < 6 {
        match chars.next().expect("seven header fields") {
            '\\' => field.push(chars.next().expect("escaped character")),
            '|' => header.push(std::mem::take(&mut field)),
            c => field.push(c),
        }
    }
    let ext: String = chars.collect();
    assert!(
        header[5].parse::<u8>().is_ok_and(|s| s <= 10),
        "severity 0-10: {msg}"
    );
    // Keys are words followed by an unescaped `=`; values run to the next key.
    let mut pairs = Vec::new();
    let tokens: Vec<&str> = ext.split(' ').collect();
    let mut i = 0;
    while i < tokens.len() {
        let (k, v) = tokens[i]
            .split_once('=')
            .unwrap_or_else(|| panic!("key=value: {ext}"));
        let mut value = v.to_owned();
        i += 1;
        while i < tokens.len() && !is_key(tokens[i]) {
            value.push(' ');
            value.push_str(tokens[i]);
            i += 1;
        }
        assert!(
            k.chars().all(|c| c.is_ascii_alphanumeric()),
            "extension key {k:?} in {ext}"
        );
        pairs.push((
            k.to_owned(),
            value.replace("\\=", "=").replace("\\\\", "\\"),
        ));
    }
    (header, pairs)
}

fn is_key(token: &str) -> bool {
    token.split_once('=').is_some_and(|(k, _)| {
        !k.is_empty() && !k.ends_with('\\') && k.chars().all(|c| c.is_ascii_alphanumeric())
    })
}

fn cef_get<'a>(pairs: &'a [(String, String)], key: &str) -> Option<&'a str> {
    pairs
        .iter()
        .find(|(k, _)| k == key)
        .map(|(_, v)| v.as_str())
}

#[test]
fn r6_exports_reach_syslog_and_http_complete_and_valid() {
    if !env::require_root("r6_exports_reach_syslog_and_http_complete_and_valid") {
        return;
    }
    let scratch_config = env::Scratch::new("exports-config");
    let config = scratch_config.path().join("sensor.toml");
    std::fs::write(
        &config,
        format!(
            r#"
[[export]]
name = "cef-udp"
format = "cef"
to = "syslog"
address = "127.0.0.1:{UDP_PORT}"

[[export]]
name = "ecs-tcp"
format = "ecs"
to = "syslog"
address = "127.0.0.1:{TCP_PORT}"
transport = "tcp"

[[export]]
name = "ocsf-http"
format = "ocsf"
to = "http"
url = "http://127.0.0.1:{HTTP_PORT}/ingest"
headers = {{ Authorization = "{SECRET}" }}
batch = 2

[[export]]
name = "untrusted-https"
format = "ecs"
to = "http"
url = "https://127.0.0.1:{HTTPS_PORT}/ingest"
"#
        ),
    )
    .unwrap();
    let mut args = SHORT_TIMEOUTS.to_vec();
    let config_arg = config.to_string_lossy().into_owned();
    args.extend(["--config", &config_arg]);
    let run = Running::start_with("exports", &args);
    let ns = run.lab.gateway.name().to_owned();

    // The listeners, inside the gateway's namespace where the agent runs.
    let (udp, tcp, http) = in_netns(&ns, || {
        (
            UdpSocket::bind(("127.0.0.1", UDP_PORT)).unwrap(),
            TcpListener::bind(("127.0.0.1", TCP_PORT)).unwrap(),
            TcpListener::bind(("127.0.0.1", HTTP_PORT)).unwrap(),
        )
    });
    let seen = Arc::new(Mutex::new(Collected::default()));
    collector(http, Arc::clone(&seen));
    let cef_lines = Arc::new(Mutex::new(Vec::<String>::new()));
    {
        let lines = Arc::clone(&cef_lines);
        thread::spawn(move || {
            let mut buf = vec![0u8; 65_536];
            while let Ok(n) = udp.recv(&mut buf) {
                lines
                    .lock()
                    .unwrap()
                    .push(String::from_utf8_lossy(&buf[..n]).into_owned());
            }
        });
    }
    let ecs_lines = Arc::new(Mutex::new(Vec::<String>::new()));
    {
        let lines = Arc::clone(&ecs_lines);
        thread::spawn(move || {
            for stream in tcp.incoming().flatten() {
                for line in BufReader::new(stream).lines().map_while(Result::ok) {
                    lines.lock().unwrap().push(line);
                }
            }
        });
    }
    // An HTTPS server whose certificate nobody trusts.
    let cert = scratch_config.path().join("cert.pem");
    let key = scratch_config.path().join("key.pem");
    let made = std::process::Command::new("openssl")
        .args([
            "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1",
        ])
        .args(["-subj", "/CN=127.0.0.1", "-keyout"])
        .arg(&key)
        .arg("-out")
        .arg(&cert)
        .output()
        .unwrap();
    assert!(made.status.success());
    let mut tls = run
        .lab
        .gateway
        .command("openssl")
        .args([
            "s_server",
            "-quiet",
            "-accept",
            &format!("127.0.0.1:{HTTPS_PORT}"),
        ])
        .arg("-cert")
        .arg(&cert)
        .arg("-key")
        .arg(&key)
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();

    // Traffic and an action to export.
    let listener = listen_tcp(&run.lab, 8095);
    for _ in 0..5 {
        assert!(connects(&run.lab, 8095));
    }
    let action = run.api_json(&["block", lab::SERVER_IP, "--why", "export test"]);
    let action_id = action["id"].as_u64().unwrap();
    run.api_json(&["clear", &action_id.to_string()]);

    // Wait until every stored record has gone out on all three.
    let deadline = Instant::now() + Duration::from_secs(30);
    let (uids, community): (BTreeSet<String>, std::collections::BTreeMap<String, String>) = loop {
        let records = run.api_json(&["conns", "--limit", "0"]);
        let uids: BTreeSet<String> = records
            .as_array()
            .unwrap()
            .iter()
            .map(|r| r["uid"].as_str().unwrap().to_owned())
            .collect();
        let sent = run.api_json(&["status"])["agent"]["exported"]
            .as_u64()
            .unwrap_or(0);
        // Three exporters, each sending every record and the action.
        if uids.len() >= 5 && sent >= 3 * (uids.len() as u64 + 1) {
            let community = records
                .as_array()
                .unwrap()
                .iter()
                .map(|r| {
                    (
                        r["uid"].as_str().unwrap().to_owned(),
                        r["community_id"].as_str().unwrap().to_owned(),
                    )
                })
                .collect();
            break (uids, community);
        }
        assert!(
            Instant::now() < deadline,
            "exports incomplete: {} records, {sent} sent\n{}",
            uids.len(),
            run.agent.log_text()
        );
        thread::sleep(Duration::from_millis(300));
    };
    thread::sleep(Duration::from_millis(500));

    // CEF over UDP.
    let mut cef_uids = BTreeSet::new();
    let mut cef_action = false;
    for line in cef_lines.lock().unwrap().iter() {
        let (header, pairs) = parse_cef(syslog_msg(line));
        assert_eq!(&header[..2], ["sensor", "sensor"]);
        if header[3] == "conn" {
            let uid = cef_get(&pairs, "cs2").unwrap().to_owned();
            assert_eq!(cef_get(&pairs, "cs1Label"), Some("communityId"));
            assert_eq!(
                cef_get(&pairs, "cs1"),
                community.get(&uid).map(String::as_str)
            );
            assert!(cef_get(&pairs, "src").is_some() && cef_get(&pairs, "dpt").is_some());
            cef_uids.insert(uid);
        } else if header[3] == "action-block" {
            assert_eq!(cef_get(&pairs, "reason"), Some("export test"));
            cef_action = true;
        }
    }
    assert_eq!(cef_uids, uids, "every record as CEF over UDP");
    assert!(cef_action, "the action as CEF");

    // ECS over TCP.
    let mut ecs_uids = BTreeSet::new();
    let mut ecs_action = false;
    for line in ecs_lines.lock().unwrap().iter() {
        let v: Value = serde_json::from_str(syslog_msg(line)).expect("ECS JSON");
        match v["event"]["dataset"].as_str() {
            Some("sensor.conn") => {
                let uid = v["event"]["id"].as_str().unwrap().to_owned();
                assert_eq!(
                    v["network"]["community_id"].as_str(),
                    community.get(&uid).map(String::as_str)
                );
                assert!(v["source"]["ip"].is_string() && v["destination"]["port"].is_u64());
                ecs_uids.insert(uid);
            }
            Some("sensor.action") => {
                assert_eq!(v["event"]["reason"], "export test");
                ecs_action = true;
            }
            other => panic!("unexpected dataset {other:?}"),
        }
    }
    assert_eq!(ecs_uids, uids, "every record as ECS over TCP");
    assert!(ecs_action, "the action as ECS");

    // OCSF over HTTP, batches of two, the first refused and retried.
    let seen = seen.lock().unwrap();
    assert_eq!(seen.refused, 1, "the collector refused once");
    assert!(
        seen.bodies.len() >= 3,
        "several batches: {}",
        seen.bodies.len()
    );
    assert!(
        seen.auth.iter().all(|a| a == SECRET),
        "the configured header"
    );
    let mut ocsf_uids = BTreeSet::new();
    let mut findings = 0;
    for body in &seen.bodies {
        for line in body.lines() {
            let v: Value = serde_json::from_str(line).expect("OCSF JSON");
            match v["class_uid"].as_u64() {
                Some(4001) => {
                    let uid = v["metadata"]["uid"].as_str().unwrap().to_owned();
                    assert_eq!(
                        v["connection_info"]["community_uid"].as_str(),
                        community.get(&uid).map(String::as_str)
                    );
                    assert_eq!(v["category_uid"], 4);
                    ocsf_uids.insert(uid);
                }
                Some(2004) => findings += 1,
                other => panic!("unexpected class {other:?}"),
            }
        }
    }
    assert_eq!(ocsf_uids, uids, "every record as OCSF over HTTP");
    assert_eq!(findings, 1, "the action as a Detection Finding");

    // TLS is verified (the failing round ends after its retries), and secrets stay out
    // of the log.
    let refused = |log: &str| {
        log.lines().any(|l| {
            l.contains("untrusted-https")
                && l.contains("export failed")
                && l.to_lowercase().contains("certificate")
        })
    };
    let deadline = Instant::now() + Duration::from_secs(15);
    while !refused(&run.agent.log_text()) && Instant::now() < deadline {
        thread::sleep(Duration::from_millis(300));
    }
    let log = run.agent.log_text();
    assert!(refused(&log), "the untrusted collector was refused: {log}");
    assert!(
        !log.contains("test-token"),
        "the secret header is never logged"
    );
    let _ = tls.kill();
    let _ = tls.wait();
    stop(listener);
}
