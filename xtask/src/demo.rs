//! `cargo xtask demo`: the main job. Sets up, builds, makes a client ─ gateway ─ server lab
//! in network namespaces, runs `sensor run` on the gateway, makes real traffic with curl, nc
//! and hping3, and shows what the sensor saw next to what the interfaces counted.
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

use crate::process::{banner, cargo, elapsed, run as run_cmd, say};

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

    banner("1/5 setup");
    crate::setup::setup()?;
    check()?;

    banner("2/5 build the sensor (the XDP program is built and embedded by its build script)");
    run_cmd(&mut cargo(&["build", "--package", "sensor"]))?;
    let sensor = xtask::target_dir().join("debug").join("sensor");
    check()?;

    banner("3/5 lab: client ─ gateway ─ server in network namespaces");
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

    banner("4/5 traffic: real tools from the client to the server");
    let before = lab.link_counters()?;
    let made = make_traffic(&lab, &scratch, &check)?;
    thread::sleep(Duration::from_millis(300));
    let links = lab.link_counters()?.since(&before);

    banner("5/5 what the sensor saw");
    let pins = lab.pin_dir().to_string_lossy().into_owned();
    run_cmd(Command::new(&sensor).args(["flows", "--pin-dir", &pins]))?;
    say("");
    run_cmd(Command::new(&sensor).args(["status", "--pin-dir", &pins]))?;
    let out = Command::new(&sensor)
        .args(["flows", "--json", "--pin-dir", &pins])
        .output()
        .context("failed to run sensor flows")?;
    let flows: Vec<Value> =
        serde_json::from_slice(&out.stdout).context("sensor flows --json printed no JSON")?;

    say("\nSummary: traffic made vs. flows seen");
    say(&format!(
        "  {:<34} {:>6} {:>6} {:>10} {:>10}",
        "TRAFFIC", "MADE", "FLOWS", "PKTS >/<", "BYTES >/<"
    ));
    let mut ok = true;
    for m in &made {
        let seen: Vec<&Value> = flows
            .iter()
            .filter(|f| {
                f["proto"] == m.proto
                    && f["resp_port"].as_u64() == Some(u64::from(m.resp_port))
                    && f["orig_addr"] == lab::CLIENT_IP
            })
            .collect();
        let sum = |k: &str| seen.iter().filter_map(|f| f[k].as_u64()).sum::<u64>();
        ok &= seen.len() == m.count;
        say(&format!(
            "  {:<34} {:>6} {:>6} {:>10} {:>10}",
            m.what,
            m.count,
            seen.len(),
            format!("{}/{}", sum("orig_packets"), sum("resp_packets")),
            format!("{}/{}", sum("orig_bytes"), sum("resp_bytes")),
        ));
    }
    let total = |k: &str| flows.iter().filter_map(|f| f[k].as_u64()).sum::<u64>();
    let (orig, resp) = (total("orig_packets"), total("resp_packets"));
    let counted = links.inside.rx_packets + links.outside.rx_packets;
    say(&format!(
        "  packets: sensor {} (client→server {orig}, server→client {resp}); \
         gateway interfaces received {counted}",
        orig + resp
    ));
    ok &= orig + resp == counted;

    drop(agent);
    drop(lab);
    let _ = std::fs::remove_dir_all(&scratch);
    say(&format!(
        "\ndemo finished in {}; namespaces, links and pins removed",
        elapsed(start)
    ));
    if !ok {
        bail!("the flows the sensor saw do not match the traffic the demo made");
    }
    say(
        "every conversation the demo made is in the flow table, packet counts match the interfaces",
    );
    Ok(())
}

/// Makes the traffic: HTTP with curl, an upload with nc, a UDP query and reply, ICMP echoes.
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

    // A UDP query and its reply.
    let mut udp = lab
        .server
        .command("sh")
        .args(["-c", &format!("echo answer | nc -u -l -W 1 {server} 5353")])
        .stdout(Stdio::null())
        .spawn()
        .context("failed to start the UDP responder")?;
    thread::sleep(Duration::from_millis(200));
    lab.client.exec(
        "sh",
        &["-c", &format!("echo query | nc -u -w 1 {server} 5353")],
    )?;
    let _ = udp.kill();
    let _ = udp.wait();
    say(&format!("  nc -u {server} 5353 (query and answer)"));
    made.push(Made {
        what: "UDP query/answer (nc -u)",
        proto: "udp",
        resp_port: 5353,
        count: 1,
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
