//! Detection on real captures and real traffic: the key cases of `cargo xtask eval` pinned
//! (each attack raises its model, with evidence; benign captures stay quiet), the model
//! commands, and a live nmap scan in the lab becoming a breach the API lists.

use std::{
    thread,
    time::{Duration, Instant},
};

use sensor_tests::{
    cli::{sensor_json, sensor_output},
    env, fixtures,
    running::Running,
    traffic::{listen_tcp, stop},
    xtask_lab as lab,
};
use serde_json::Value;

fn replay_breaches(name: &str, file: &str, extra: &[&str]) -> Vec<Value> {
    let scratch = env::Scratch::new(name);
    let state = scratch.path().to_string_lossy().into_owned();
    let path = fixtures::pcaps_dir().join(file);
    let mut args = vec!["replay", "--json", "--state-dir", &state];
    args.extend(extra);
    let path = path.to_string_lossy().into_owned();
    args.push(&path);
    sensor_json(&args);
    sensor_json(&["breaches", "--json", "--limit", "0", "--state-dir", &state])
        .as_array()
        .unwrap()
        .clone()
}

#[test]
fn r7_replayed_attacks_raise_their_models_with_evidence() {
    if !env::require_root("r7_replayed_attacks_raise_their_models_with_evidence") {
        return;
    }
    for (file, model, metric) in [
        (
            "beacon_c2/caldera__manx-udp.pcap",
            "beacon-address",
            "interval regularity",
        ),
        (
            "lateral_smb_rdp_ssh/zeek__sshguess.pcap",
            "brute-force",
            "attempts",
        ),
        ("scan/zeek__nmap-vsn.pcap", "ping-sweep", "distinct targets"),
        (
            "http_useragent/zeek__http_testmyids.pcap",
            "tool-user-agent",
            "matched",
        ),
        ("dns/zeek__quicdoq.pcap", "encrypted-dns", "matched"),
        // SMB and DCE-RPC read past the first payload: a job scheduled through the atsvc
        // pipe, PsExec's svcctl bind on a dynamic RPC port, mimikatz copied to C$, and
        // `net user` through samr.
        // Beacons inside one held connection: HTTP keep-alive polling (sandcat) and a raw
        // TCP session with a heartbeat (manx).
        (
            "beacon_c2/caldera__sandcat.pcap",
            "beacon-in-connection",
            "variation of the silences",
        ),
        (
            "beacon_c2/caldera__manx-tcp.pcap",
            "beacon-in-connection",
            "variation of the silences",
        ),
        (
            "lateral_smb_rdp_ssh/suricata__20171220_smb_at_schedule.pcap",
            "remote-execution-rpc",
            "matched",
        ),
        (
            "lateral_smb_rdp_ssh/suricata__20171220_smb_psexec_mimikatz_ticket_dump-s2.pcap",
            "remote-execution-rpc",
            "matched",
        ),
        (
            "lateral_smb_rdp_ssh/suricata__20171220_smb_mimikatz_copy_to_host.pcap",
            "admin-share",
            "matched",
        ),
        (
            "lateral_smb_rdp_ssh/suricata__20171220_smb_net_user.pcap",
            "account-discovery-rpc",
            "matched",
        ),
        // Malware: HTTP to servers named by bare address (a payload fetched from an
        // address on port 990, C2 posts), spam handed straight to an outside mail server,
        // EternalBlue's SMB1 transactions.
        (
            "malware_misc/suricata__TLPW1-tcp-110.37.219.134-10.12.14.101-tcp-990-49254.pcap",
            "http-to-ip-address",
            "matched",
        ),
        (
            "malware_misc/suricata__file76.pcap",
            "http-to-ip-address",
            "matched",
        ),
        (
            "malware_misc/suricata__10.7.29.101_49898-178.63.41.150_25.pcap",
            "direct-smtp",
            "matched",
        ),
        (
            "malware_misc/suricata__smb2-09-trunc-file-logging_input.pcap",
            "smb1-use",
            "matched",
        ),
        // Files sent out in clear text: an FTP STOR, an IRC DCC SEND (the 17th client
        // message of its IRC session), an HTTP upload of 1.6 MB.
        (
            "exfil_bulk/suricata__ftp-upload-passive_input.pcap",
            "file-upload",
            "matched",
        ),
        (
            "exfil_bulk/zeek__irc-dcc-send.pcapng",
            "file-upload",
            "matched",
        ),
        (
            "exfil_bulk/zeek__http_putty-upload.pcap",
            "file-upload",
            "matched",
        ),
    ] {
        let breaches = replay_breaches("detect-attack", file, &[]);
        let b = breaches
            .iter()
            .find(|b| b["model"] == model)
            .unwrap_or_else(|| panic!("{file}: no {model} breach in {breaches:?}"));
        let score = b["score"].as_u64().unwrap();
        assert!((1..=100).contains(&score), "{file}: score {score}");
        let metrics = b["evidence"]["metrics"].as_array().unwrap();
        let m = metrics
            .iter()
            .find(|m| m["name"] == metric)
            .unwrap_or_else(|| panic!("{file}: evidence lacks {metric}: {b}"));
        assert!(m["observed"].is_number(), "{m}");
        // Patterns are matched, not compared; everything else names its yardstick.
        let pattern = metric == "matched";
        assert!(pattern || m["baseline"].is_number(), "{m}");
        assert!(!b["evidence"]["summary"].as_str().unwrap().is_empty());
        if model != "ping-sweep" {
            assert!(
                !b["evidence"]["connections"].as_array().unwrap().is_empty(),
                "{file}: the connections involved"
            );
        }
    }
    // With detection off, the same capture raises nothing.
    assert!(
        replay_breaches(
            "detect-off",
            "beacon_c2/caldera__manx-udp.pcap",
            &["--no-detect"]
        )
        .is_empty()
    );
}

/// The breach table names each breach's device (host name, address or MAC) beside its id,
/// so an analyst reads who it is without a second lookup.
#[test]
fn r7_the_breach_table_names_the_device() {
    if !env::require_root("r7_the_breach_table_names_the_device") {
        return;
    }
    let scratch = env::Scratch::new("detect-names");
    let state = scratch.path().to_string_lossy().into_owned();
    let pcap = fixtures::pcaps_dir().join("lateral_smb_rdp_ssh/zeek__sshguess.pcap");
    sensor_json(&[
        "replay",
        "--json",
        "--state-dir",
        &state,
        &pcap.to_string_lossy(),
    ]);
    let breaches = sensor_json(&["breaches", "--json", "--limit", "0", "--state-dir", &state]);
    let devices = sensor_json(&["devices", "--json", "--state-dir", &state]);
    let table = sensor_output(&["breaches", "--limit", "0", "--state-dir", &state]);
    let named: Vec<&Value> = breaches
        .as_array()
        .unwrap()
        .iter()
        .filter(|b| b["device_id"].is_i64())
        .collect();
    assert!(!named.is_empty(), "the capture raises breaches on a device");
    for b in named {
        let id = b["device_id"].as_i64().unwrap();
        let device = devices
            .as_array()
            .unwrap()
            .iter()
            .find(|d| d["id"].as_i64() == Some(id))
            .unwrap_or_else(|| panic!("device {id} is listed"));
        let current = device["addresses"]
            .as_array()
            .unwrap()
            .iter()
            .find(|a| a["until"].is_null())
            .and_then(|a| a["addr"].as_str());
        let name = device["hostname"]
            .as_str()
            .or(current)
            .or_else(|| device["mac"].as_str())
            .expect("a device has a name, an address or a MAC");
        let row = table
            .lines()
            .find(|l| l.trim_start().starts_with(&format!("{} ", b["id"])))
            .unwrap_or_else(|| panic!("breach {} in the table:\n{table}", b["id"]));
        assert!(
            row.contains(&format!("{name} ({id})")),
            "the row names device {id} as {name}: {row}"
        );
    }
}

#[test]
fn r7_benign_captures_stay_quiet() {
    if !env::require_root("r7_benign_captures_stay_quiet") {
        return;
    }
    let dir = fixtures::pcaps_dir().join("benign_mixed");
    let mut files: Vec<_> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    files.sort();
    assert!(files.len() >= 5);
    for f in files {
        let rel = format!("benign_mixed/{}", f.file_name().unwrap().to_string_lossy());
        let breaches = replay_breaches("detect-benign", &rel, &[]);
        assert!(breaches.is_empty(), "{rel}: {breaches:?}");
    }
}

#[test]
fn r7_models_list_show_test_and_user_overrides() {
    if !env::require_root("r7_models_list_show_test_and_user_overrides") {
        return;
    }
    let list = sensor_json(&["models", "list", "--json"]);
    let names: Vec<&str> = list
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["name"].as_str().unwrap())
        .collect();
    for want in [
        "beacon-address",
        "brute-force",
        "dns-tunnel",
        "exfiltration",
        "lateral-movement",
        "rare-external-endpoint",
        "scan-vertical",
        "watched-indicator",
    ] {
        assert!(names.contains(&want), "{want} ships: {names:?}");
    }
    let pcap = fixtures::pcaps_dir()
        .join("lateral_smb_rdp_ssh/zeek__sshguess.pcap")
        .to_string_lossy()
        .into_owned();
    let found = sensor_json(&["models", "test", "brute-force", "--pcap", &pcap, "--json"]);
    assert_eq!(found.as_array().unwrap().len(), 1, "{found}");

    // A user file of the same name replaces the shipped model.
    let scratch = env::Scratch::new("detect-models");
    let dir = scratch.path().to_string_lossy().into_owned();
    let test = |model: &str, pcap: &str, extra: &[&str]| {
        let mut args = vec!["models", "test", model, "--pcap", pcap, "--json"];
        args.extend(extra);
        sensor_json(&args).as_array().unwrap().len()
    };
    // `sensor models show` prints the model's file; a copy with one line changed.
    let override_model = |model: &str, line: &str, with: &str| {
        let shown = std::process::Command::new(env::sensor_bin())
            .args(["models", "show", model])
            .output()
            .unwrap();
        let file = String::from_utf8(shown.stdout).unwrap();
        assert!(file.contains(line), "{file}");
        std::fs::write(
            scratch.path().join(format!("{model}.toml")),
            file.replace(line, with),
        )
        .unwrap();
    };
    override_model("brute-force", "min_attempts = 10", "min_attempts = 100");
    assert_eq!(
        test("brute-force", &pcap, &["--models-dir", &dir]),
        0,
        "the override applies"
    );

    // `except` leaves the listed originators alone: the spam bot's network declared a mail
    // server's, its direct delivery breaches no more.
    let spam = fixtures::pcaps_dir()
        .join("malware_misc/suricata__10.7.29.101_49898-178.63.41.150_25.pcap")
        .to_string_lossy()
        .into_owned();
    assert_eq!(test("direct-smtp", &spam, &[]), 1);
    override_model(
        "direct-smtp",
        "answered = true",
        "answered = true\nexcept = [\"10.7.29.0/24\"]",
    );
    assert_eq!(test("direct-smtp", &spam, &["--models-dir", &dir]), 0);

    // A broken user model is refused with its file and reason.
    std::fs::write(
        scratch.path().join("bad.toml"),
        "name = \"bad\"\nversion = 1\n",
    )
    .unwrap();
    let out = std::process::Command::new(env::sensor_bin())
        .args(["models", "list", "--models-dir", &dir])
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("bad.toml"));
}

#[test]
fn r7_a_live_port_scan_becomes_a_breach() {
    if !env::require_root("r7_a_live_port_scan_becomes_a_breach") {
        return;
    }
    let run = Running::start("detect-live");
    let listener = listen_tcp(&run.lab, 8096);
    // A real connect() scan of 100 ports on the server: one open, the rest refused.
    run.lab.port_scan("8000-8099").expect("nmap scan");
    let start = Instant::now();
    let found = loop {
        let b = run.api_json(&["breaches", "--model", "scan-vertical"]);
        if let Some(first) = b.as_array().unwrap().first() {
            break first.clone();
        }
        assert!(
            start.elapsed() < Duration::from_secs(15),
            "no scan breach: {}",
            run.agent.log_text()
        );
        thread::sleep(Duration::from_millis(300));
    };
    assert!(
        found["evidence"]["summary"]
            .as_str()
            .unwrap()
            .contains(lab::CLIENT_IP),
        "{found}"
    );
    assert!(
        found["device_id"].is_u64(),
        "the scanner is a device: {found}"
    );
    // The scanner's summary shows the breach and a risk from it.
    let summary = run.api_json(&["device", lab::CLIENT_IP]);
    assert!(summary["risk"].as_u64().unwrap() >= found["score"].as_u64().unwrap());
    assert_eq!(summary["breaches"][0]["model"], "scan-vertical");
    // The breach is on the scanner's timeline.
    let log = run.api_json(&["log", lab::CLIENT_IP, "--limit", "0"]);
    assert!(
        log.as_array()
            .unwrap()
            .iter()
            .any(|e| e["kind"] == "breach"),
        "{log}"
    );
    stop(listener);
}

/// What the application protocols said reaches the connection record an analyst reads
/// (`sensor conns`): the SMB share, files and dialect, the RPC interface, the FTP file
/// stored, the IRC file offered, the mail envelope, the HTTP body length.
#[test]
fn r7_application_fields_reach_the_records() {
    if !env::require_root("r7_application_fields_reach_the_records") {
        return;
    }
    let lateral = "lateral_smb_rdp_ssh/suricata__20171220_smb";
    for (file, pointer, want) in [
        (
            format!("{lateral}_mimikatz_copy_to_host.pcap"),
            "/smb/trees",
            "\\\\admin-pc\\c$",
        ),
        (
            format!("{lateral}_mimikatz_copy_to_host.pcap"),
            "/smb/files",
            "temp\\mimikatz.exe",
        ),
        (format!("{lateral}_net_user.pcap"), "/rpc", "samr"),
        (
            format!("{lateral}_psexec_mimikatz_ticket_dump-s2.pcap"),
            "/rpc",
            "svcctl",
        ),
        (
            "exfil_bulk/suricata__ftp-upload-passive_input.pcap".to_owned(),
            "/ftp/stored",
            "index.html",
        ),
        (
            "exfil_bulk/zeek__irc-dcc-send.pcapng".to_owned(),
            "/irc/dcc_sends",
            "ssh.trace (1320211 bytes)",
        ),
        (
            "malware_misc/suricata__10.7.29.101_49898-178.63.41.150_25.pcap".to_owned(),
            "/smtp/rcpt_to",
            "mirjam@abrakadabra.ch",
        ),
        (
            "exfil_bulk/zeek__http_putty-upload.pcap".to_owned(),
            "/http/content_length",
            "1648120",
        ),
        (
            "malware_misc/suricata__smb2-09-trunc-file-logging_input.pcap".to_owned(),
            "/smb/v1",
            "true",
        ),
    ] {
        let scratch = env::Scratch::new("detect-app-fields");
        let state = scratch.path().to_string_lossy().into_owned();
        let path = fixtures::pcaps_dir()
            .join(&file)
            .to_string_lossy()
            .into_owned();
        sensor_json(&[
            "replay",
            "--json",
            "--no-detect",
            "--state-dir",
            &state,
            &path,
        ]);
        let conns = sensor_json(&["conns", "--json", "--limit", "0", "--state-dir", &state]);
        let found = conns
            .as_array()
            .unwrap()
            .iter()
            .any(|c| match c["app"].pointer(pointer) {
                Some(Value::Array(values)) => values.iter().any(|x| x.as_str() == Some(want)),
                Some(value) => serde_json::from_str::<Value>(want).is_ok_and(|w| *value == w),
                None => false,
            });
        assert!(
            found,
            "{file}: no record with {pointer} {want:?} in {conns}"
        );
    }
}

/// A beacon that holds its connection open is judged while the connection is open (ten
/// minutes in, on the rhythm so far), not when it ends half an hour later; and once.
#[test]
fn r7_a_held_beacon_is_judged_while_open_and_once() {
    if !env::require_root("r7_a_held_beacon_is_judged_while_open_and_once") {
        return;
    }
    let breaches = replay_breaches("detect-held", "beacon_c2/caldera__sandcat.pcap", &[]);
    let held: Vec<&Value> = breaches
        .iter()
        .filter(|b| b["model"] == "beacon-in-connection")
        .collect();
    assert_eq!(held.len(), 1, "{breaches:?}");
    let bursts = held[0]["evidence"]["metrics"]
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["name"] == "bursts")
        .and_then(|m| m["observed"].as_f64())
        .unwrap();
    // The connection woke 34 times in all; judged while open, it had woken fewer.
    assert!((8.0..34.0).contains(&bursts), "judged on {bursts} bursts");
}
