//! Connection records from live traffic: a finished TCP connection becomes one record with
//! the right endpoints, counts, state and Community ID, and leaves the kernel table; a
//! kill -9 and restart of the agent loses no record and stores none twice.

use std::{
    collections::HashSet,
    process::Stdio,
    thread,
    time::{Duration, Instant},
};

use sensor::capture::community_id::community_id;
use sensor_tests::{
    cli::{field, sensor_json},
    env,
    running::Running,
    xtask_lab as lab,
};
use serde_json::Value;

/// Polls `sensor conns` until `want(records)` holds or 10 s pass.
fn wait_for_records(run: &Running, want: impl Fn(&[Value]) -> bool) -> Vec<Value> {
    let start = Instant::now();
    loop {
        let out = std::process::Command::new(env::sensor_bin())
            .args([
                "conns",
                "--json",
                "--limit",
                "0",
                "--state-dir",
                &run.state(),
            ])
            .output()
            .expect("run sensor conns");
        if out.status.success() {
            let records: Vec<Value> = serde_json::from_slice(&out.stdout).expect("JSON");
            if want(&records) {
                return records;
            }
        }
        assert!(
            start.elapsed() < Duration::from_secs(10),
            "records did not appear in time:\n{}\n{}",
            String::from_utf8_lossy(&out.stdout),
            run.agent.log_text()
        );
        thread::sleep(Duration::from_millis(200));
    }
}

fn tcp_transfer(run: &Running, port: u16, bytes: usize) {
    let payload = run.file(&format!("payload-{port}.bin"));
    std::fs::write(&payload, vec![0x61u8; bytes]).unwrap();
    let server = run
        .lab
        .server
        .command("nc")
        .args(["-l", "-N", lab::SERVER_IP, &port.to_string()])
        .stdout(Stdio::null())
        .spawn()
        .unwrap();
    thread::sleep(Duration::from_millis(200));
    let status = run
        .lab
        .client
        .command("nc")
        .args(["-N", "-w", "3", lab::SERVER_IP, &port.to_string()])
        .stdin(std::fs::File::open(&payload).unwrap())
        .stdout(Stdio::null())
        .status()
        .unwrap();
    assert!(status.success(), "nc to port {port}");
    let _ = server.wait_with_output();
}

#[test]
fn r5_a_finished_tcp_connection_becomes_one_record() {
    if !env::require_root("r5_a_finished_tcp_connection_becomes_one_record") {
        return;
    }
    let run = Running::start("record");
    let before = run.lab.link_counters().unwrap();
    tcp_transfer(&run, 7000, 50_000);
    let links = run.lab.link_counters().unwrap().since(&before);
    let records = wait_for_records(&run, |r| r.iter().any(|x| x["resp_p"] == 7000));
    let r = records.iter().find(|x| x["resp_p"] == 7000).unwrap();
    assert_eq!(r["orig_h"], lab::CLIENT_IP);
    assert_eq!(r["resp_h"], lab::SERVER_IP);
    assert_eq!(r["proto"], "tcp");
    assert_eq!(r["conn_state"], "SF", "{r}");
    let history = r["history"].as_str().unwrap();
    assert!(
        history.starts_with('S') && history.contains('F') && history.contains('h'),
        "{history}"
    );
    assert_eq!(
        field(r, "orig_pkts"),
        links.inside.rx_packets,
        "every client packet"
    );
    assert_eq!(
        field(r, "resp_pkts"),
        links.outside.rx_packets,
        "every server packet"
    );
    assert_eq!(
        field(r, "orig_bytes"),
        links.inside.rx_bytes + 14 * links.inside.rx_packets
    );
    let orig_p = field(r, "orig_p") as u16;
    let want = community_id(
        0,
        lab::CLIENT_IP.parse().unwrap(),
        orig_p,
        lab::SERVER_IP.parse().unwrap(),
        7000,
        6,
    );
    assert_eq!(r["community_id"], want.as_str());
    let uid = r["uid"].as_str().unwrap();
    assert!(uid.starts_with('C') && uid.len() == 18, "{uid}");
    let flows = sensor_json(&[
        "flows",
        "--json",
        "--port",
        "7000",
        "--pin-dir",
        &run.pins(),
    ]);
    assert_eq!(
        flows.as_array().unwrap().len(),
        0,
        "the recorded flow left the kernel table"
    );
}

#[test]
fn r5_kill_9_and_restart_lose_no_record_and_store_none_twice() {
    if !env::require_root("r5_kill_9_and_restart_lose_no_record_and_store_none_twice") {
        return;
    }
    let mut run = Running::start("crash");
    for port in 7100..7105 {
        tcp_transfer(&run, port, 2_000);
    }
    // Some records are committed, some flows are still waiting for their sweep.
    wait_for_records(&run, |r| !r.is_empty());
    run.agent.kill();
    for port in 7105..7110 {
        tcp_transfer(&run, port, 2_000);
    }
    let _second = Running::agent(&run.lab, &run.scratch, "agent2.log");
    let records = wait_for_records(&run, |r| {
        r.iter()
            .filter(|x| (7100..7110).contains(&field(x, "resp_p")))
            .count()
            >= 10
    });
    let ours: Vec<&Value> = records
        .iter()
        .filter(|x| (7100..7110).contains(&field(x, "resp_p")))
        .collect();
    assert_eq!(ours.len(), 10, "one record per connection: {ours:#?}");
    let uids: HashSet<&str> = ours.iter().map(|x| x["uid"].as_str().unwrap()).collect();
    assert_eq!(uids.len(), 10, "no uid twice");
    let ports: HashSet<u64> = ours.iter().map(|x| field(x, "resp_p")).collect();
    assert_eq!(
        ports.len(),
        10,
        "every connection, including those made with no agent"
    );
}

#[test]
fn r5_http_dns_and_ssh_fields_reach_the_records() {
    if !env::require_root("r5_http_dns_and_ssh_fields_reach_the_records") {
        return;
    }
    let run = Running::start("appfields");
    let server = lab::SERVER_IP;

    // HTTP: curl with its own user agent against a one-shot responder.
    let response = "HTTP/1.0 200 OK\r\nContent-Length: 2\r\n\r\nok";
    let responder = run
        .lab
        .server
        .command("sh")
        .args([
            "-c",
            &format!("printf '%s' \"$0\" | nc -l -N {server} 8000"),
            response,
        ])
        .stdout(Stdio::null())
        .spawn()
        .unwrap();
    thread::sleep(Duration::from_millis(200));
    run.lab
        .client
        .exec(
            "curl",
            &[
                "-s",
                "-o",
                "/dev/null",
                "-A",
                "sensor-test-agent/2.0",
                &format!("http://{server}:8000/probe?x=1"),
            ],
        )
        .unwrap();
    let _ = responder.wait_with_output();

    // DNS: dig against dnsmasq, which answers for the lab's C2 name.
    let dnsmasq = run
        .lab
        .server
        .command("dnsmasq")
        .args([
            "--no-daemon",
            "--no-resolv",
            "--no-hosts",
            "--bind-interfaces",
        ])
        .arg(format!("--listen-address={server}"))
        .arg("--address=/c2.example.test/203.0.113.66")
        .arg("--address=/fs-01.lab.test/10.77.1.20")
        .arg(format!("--pid-file={}", run.file("dnsmasq.pid").display()))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    thread::sleep(Duration::from_millis(500));
    let answer = run
        .lab
        .client
        .exec(
            "dig",
            &[
                "+short",
                "+tries=1",
                "+time=2",
                &format!("@{server}"),
                "c2.example.test",
                "A",
            ],
        )
        .unwrap();
    assert_eq!(answer.trim(), "203.0.113.66", "dnsmasq answered");
    run.lab
        .client
        .exec(
            "dig",
            &[
                "+short",
                "+tries=1",
                "+time=2",
                &format!("@{server}"),
                "fs-01.lab.test",
                "A",
            ],
        )
        .unwrap();

    // SSH identification strings, each side sending its own.
    let ssh_server = run
        .lab
        .server
        .command("sh")
        .args([
            "-c",
            &format!("printf 'SSH-2.0-TestServer_1.0\\r\\n' | nc -l -N {server} 2222"),
        ])
        .stdout(Stdio::null())
        .spawn()
        .unwrap();
    thread::sleep(Duration::from_millis(200));
    run.lab
        .client
        .exec(
            "sh",
            &[
                "-c",
                &format!(
                    "printf 'SSH-2.0-TestClient_2.0\\r\\n' | nc -N -w 2 {server} 2222 >/dev/null"
                ),
            ],
        )
        .unwrap();
    let _ = ssh_server.wait_with_output();

    let records = wait_for_records(&run, |r| {
        [8000, 2222]
            .iter()
            .all(|p| r.iter().any(|x| x["resp_p"] == *p))
            && r.iter().filter(|x| x["resp_p"] == 53).count() >= 2
    });
    let find = |port: u64| records.iter().find(|x| x["resp_p"] == port).unwrap();
    let http = &find(8000)["app"];
    assert_eq!(http["service"], "http", "{http}");
    assert_eq!(http["http"]["method"], "GET");
    assert_eq!(http["http"]["uri"], "/probe?x=1");
    assert_eq!(http["http"]["host"], format!("{server}:8000"));
    assert_eq!(http["http"]["user_agent"], "sensor-test-agent/2.0");
    assert_eq!(http["http"]["status"], 200);
    let dns = &records
        .iter()
        .find(|x| x["resp_p"] == 53 && x["app"]["dns"]["query"] == "c2.example.test")
        .unwrap()["app"];
    assert_eq!(dns["service"], "dns", "{dns}");
    assert_eq!(dns["dns"]["query"], "c2.example.test");
    assert_eq!(dns["dns"]["qtype"], "A");
    assert_eq!(dns["dns"]["answers"][0], "203.0.113.66");
    let ssh = &find(2222)["app"];
    assert_eq!(ssh["service"], "ssh", "{ssh}");
    assert_eq!(ssh["ssh"]["client"], "SSH-2.0-TestClient_2.0");
    assert_eq!(ssh["ssh"]["server"], "SSH-2.0-TestServer_1.0");
    let devices = sensor_json(&["devices", "--json", "--state-dir", &run.state()]);
    let fs01 = devices
        .as_array()
        .unwrap()
        .iter()
        .find(|d| d["hostname"] == "fs-01.lab.test")
        .unwrap_or_else(|| panic!("a DNS answer names the internal address's device: {devices}"));
    assert_eq!(fs01["addresses"][0]["addr"], "10.77.1.20");
    let mut dnsmasq = dnsmasq;
    let _ = dnsmasq.kill();
    let _ = dnsmasq.wait();
}

#[test]
fn r5_arp_makes_a_device_and_its_records_name_it() {
    if !env::require_root("r5_arp_makes_a_device_and_its_records_name_it") {
        return;
    }
    let run = Running::start("arpdevice");
    // Let the client resolve its gateway for itself: its ARP request is what the sensor sees.
    run.lab
        .client
        .ip(&[
            "neigh",
            "del",
            lab::GATEWAY_INSIDE_IP,
            "dev",
            &run.lab.client_if,
        ])
        .unwrap();
    tcp_transfer(&run, 7200, 1_000);
    let records = wait_for_records(&run, |r| r.iter().any(|x| x["resp_p"] == 7200));
    let record = records.iter().find(|x| x["resp_p"] == 7200).unwrap();
    let devices = sensor_json(&["devices", "--json", "--state-dir", &run.state()]);
    let client = devices
        .as_array()
        .unwrap()
        .iter()
        .find(|d| d["mac"] == "02:77:01:00:00:0c")
        .unwrap_or_else(|| panic!("no device for the client's MAC: {devices}"));
    let addrs: Vec<&str> = client["addresses"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["addr"].as_str().unwrap())
        .collect();
    assert!(addrs.contains(&lab::CLIENT_IP), "{client}");
    assert_eq!(client["internal"], true);
    assert_eq!(
        record["device_id"], client["id"],
        "the record names the client's device"
    );
}

#[test]
fn r5_a_flow_table_too_small_is_reported_not_silent() {
    if !env::require_root("r5_a_flow_table_too_small_is_reported_not_silent") {
        return;
    }
    let scratch = env::Scratch::new("evictions");
    let lab = sensor_tests::Lab::build().expect("build the lab");
    let run_dir = scratch.path().join("run");
    let agent = sensor_tests::Agent::start(
        &env::sensor_bin(),
        &lab.gateway,
        &lab.gateway_ifaces(),
        &lab.pin_dir(),
        &run_dir,
        &scratch.path().join("agent.log"),
        &["--flow-table-size", "64", "--tcp-timeout", "1h"],
    )
    .expect("start the agent");
    // 400 SYNs to 400 ports: 400 flows through a table of 64.
    let _ = lab.client.exec(
        "hping3",
        &[
            "-q",
            "-S",
            "-p",
            "++2000",
            "-c",
            "400",
            "-i",
            "u1000",
            lab::SERVER_IP,
        ],
    );
    let pins = lab.pin_dir().to_string_lossy().into_owned();
    let dir = run_dir.to_string_lossy().into_owned();
    let start = Instant::now();
    loop {
        let status = sensor_json(&["status", "--json", "--pin-dir", &pins, "--run-dir", &dir]);
        if status["agent"]["flows_evicted"].as_u64().unwrap_or(0) > 100 {
            break;
        }
        assert!(
            start.elapsed() < Duration::from_secs(10),
            "evictions were not reported: {status}\n{}",
            agent.log_text()
        );
        thread::sleep(Duration::from_millis(300));
    }
    assert!(
        agent.log_text().contains("raise --flow-table-size"),
        "and logged"
    );
}

#[test]
fn r5_a_tls_handshake_gives_its_server_name_and_ja4() {
    if !env::require_root("r5_a_tls_handshake_gives_its_server_name_and_ja4") {
        return;
    }
    let run = Running::start("tls");
    let (cert, key) = (run.file("cert.pem"), run.file("key.pem"));
    let made = std::process::Command::new("openssl")
        .args([
            "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1",
        ])
        .args(["-subj", "/CN=c2.example.test", "-keyout"])
        .arg(&key)
        .arg("-out")
        .arg(&cert)
        .output()
        .expect("run openssl req");
    assert!(
        made.status.success(),
        "{}",
        String::from_utf8_lossy(&made.stderr)
    );
    let mut server = run
        .lab
        .server
        .command("openssl")
        .args(["s_server", "-quiet", "-www", "-accept"])
        .arg(format!("{}:8443", lab::SERVER_IP))
        .arg("-cert")
        .arg(&cert)
        .arg("-key")
        .arg(&key)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("start openssl s_server");
    thread::sleep(Duration::from_millis(500));
    let resolve = format!("c2.example.test:8443:{}", lab::SERVER_IP);
    let out = run
        .lab
        .client
        .exec(
            "curl",
            &[
                "-sk",
                "-o",
                "/dev/null",
                "-w",
                "%{http_code}",
                "--resolve",
                &resolve,
                "https://c2.example.test:8443/",
            ],
        )
        .unwrap();
    assert_eq!(out.trim(), "200", "the TLS exchange completed");
    let _ = server.kill();
    let _ = server.wait();
    let records = wait_for_records(&run, |r| r.iter().any(|x| x["resp_p"] == 8443));
    let r = records.iter().find(|x| x["resp_p"] == 8443).unwrap();
    assert_eq!(r["app"]["service"], "tls", "{r}");
    assert_eq!(r["app"]["tls"]["sni"], "c2.example.test");
    let ja4 = r["app"]["tls"]["ja4"].as_str().unwrap();
    assert!(
        ja4.starts_with("t13d"),
        "curl offers TLS 1.3 with a server name: {ja4}"
    );
    assert_eq!(ja4.len(), 36, "a_b_c with 10 + 12 + 12 characters: {ja4}");
}

#[test]
fn r5_an_ssh_session_gives_both_banners() {
    if !env::require_root("r5_an_ssh_session_gives_both_banners") {
        return;
    }
    let run = Running::start("ssh");
    let key = run.file("host_key");
    let made = std::process::Command::new("ssh-keygen")
        .args(["-q", "-t", "ed25519", "-N", "", "-f"])
        .arg(&key)
        .status()
        .expect("run ssh-keygen");
    assert!(made.success());
    // sshd insists on its privilege-separation directory.
    std::fs::create_dir_all("/run/sshd").expect("create /run/sshd");
    let mut sshd = run
        .lab
        .server
        .command("/usr/sbin/sshd")
        .args(["-D", "-f", "/dev/null", "-h"])
        .arg(&key)
        .args([
            "-o",
            &format!("ListenAddress={}", lab::SERVER_IP),
            "-o",
            "Port=2200",
        ])
        .arg("-o")
        .arg(format!("PidFile={}", run.file("sshd.pid").display()))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("start sshd");
    thread::sleep(Duration::from_millis(500));
    // No credentials: the client gives up after the key exchange, banners long exchanged.
    let _ = run.lab.client.exec(
        "ssh",
        &[
            "-o",
            "BatchMode=yes",
            "-o",
            "StrictHostKeyChecking=no",
            "-o",
            "UserKnownHostsFile=/dev/null",
            "-o",
            "ConnectTimeout=3",
            "-p",
            "2200",
            &format!("nobody@{}", lab::SERVER_IP),
            "true",
        ],
    );
    let _ = sshd.kill();
    let _ = sshd.wait();
    let records = wait_for_records(&run, |r| r.iter().any(|x| x["resp_p"] == 2200));
    let r = records.iter().find(|x| x["resp_p"] == 2200).unwrap();
    assert_eq!(r["app"]["service"], "ssh", "{r}");
    let client = r["app"]["ssh"]["client"].as_str().unwrap_or("");
    let server = r["app"]["ssh"]["server"].as_str().unwrap_or("");
    assert!(client.starts_with("SSH-2.0-OpenSSH"), "{client}");
    assert!(server.starts_with("SSH-2.0-OpenSSH"), "{server}");
}
