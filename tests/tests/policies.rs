//! Autonomous response on real traffic: EDR alerts (vendor-shaped, imported into the
//! running agent's store as a connector would store them) meet the response policies. The
//! shipped policy suspends the endpoint an alert names while an open session goes on; a
//! dry-run policy records and enforces nothing; a confirm policy waits for `sensor
//! approve` and then expires on time; the never-block list wins; the actions' audit logs,
//! extend, clear and reactivate; after a restart the policy's action is still enforced and
//! listed.

use std::{
    process::Stdio,
    thread,
    time::{Duration, Instant},
};

use chrono::{SecondsFormat, Utc};
use sensor_tests::{
    env,
    running::{Running, SHORT_TIMEOUTS},
    traffic::{connects, listen, listen_tcp, session, stop},
    xtask_lab as lab,
};
use serde_json::{Value, json};

fn now() -> String {
    Utc::now().to_rfc3339_opts(SecondsFormat::Millis, true)
}

/// Imports one vendor object into the agent's store, as its connector would.
fn import(run: &Running, vendor: &str, alert: &Value) {
    let file = run.file(&format!("{vendor}-{}.json", fastrand::u32(..)));
    std::fs::write(&file, alert.to_string()).unwrap();
    let state = run.state();
    let out = std::process::Command::new(env::sensor_bin())
        .args(["edr", "import", "--vendor", vendor, "--state-dir", &state])
        .arg(&file)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "import: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// Whether a new curl from the client gets a TCP connection to the server's `port`
/// (`time_connect` stays 0 when the SYN is dropped).
fn curl_connects(run: &Running, port: u16) -> bool {
    let out = run
        .lab
        .client
        .exec(
            "sh",
            &[
                "-c",
                &format!(
                    "curl -s -o /dev/null --max-time 2 -w '%{{time_connect}}' \
                     http://{}:{port}/ || true",
                    lab::SERVER_IP
                ),
            ],
        )
        .unwrap();
    out.trim().parse::<f64>().is_ok_and(|t| t > 0.0)
}

/// What action `id`'s audit log says happened, in order.
fn audit_steps(run: &Running, id: &str) -> Vec<String> {
    run.api_json(&["action", id])["audit"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["what"].as_str().unwrap().to_owned())
        .collect()
}

/// The actions a policy took.
fn by_policy(run: &Running, policy: &str) -> Vec<Value> {
    run.api_json(&["actions"])
        .as_array()
        .unwrap()
        .iter()
        .filter(|a| a["policy"] == policy)
        .cloned()
        .collect()
}

const CONFIG: &str = r#"
# The shipped policy, replaced by name: Falcon alerts only, so the others below are alone.
[[policy]]
name = "edr-network-evidence"
do = "block_and_suspend"
[policy.when]
on = "edr_alert"
vendors = ["crowdstrike"]
network_evidence = true

[[policy]]
name = "dry"
mode = "dry_run"
do = "quarantine"
[policy.when]
on = "edr_alert"
vendors = ["sentinelone"]

[[policy]]
name = "exfil-needs-a-human"
mode = "confirm"
do = "quarantine"
direction = "out"
for = "4s"
[policy.when]
on = "edr_alert"
vendors = ["microsoft"]
tactics = ["exfiltration"]
"#;

#[test]
fn r10_policies_suspend_wait_for_approval_dry_run_and_survive_a_restart() {
    if !env::require_root("r10_policies_suspend_wait_for_approval_dry_run_and_survive_a_restart") {
        return;
    }
    let config_dir = env::Scratch::new("policies-config");
    let config = config_dir.path().join("sensor.toml");
    std::fs::write(&config, CONFIG).unwrap();
    let config_arg = config.to_string_lossy().into_owned();
    let never = format!("{}/32", lab::GATEWAY_INSIDE_IP);
    let mut args = SHORT_TIMEOUTS.to_vec();
    args.extend(["--config", &config_arg, "--never-block", &never]);
    let mut run = Running::start_with("policies", &args);

    // One listener on 8090 that keeps what it receives, one on 8091 for the checks.
    let received = run.file("received.txt");
    let c2 = sink(&run.lab.server, lab::SERVER_IP, 8090, &received);
    let other = listen_tcp(&run.lab, 8091);
    assert!(connects(&run.lab, 8091), "open before any action");
    assert!(run.client_is_a_device(10), "the client is a device");

    // A session to the endpoint the alert will name, open before the alert, sending a line
    // every 100 ms for 6 s.
    let session = session(&run.lab, 8090, 60);
    thread::sleep(Duration::from_millis(500));

    // A Falcon alert naming the server's port 8090: the shipped policy suspends it.
    let falcon = |id: &str, remote: &str, port: u16| {
        json!({
            "composite_id": id, "display_name": "Beacon to a known C2 server", "severity": 80,
            "tactic": "Command and Control", "timestamp": now(), "updated_timestamp": now(),
            "device": {"device_id": "lab-client", "hostname": "lab-client", "local_ip": lab::CLIENT_IP},
            "network_accesses": [{"remote_address": remote, "remote_port": port, "protocol": "TCP"}],
        })
    };
    let started = Instant::now();
    import(&run, "crowdstrike", &falcon("lab:c2", lab::SERVER_IP, 8090));
    assert!(
        env::eventually(10, || !by_policy(&run, "edr-network-evidence").is_empty()),
        "the shipped policy acted: {}",
        run.agent.log_text()
    );
    println!("alert imported -> action listed in {:?}", started.elapsed());
    let suspend = by_policy(&run, "edr-network-evidence")
        .into_iter()
        .find(|a| a["kind"] == "suspend")
        .expect("a suspend");
    assert_eq!(suspend["state"], "active", "{suspend}");
    assert_eq!(suspend["duration_s"], 7200, "two hours: {suspend}");
    assert!(suspend["who"].as_str().unwrap().starts_with("policy:"));
    assert!(
        suspend["why"]
            .as_str()
            .unwrap()
            .contains("Beacon to a known C2 server")
    );
    let id = suspend["id"].to_string();
    assert!(
        !connects(&run.lab, 8090),
        "a new connection to the endpoint fails"
    );
    assert!(
        !curl_connects(&run, 8090),
        "a new curl to the endpoint fails"
    );
    assert!(curl_connects(&run, 8091), "a curl elsewhere connects");
    assert!(
        connects(&run.lab, 8091),
        "other endpoints are untouched: {:#}",
        run.api_json(&["actions"])
    );
    assert!(session.wait_with_output().unwrap().status.success());
    thread::sleep(Duration::from_millis(300));
    let lines = std::fs::read_to_string(&received).unwrap();
    assert_eq!(
        lines.lines().count(),
        60,
        "the open session went on to its end"
    );

    // The never-block list wins over the policy.
    import(
        &run,
        "crowdstrike",
        &falcon("lab:gw", lab::GATEWAY_INSIDE_IP, 53),
    );
    assert!(
        env::eventually(10, || run.agent.log_text().contains("never-block")),
        "the refusal is logged"
    );
    assert!(
        by_policy(&run, "edr-network-evidence")
            .iter()
            .all(|a| !a["targets"].to_string().contains(lab::GATEWAY_INSIDE_IP))
    );

    // Dry run: recorded, nothing enforced.
    import(
        &run,
        "sentinelone",
        &json!({
            "id": "lab-s1-1",
            "threatInfo": {"threatName": "Mimikatz", "updatedAt": now(), "identifiedAt": now(),
                           "confidenceLevel": "malicious"},
            "agentDetectionInfo": {"agentIpV4": lab::CLIENT_IP},
            "agentRealtimeInfo": {"agentId": "lab-s1-agent", "agentComputerName": "lab-client"},
        }),
    );
    assert!(env::eventually(10, || !by_policy(&run, "dry").is_empty()));
    let dry = &by_policy(&run, "dry")[0];
    assert_eq!(dry["state"], "dry_run", "{dry}");
    let rules = run.api_json(&["rules"]).to_string();
    assert!(!rules.contains("quarantine"), "no quarantine rule: {rules}");
    assert!(connects(&run.lab, 8091));

    // Confirm: pending until approved, then in force, then expired on time.
    import(
        &run,
        "microsoft",
        &json!({
            "id": "lab-graph-1", "title": "Data staged for exfiltration", "severity": "high",
            "category": "Exfiltration", "createdDateTime": now(), "lastUpdateDateTime": now(),
            "evidence": [{"@odata.type": "#microsoft.graph.security.deviceEvidence",
                          "mdeDeviceId": "labclient", "ipInterfaces": [lab::CLIENT_IP]}],
        }),
    );
    assert!(env::eventually(10, || !by_policy(
        &run,
        "exfil-needs-a-human"
    )
    .is_empty()));
    let pending = &by_policy(&run, "exfil-needs-a-human")[0];
    assert_eq!(pending["state"], "pending", "{pending}");
    assert!(connects(&run.lab, 8091), "nothing enforced while pending");
    let pid = pending["id"].to_string();
    let approved = run.api_json(&["approve", &pid]);
    assert_eq!(approved["state"], "active", "{approved}");
    assert!(
        !connects(&run.lab, 8091),
        "quarantined (outbound) once approved"
    );
    assert!(
        env::eventually(10, || by_policy(&run, "exfil-needs-a-human")[0]["state"]
            == "expired"),
        "expires four seconds after approval"
    );
    assert!(connects(&run.lab, 8091), "free again once expired");
    let steps = audit_steps(&run, &pid);
    assert_eq!(steps, ["pending", "approved", "expired"], "{steps:?}");

    // Extend, clear, reactivate the suspend; its blocked attempts are counted.
    let extended = run.api_json(&["extend", &id, "4h"]);
    assert_eq!(extended["duration_s"], 4 * 3600);
    let cleared = run.api_json(&["clear", &id])[0].clone();
    assert_eq!(cleared["state"], "cleared");
    assert!(cleared["hits"].as_u64().unwrap() >= 1, "{cleared}");
    assert!(connects(&run.lab, 8090), "open again once cleared");
    let again = run.api_json(&["reactivate", &id]);
    assert_eq!(again["state"], "active");
    assert!(!connects(&run.lab, 8090), "suspended again");

    // A restart: the policy's action is still enforced and listed.
    run.agent.stop().unwrap();
    run.agent = Running::agent(&run.lab, &run.scratch, "agent2.log");
    let listed = run.api_json(&["actions", "--state", "active"]);
    assert!(
        listed
            .as_array()
            .unwrap()
            .iter()
            .any(|a| a["id"] == suspend["id"]),
        "{listed}"
    );
    assert!(
        !connects(&run.lab, 8090),
        "still suspended after the restart"
    );
    let steps = audit_steps(&run, &id);
    assert_eq!(
        steps,
        ["active", "extended", "cleared", "reactivated"],
        "{steps:?}"
    );
    stop(c2);
    stop(other);
}

/// A listener in `ns` on `ip:port` that keeps what it receives in `file`.
fn sink(
    ns: &xtask::netns::Netns,
    ip: &str,
    port: u16,
    file: &std::path::Path,
) -> std::process::Child {
    listen(ns, ip, port, std::fs::File::create(file).unwrap())
}

/// Sends 30 lines over 3 s from the client to `ip:port`; how many arrived in `file`.
fn lines_through(run: &Running, ip: &str, port: u16, file: &std::path::Path) -> usize {
    let before = std::fs::read_to_string(file)
        .unwrap_or_default()
        .lines()
        .count();
    let _ = run
        .lab
        .client
        .command("sh")
        .args([
            "-c",
            &format!(
                "for i in $(seq 1 30); do echo line$i; sleep 0.1; done | nc -N -w 1 {ip} {port}"
            ),
        ])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status();
    thread::sleep(Duration::from_millis(300));
    std::fs::read_to_string(file)
        .unwrap_or_default()
        .lines()
        .count()
        - before
}

const CONTAIN: &str = r#"
[[policy]]
name = "edr-network-evidence"
enabled = false
do = "block_and_suspend"
[policy.when]

[[policy]]
name = "contain"
do = "block_outbound"
[policy.when]
on = "edr_alert"
vendors = ["sentinelone"]
tags = ["lab"]

[[policy]]
name = "hold-the-pattern"
do = "pattern_of_life"
[policy.when]
on = "edr_alert"
vendors = ["microsoft"]
"#;

#[test]
fn r10_egress_and_pattern_of_life_cut_connections_as_they_open() {
    if !env::require_root("r10_egress_and_pattern_of_life_cut_connections_as_they_open") {
        return;
    }
    let config_dir = env::Scratch::new("contain-config");
    let config = config_dir.path().join("sensor.toml");
    std::fs::write(&config, CONTAIN).unwrap();
    let config_arg = config.to_string_lossy().into_owned();
    let mut args = SHORT_TIMEOUTS.to_vec();
    args.extend(["--config", &config_arg]);
    let run = Running::start_with("contain", &args);
    let (out_file, usual_file, inside_file, new_file) = (
        run.file("out.txt"),
        run.file("usual.txt"),
        run.file("inside.txt"),
        run.file("new.txt"),
    );
    let out = sink(&run.lab.server, lab::SERVER_IP, 8093, &out_file);
    let usual = sink(&run.lab.server, lab::SERVER_IP, 8091, &usual_file);
    let inside = sink(&run.lab.gateway, lab::GATEWAY_INSIDE_IP, 8094, &inside_file);
    let never = sink(&run.lab.server, lab::SERVER_IP, 8095, &new_file);
    // A cut connection stays open at the listener (nothing closed it): one listener each.
    let after_file = run.file("after.txt");
    let after = sink(&run.lab.server, lab::SERVER_IP, 8096, &after_file);
    // The client's pattern of life: it uses 8091 on the server, never 8095.
    assert_eq!(lines_through(&run, lab::SERVER_IP, 8091, &usual_file), 30);
    assert!(
        env::eventually(15, || {
            run.api_json(&["conns", "--addr", lab::CLIENT_IP])
                .as_array()
                .unwrap()
                .iter()
                .any(|c| c["resp_p"] == 8091)
        }),
        "the session to 8091 is recorded (and learned)"
    );

    // Egress (for devices tagged `lab`): connections out are cut as they open; inside hosts
    // stay reachable.
    let tags = run.api_json(&["tag", lab::CLIENT_IP, "lab"]);
    assert_eq!(tags, json!(["lab"]));
    import(
        &run,
        "sentinelone",
        &json!({
            "id": "lab-s1-contain",
            "threatInfo": {"threatName": "Cobalt Strike beacon", "updatedAt": now(), "identifiedAt": now(),
                           "confidenceLevel": "malicious"},
            "agentDetectionInfo": {"agentIpV4": lab::CLIENT_IP},
            "agentRealtimeInfo": {"agentId": "lab-s1-agent", "agentComputerName": "lab-client"},
        }),
    );
    assert!(env::eventually(10, || !by_policy(&run, "contain").is_empty()));
    let contain = by_policy(&run, "contain")[0].clone();
    assert_eq!(contain["kind"], "egress", "{contain}");
    thread::sleep(Duration::from_millis(1500));
    let got = lines_through(&run, lab::SERVER_IP, 8093, &out_file);
    assert!(
        got < 30,
        "the connection out was cut: {got} of 30 lines arrived"
    );
    assert_eq!(
        lines_through(&run, lab::GATEWAY_INSIDE_IP, 8094, &inside_file),
        30,
        "inside hosts are spared"
    );
    let id = contain["id"].to_string();
    assert!(audit_steps(&run, &id).contains(&"cut".to_owned()));
    run.api_json(&["clear", &id]);
    assert_eq!(
        lines_through(&run, lab::SERVER_IP, 8096, &after_file),
        30,
        "free again once cleared"
    );

    // Pattern of life: what the device did before goes on; what it never did is cut.
    import(
        &run,
        "microsoft",
        &json!({
            "id": "lab-graph-pattern", "title": "Hands-on-keyboard activity", "severity": "high",
            "category": "Execution", "createdDateTime": now(), "lastUpdateDateTime": now(),
            "evidence": [{"@odata.type": "#microsoft.graph.security.deviceEvidence",
                          "mdeDeviceId": "labclient", "ipInterfaces": [lab::CLIENT_IP]}],
        }),
    );
    assert!(env::eventually(10, || !by_policy(&run, "hold-the-pattern").is_empty()));
    thread::sleep(Duration::from_millis(1500));
    assert_eq!(
        lines_through(&run, lab::SERVER_IP, 8091, &usual_file),
        30,
        "usual for the device"
    );
    let got = lines_through(&run, lab::SERVER_IP, 8095, &new_file);
    assert!(
        got < 30,
        "unusual for the device, cut: {got} of 30 lines arrived"
    );
    for child in [out, usual, inside, never, after] {
        stop(child);
    }
}
