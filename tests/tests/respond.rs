//! Manual response end to end: the `sensor` CLI asks the running agent over its API, the
//! agent records the action and writes the kernel rule, real traffic stops and resumes.
//! And the API is root's alone.

use std::{
    os::unix::fs::PermissionsExt as _,
    path::Path,
    thread,
    time::{Duration, Instant},
};

use sensor_tests::{
    cli::field,
    env,
    running::Running,
    traffic::{connects, listen_tcp, stop},
    xtask_lab as lab,
};
use serde_json::Value;

/// Polls `check` every 200 ms for up to `secs` seconds.
fn ids(v: &Value) -> Vec<u64> {
    v.as_array()
        .unwrap()
        .iter()
        .map(|a| field(a, "id"))
        .collect()
}

#[test]
fn r6_block_suspend_quarantine_and_clear_through_the_cli() {
    if !env::require_root("r6_block_suspend_quarantine_and_clear_through_the_cli") {
        return;
    }
    let run = Running::start("respond");
    let listener = listen_tcp(&run.lab, 8090);
    assert!(connects(&run.lab, 8090), "open before any action");
    // The client becomes a device once the agent has seen and recorded it.
    assert!(run.client_is_a_device(10), "the client is a device");

    // Block an endpoint as destination, refuse a second owner, clear by address.
    let endpoint = format!("{}:8090", lab::SERVER_IP);
    let block = run.api_json(&["block", &endpoint, "--side", "dst", "--why", "c2 port"]);
    assert_eq!(block["state"], "active");
    assert!(
        block["who"].as_str().unwrap().starts_with("cli:"),
        "{block}"
    );
    assert!(!connects(&run.lab, 8090), "blocked");
    let again = run.cli(&["block", &endpoint, "--side", "dst"]);
    assert!(!again.status.success());
    let err = String::from_utf8_lossy(&again.stderr);
    assert!(
        err.contains(&format!(
            "already enforced by action {}",
            field(&block, "id")
        )),
        "{err}"
    );
    let cleared = run.api_json(&["clear", lab::SERVER_IP]);
    assert_eq!(ids(&cleared), vec![field(&block, "id")]);
    assert!(connects(&run.lab, 8090), "clear undoes the block");

    // A CIDR rule (prefix-keyed: its owner is checked in the store, not in the kernel) has
    // one owner too.
    let net = run.api_json(&["block", "192.0.2.0/24", "--why", "test net"]);
    assert_eq!(net["state"], "active");
    let again = run.cli(&["block", "192.0.2.0/24"]);
    assert!(!again.status.success());
    let err = String::from_utf8_lossy(&again.stderr);
    assert!(
        err.contains(&format!("already enforced by action {}", field(&net, "id"))),
        "{err}"
    );
    let net_id = field(&net, "id").to_string();
    assert_eq!(
        ids(&run.api_json(&["clear", &net_id])),
        vec![field(&net, "id")]
    );

    // Suspend for 2 s: new connections are refused until the kernel lets the rule lapse,
    // then the agent marks the action expired and takes its rule out.
    let start = Instant::now();
    let suspend = run.api_json(&["suspend", &endpoint, "--for", "2s", "--why", "worm"]);
    let suspend_id = field(&suspend, "id");
    assert!(suspend["until"].is_string(), "{suspend}");
    assert!(!connects(&run.lab, 8090), "suspended");
    thread::sleep(Duration::from_millis(2300).saturating_sub(start.elapsed()));
    assert!(connects(&run.lab, 8090), "the suspension lapsed after 2 s");
    assert!(
        env::eventually(5, || {
            ids(&run.api_json(&["actions", "--state", "expired"])).contains(&suspend_id)
        }),
        "the agent marked the suspension expired"
    );
    assert!(
        run.api_json(&["rules"]).as_array().unwrap().is_empty(),
        "and removed its rule"
    );

    // Quarantine the client by address; its log and summary show the action.
    let q = run.api_json(&["quarantine", lab::CLIENT_IP, "--why", "ransomware"]);
    let q_id = field(&q, "id");
    let targets = q["targets"].as_array().unwrap();
    assert!(
        targets
            .iter()
            .any(|t| t["type"] == "quarantine_ip" && t["addr"] == lab::CLIENT_IP),
        "{q}"
    );
    assert!(q["device_id"].is_u64(), "tied to the device: {q}");
    assert!(!connects(&run.lab, 8090), "quarantined");
    let summary = run.api_json(&["device", lab::CLIENT_IP]);
    assert_eq!(ids(&summary["actions"]), vec![q_id]);
    assert!(
        summary["services_used"]
            .as_array()
            .unwrap()
            .iter()
            .any(|s| s["port"] == 8090 && s["proto"] == "tcp"),
        "{summary}"
    );
    run.api_json(&["clear", &q_id.to_string()]);
    assert!(connects(&run.lab, 8090), "clear ends the quarantine");
    let log = run.api_json(&["log", lab::CLIENT_IP, "--limit", "0"]);
    let kinds: Vec<&str> = log
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["kind"].as_str().unwrap())
        .collect();
    assert!(kinds.contains(&"connection"), "{kinds:?}");
    assert!(kinds.contains(&"action"), "{kinds:?}");
    assert!(kinds.contains(&"action_cleared"), "{kinds:?}");
    assert!(
        log.as_array()
            .unwrap()
            .iter()
            .any(|e| e["summary"].as_str().unwrap().contains("ransomware")),
        "{log}"
    );

    // Mistakes get errors that say what to do.
    let unknown = run.cli(&["quarantine", "no-such-host"]);
    assert!(!unknown.status.success());
    assert!(String::from_utf8_lossy(&unknown.stderr).contains("no device known as no-such-host"));
    let bad = run.cli(&["block", "10.0.0.300"]);
    assert!(String::from_utf8_lossy(&bad.stderr).contains("is not an address, a network"));
    stop(listener);
}

/// Runs `sensor args` as the unprivileged user `nobody`.
fn as_nobody(socket: &Path, args: &[&str]) -> std::process::Output {
    std::process::Command::new("setpriv")
        .args(["--reuid=65534", "--regid=65534", "--clear-groups"])
        .arg(env::sensor_bin())
        .args(args)
        .env("SENSOR_SOCKET", socket)
        .output()
        .expect("run setpriv")
}

#[test]
fn r6_the_api_is_root_only() {
    if !env::require_root("r6_the_api_is_root_only") {
        return;
    }
    let mut args = sensor_tests::running::SHORT_TIMEOUTS.to_vec();
    args.extend(["--metrics-addr", "127.0.0.1:19090"]);
    let run = Running::start_with("rootonly", &args);
    let socket = run.socket();
    let mode = std::fs::metadata(&socket).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o600, "socket mode");
    let status = run.api_json(&["status"]);
    assert!(status["counters"]["packets"].is_u64(), "root is served");

    // The file mode stops other users at connect.
    let out = as_nobody(&socket, &["status"]);
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("permission denied"), "{err}");

    // Should the modes be loosened, the peer check still refuses them.
    let mut dir = socket.parent().unwrap().to_path_buf();
    let mut opened = Vec::new();
    while dir.starts_with(run.scratch.path()) {
        let before = std::fs::metadata(&dir).unwrap().permissions();
        std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o755)).unwrap();
        opened.push((dir.clone(), before));
        if !dir.pop() {
            break;
        }
    }
    std::fs::set_permissions(&socket, std::fs::Permissions::from_mode(0o666)).unwrap();
    let out = as_nobody(&socket, &["status"]);
    assert!(!out.status.success(), "refused by the peer check");
    assert!(
        env::eventually(3, || run
            .agent
            .log_text()
            .contains("refused an API connection from another user")),
        "and logged"
    );
    for (dir, perms) in opened {
        std::fs::set_permissions(&dir, perms).unwrap();
    }

    // Prometheus text on /metrics, read with curl.
    let metrics = std::process::Command::new("curl")
        .args(["-sf", "--unix-socket"])
        .arg(&socket)
        .arg("http://sensor/metrics")
        .output()
        .unwrap();
    assert!(metrics.status.success());
    let text = String::from_utf8_lossy(&metrics.stdout);
    assert!(
        text.contains("# TYPE sensor_datapath_total counter"),
        "{text}"
    );
    assert!(
        text.contains("sensor_datapath_total{counter=\"packets\"}"),
        "{text}"
    );

    // And on the TCP address Prometheus scrapes, which serves nothing else.
    let scrape = |path: &str| {
        run.lab
            .gateway
            .command("curl")
            .args(["-s", "-o", "/dev/null", "-w", "%{http_code}"])
            .arg(format!("http://127.0.0.1:19090{path}"))
            .output()
            .unwrap()
    };
    assert_eq!(String::from_utf8_lossy(&scrape("/metrics").stdout), "200");
    assert_eq!(
        String::from_utf8_lossy(&scrape("/v1/actions").stdout),
        "404",
        "the API stays on the socket"
    );
}

#[test]
fn r6_completions_and_man_page_come_from_the_commands() {
    let run = |args: &[&str]| {
        let out = std::process::Command::new(env::sensor_bin())
            .args(args)
            .output()
            .unwrap();
        assert!(out.status.success());
        String::from_utf8(out.stdout).unwrap()
    };
    let bash = run(&["completions", "bash"]);
    for sub in ["quarantine", "suspend", "clear", "flows", "--socket"] {
        assert!(bash.contains(sub), "bash completions know {sub}");
    }
    let man = run(&["man"]);
    assert!(man.contains(".TH sensor"), "a roff page");
    assert!(
        man.contains(".TH sensor-quarantine"),
        "with the subcommands"
    );
}
