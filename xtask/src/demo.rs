//! `cargo xtask demo`: the main job. Sets up, builds, makes a client ─ gateway ─ server lab
//! in network namespaces, runs `sensor run` on the gateway, makes real traffic with curl, nc
//! and hping3, and shows what the sensor saw next to what the interfaces counted; then a
//! port scan detected, response through the API, and EDR alerts fused and investigated.
//!
//! Everything it makes is removed at the end, on error and on Ctrl-C.

use std::{
    process::{Command, Stdio},
    sync::{
        Arc,
        atomic::{AtomicBool, Ordering},
    },
    thread,
    time::{Duration, Instant},
};

use anyhow::{Context as _, bail};
use serde_json::Value;
use xtask::{
    agent::Agent,
    lab::{self, Lab},
};

use crate::process::{banner, cargo, elapsed, run as run_cmd, say, sensor_json};

/// Runs `sensor <args>` and takes its JSON array.
fn sensor_json_list(sensor: &std::path::Path, args: &[&str]) -> anyhow::Result<Vec<Value>> {
    Ok(sensor_json(sensor, args)?
        .as_array()
        .cloned()
        .unwrap_or_default())
}

/// A conversation as the sensor reports it, live (`sensor flows`) or recorded
/// (`sensor conns`).
struct Conversation {
    proto: String,
    orig: String,
    resp_port: u64,
    pkts: (u64, u64),
    bytes: (u64, u64),
}

impl Conversation {
    fn from_flow(f: &Value) -> Self {
        let n = |k: &str| f[k].as_u64().unwrap_or(0);
        Self {
            proto: f["proto"].as_str().unwrap_or("").to_owned(),
            orig: f["orig_addr"].as_str().unwrap_or("").to_owned(),
            resp_port: n("resp_port"),
            pkts: (n("orig_packets"), n("resp_packets")),
            bytes: (n("orig_bytes"), n("resp_bytes")),
        }
    }

    fn from_record(r: &Value) -> Self {
        let n = |k: &str| r[k].as_u64().unwrap_or(0);
        Self {
            proto: r["proto"].as_str().unwrap_or("").to_owned(),
            orig: r["orig_h"].as_str().unwrap_or("").to_owned(),
            resp_port: n("resp_p"),
            pkts: (n("orig_pkts"), n("resp_pkts")),
            bytes: (n("orig_bytes"), n("resp_bytes")),
        }
    }
}

/// One kind of traffic the demo makes, and how to recognise its flow.
struct Made {
    what: &'static str,
    proto: &'static str,
    resp_port: u16,
    count: usize,
}

/// Runs the demo.
pub fn run() -> anyhow::Result<()> {
    let start = Instant::now();
    let stop = Arc::new(AtomicBool::new(false));
    {
        let stop = Arc::clone(&stop);
        ctrlc::set_handler(move || stop.store(true, Ordering::SeqCst))
            .context("failed to install the Ctrl-C handler")?;
    }
    let check = || -> anyhow::Result<()> {
        if stop.load(Ordering::SeqCst) {
            bail!("interrupted; the lab has been removed");
        }
        Ok(())
    };

    banner("1/8 setup");
    crate::setup::setup()?;
    check()?;

    banner("2/8 build the sensor (the XDP program is built and embedded by its build script)");
    run_cmd(&mut cargo(&["build", "--package", "sensor"]))?;
    let sensor = xtask::target_dir().join("debug").join("sensor");
    check()?;

    banner("3/8 lab: client ─ gateway ─ server in network namespaces");
    let lab = Lab::build()?;
    let scratch = std::env::temp_dir().join(format!("{}-demo", lab.prefix));
    std::fs::create_dir_all(&scratch).context("failed to create the demo scratch dir")?;
    say(&format!(
        "  client {} ({}) ── [{}] gateway [{}] ── server {} ({})",
        lab::CLIENT_IP,
        lab.client.name(),
        lab.inside_if,
        lab.outside_if,
        lab::SERVER_IP,
        lab.server.name()
    ));
    let agent = Agent::start(
        &sensor,
        &lab.gateway,
        &lab.gateway_ifaces(),
        &lab.pin_dir(),
        &scratch.join("run"),
        &scratch.join("agent.log"),
        &[
            "--tcp-closed-timeout",
            "1s",
            "--udp-timeout",
            "2s",
            "--icmp-timeout",
            "2s",
        ],
    )?;
    say(&format!(
        "  sensor run --iface {} --iface {}   (maps pinned in {})",
        lab.inside_if,
        lab.outside_if,
        lab.pin_dir().display()
    ));
    for line in agent.log_text().lines() {
        say(&format!("  | {line}"));
    }
    check()?;

    banner("4/8 traffic: real tools from the client to the server");
    // The client resolves its gateway itself, so the sensor sees its ARP and learns its MAC.
    lab.client
        .ip(&[
            "neigh",
            "del",
            lab::GATEWAY_INSIDE_IP,
            "dev",
            &lab.client_if,
        ])
        .context("failed to clear the client's static neighbour")?;
    let before = lab.link_counters()?;
    let made = make_traffic(&lab, &scratch, &check)?;
    thread::sleep(Duration::from_millis(300));
    let links = lab.link_counters()?.since(&before);

    banner("5/8 what the sensor saw");
    // Ended flows become connection records after a second idle, UDP and ICMP after two:
    // wait for the sweeper, then show both the live table and the records.
    thread::sleep(Duration::from_secs(3));
    let pins = lab.pin_dir().to_string_lossy().into_owned();
    let state = scratch.join("state").to_string_lossy().into_owned();
    say("Live flows (sensor flows):");
    run_cmd(Command::new(&sensor).args(["flows", "--pin-dir", &pins]))?;
    say("\nConnection records (sensor conns):");
    run_cmd(Command::new(&sensor).args(["conns", "--state-dir", &state]))?;
    say("\nDevices (sensor devices):");
    run_cmd(Command::new(&sensor).args(["devices", "--state-dir", &state]))?;
    say("");
    run_cmd(Command::new(&sensor).args(["status", "--pin-dir", &pins]))?;
    let mut seen = sensor_json_list(&sensor, &["flows", "--json", "--pin-dir", &pins])?
        .iter()
        .map(Conversation::from_flow)
        .collect::<Vec<_>>();
    seen.extend(
        sensor_json_list(
            &sensor,
            &["conns", "--json", "--limit", "0", "--state-dir", &state],
        )?
        .iter()
        .map(Conversation::from_record),
    );

    say("\nSummary: traffic made vs. what the sensor recorded (live flows + connection records)");
    say(&format!(
        "  {:<34} {:>6} {:>6} {:>10} {:>10}",
        "TRAFFIC", "MADE", "SEEN", "PKTS >/<", "BYTES >/<"
    ));
    let mut ok = true;
    for m in &made {
        let matching: Vec<&Conversation> = seen
            .iter()
            .filter(|c| {
                c.proto == m.proto
                    && c.resp_port == u64::from(m.resp_port)
                    && c.orig == lab::CLIENT_IP
            })
            .collect();
        let sum = |f: fn(&Conversation) -> u64| matching.iter().map(|c| f(c)).sum::<u64>();
        ok &= matching.len() == m.count;
        say(&format!(
            "  {:<34} {:>6} {:>6} {:>10} {:>10}",
            m.what,
            m.count,
            matching.len(),
            format!("{}/{}", sum(|c| c.pkts.0), sum(|c| c.pkts.1)),
            format!("{}/{}", sum(|c| c.bytes.0), sum(|c| c.bytes.1)),
        ));
    }
    let orig: u64 = seen.iter().map(|c| c.pkts.0).sum();
    let resp: u64 = seen.iter().map(|c| c.pkts.1).sum();
    let counted = links.inside.rx_packets + links.outside.rx_packets;
    let status = Command::new(&sensor)
        .args(["status", "--json", "--pin-dir", &pins])
        .output()
        .context("failed to run sensor status")?;
    let status: Value = serde_json::from_slice(&status.stdout).unwrap_or(Value::Null);
    let arp = status["counters"]["arp"].as_u64().unwrap_or(0);
    say(&format!(
        "  packets: sensor {} in conversations (client→server {orig}, server→client {resp}) \
         + {arp} ARP; gateway interfaces received {counted}",
        orig + resp
    ));
    ok &= orig + resp + arp == counted;

    let socket = scratch.join("run").join("sensor.sock");
    banner("6/8 detect: a port scan from the client becomes a breach");
    ok &= detect(&sensor, &lab, &socket)?;

    banner("7/8 respond: block, quarantine and clear through the agent's API");
    ok &= respond(&sensor, &lab, &socket)?;

    drop(agent);
    drop(lab);
    let _ = std::fs::remove_dir_all(&scratch);
    check()?;

    banner("8/8 EDR: Defender alerts fused with the network's view, investigated into an incident");
    let told = crate::demo_story::run(&sensor)?;
    if !told {
        say("  the ws-02 story did not become one incident");
    }
    ok &= told;
    say(&format!(
        "\ndemo finished in {}; namespaces, links and pins removed",
        elapsed(start)
    ));
    if !ok {
        bail!("what the sensor recorded does not match the traffic the demo made");
    }
    say("every conversation the demo made was seen, and packet counts match the interfaces");
    Ok(())
}

/// Makes the traffic: HTTP with curl, an upload with nc, a UDP query and reply, ICMP echoes.
/// A real nmap connect scan from the client; the agent's scan model must call it out.
fn detect(sensor: &std::path::Path, lab: &Lab, socket: &std::path::Path) -> anyhow::Result<bool> {
    say(&format!(
        "$ nmap -sT -Pn -p 8000-8099 {}   (from the client)",
        lab::SERVER_IP
    ));
    if let Err(err) = lab.port_scan("8000-8099") {
        say(&format!("  {err:#}"));
        return Ok(false);
    }
    let start = Instant::now();
    let found = loop {
        let out = Command::new(sensor)
            .args(["breaches", "--json", "--model", "scan-vertical"])
            .env("SENSOR_SOCKET", socket)
            .output()
            .context("failed to run sensor breaches")?;
        let list: Value = serde_json::from_slice(&out.stdout).unwrap_or(Value::Null);
        if list.as_array().is_some_and(|a| !a.is_empty()) {
            break true;
        }
        if start.elapsed() > Duration::from_secs(15) {
            break false;
        }
        thread::sleep(Duration::from_millis(300));
    };
    say("$ sensor breaches --evidence");
    run_cmd(
        Command::new(sensor)
            .args(["breaches", "--evidence"])
            .env("SENSOR_SOCKET", socket),
    )?;
    say(if found {
        "  the scan was detected\n"
    } else {
        "  NO scan breach within 15 s\n"
    });
    Ok(found)
}

/// Manual response on live traffic: each step's effect is checked with a real connection.
fn respond(sensor: &std::path::Path, lab: &Lab, socket: &std::path::Path) -> anyhow::Result<bool> {
    let server = lab::SERVER_IP;
    let mut listener = lab
        .server
        .command("nc")
        .args(["-l", "-k", server, "8000"])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .spawn()
        .context("failed to start a listener on the server")?;
    thread::sleep(Duration::from_millis(300));
    let connects = || {
        lab.client
            .command("nc")
            .args(["-z", "-w", "1", server, "8000"])
            .stdin(Stdio::null())
            .status()
            .is_ok_and(|s| s.success())
    };
    let cli = |args: &[&str]| -> anyhow::Result<()> {
        say(&format!("$ sensor {}", args.join(" ")));
        run_cmd(Command::new(sensor).args(args).env("SENSOR_SOCKET", socket))
    };
    let mut ok = true;
    let mut step = |what: &str, want: bool| {
        let got = connects();
        say(&format!(
            "  client -> {server}:8000 {}  ({what})\n",
            if got { "connects" } else { "is dropped" }
        ));
        ok &= got == want;
    };
    step("before any action", true);
    cli(&[
        "block",
        &format!("{server}:8000"),
        "--side",
        "dst",
        "--for",
        "10m",
        "--why",
        "demo: C2 port",
    ])?;
    step("blocked in the kernel", false);
    cli(&["rules"])?;
    cli(&["clear", server])?;
    step("cleared", true);
    cli(&[
        "quarantine",
        lab::CLIENT_IP,
        "--why",
        "demo: ransomware on the host",
    ])?;
    step("the client is quarantined", false);
    cli(&["log", lab::CLIENT_IP, "--limit", "5"])?;
    cli(&["clear", lab::CLIENT_IP])?;
    step("quarantine cleared", true);
    cli(&["actions"])?;
    let _ = listener.kill();
    let _ = listener.wait();
    Ok(ok)
}

fn make_traffic(
    lab: &Lab,
    scratch: &std::path::Path,
    check: &dyn Fn() -> anyhow::Result<()>,
) -> anyhow::Result<Vec<Made>> {
    let server = lab::SERVER_IP;
    let mut made = Vec::new();

    // Three HTTP requests; the server is a one-shot nc per request.
    let body = "<html>sensor demo</html>\n";
    let response = format!(
        "HTTP/1.0 200 OK\r\nContent-Type: text/html\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    );
    for i in 1..=3 {
        let mut responder = lab
            .server
            .command("sh")
            .args([
                "-c",
                &format!("printf '%s' \"$0\" | nc -l -N {server} 8000"),
                &response,
            ])
            .stdout(Stdio::null())
            .spawn()
            .context("failed to start the HTTP responder")?;
        thread::sleep(Duration::from_millis(200));
        let code = lab.client.exec(
            "curl",
            &[
                "-s",
                "-o",
                "/dev/null",
                "-w",
                "%{http_code}",
                "-A",
                "demo-browser/1.0",
                &format!("http://{server}:8000/page{i}.html"),
            ],
        )?;
        let _ = responder.wait();
        say(&format!(
            "  curl http://{server}:8000/page{i}.html -> {code}"
        ));
        check()?;
    }
    made.push(Made {
        what: "HTTP GET x3 (curl)",
        proto: "tcp",
        resp_port: 8000,
        count: 3,
    });

    // A 2 MB upload.
    let upload = scratch.join("upload.bin");
    std::fs::write(&upload, vec![0x42u8; 2_000_000]).context("failed to write upload file")?;
    let mut sink = lab
        .server
        .command("nc")
        .args(["-l", "-N", server, "9000"])
        .stdout(Stdio::null())
        .spawn()
        .context("failed to start the upload sink")?;
    thread::sleep(Duration::from_millis(200));
    run_cmd(
        lab.client
            .command("nc")
            .args(["-N", "-w", "5", server, "9000"])
            .stdin(std::fs::File::open(&upload).context("failed to open upload file")?)
            .stdout(Stdio::null()),
    )?;
    let _ = sink.wait();
    say(&format!("  nc {server} 9000 < 2 MB file"));
    made.push(Made {
        what: "upload 2 MB (nc)",
        proto: "tcp",
        resp_port: 9000,
        count: 1,
    });
    check()?;

    // DNS: dig asks dnsmasq on the server for the lab's file server and the C2 name.
    let mut dnsmasq = lab
        .server
        .command("dnsmasq")
        .args([
            "--no-daemon",
            "--no-resolv",
            "--no-hosts",
            "--bind-interfaces",
        ])
        .arg(format!("--listen-address={server}"))
        .arg("--address=/fs-01.lab.test/10.77.1.20")
        .arg("--address=/c2.example.test/203.0.113.66")
        .arg(format!(
            "--pid-file={}",
            scratch.join("dnsmasq.pid").display()
        ))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .context("failed to start dnsmasq")?;
    thread::sleep(Duration::from_millis(400));
    for name in ["fs-01.lab.test", "c2.example.test"] {
        let answer = lab.client.exec(
            "dig",
            &[
                "+short",
                "+tries=1",
                "+time=2",
                &format!("@{server}"),
                name,
                "A",
            ],
        )?;
        say(&format!("  dig @{server} {name} -> {}", answer.trim()));
    }
    let _ = dnsmasq.kill();
    let _ = dnsmasq.wait();
    made.push(Made {
        what: "DNS queries x2 (dig -> dnsmasq)",
        proto: "udp",
        resp_port: 53,
        count: 2,
    });

    // ICMP echoes.
    lab.client.exec(
        "hping3",
        &["--icmp", "-q", "-c", "3", "-i", "u200000", server],
    )?;
    say(&format!("  hping3 --icmp -c 3 {server}"));
    made.push(Made {
        what: "ICMP echo x3 (hping3)",
        proto: "icmp",
        resp_port: 0,
        count: 1,
    });
    check()?;
    Ok(made)
}
