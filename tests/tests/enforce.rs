//! Rules on real traffic through the lab gateway: suspend, CIDR block, quarantine in each
//! direction, expiry in the kernel with no agent running, and a restart that keeps the
//! program attached and the rules enforced.

use std::{
    net::IpAddr,
    thread,
    time::{Duration, Instant},
};

use sensor::{
    clock::Clock,
    ebpf::{Endpoint, Rules, Target},
};
use sensor_common::rule::scope;
use sensor_tests::{
    Lab,
    cli::{field, sensor_json},
    env,
    running::Running,
    traffic::{connects, listen_tcp, session, stop},
    xtask_lab as lab,
};

fn server_ip() -> IpAddr {
    lab::SERVER_IP.parse().unwrap()
}

fn client_ip() -> IpAddr {
    lab::CLIENT_IP.parse().unwrap()
}

fn counter(pins: &str, name: &str) -> u64 {
    field(
        &sensor_json(&["status", "--json", "--pin-dir", pins])["counters"],
        name,
    )
}

#[test]
fn r4_suspend_drops_new_syns_while_an_open_session_keeps_flowing() {
    if !env::require_root("r4_suspend_drops_new_syns_while_an_open_session_keeps_flowing") {
        return;
    }
    let run = Running::start("suspend");
    let received = run.file("received.txt");
    let server = run
        .lab
        .server
        .command("nc")
        .args(["-l", lab::SERVER_IP, "9000"])
        .stdout(std::fs::File::create(&received).unwrap())
        .spawn()
        .unwrap();
    thread::sleep(Duration::from_millis(300));
    // A session that sends a line every 100 ms for 4 s.
    let session = session(&run.lab, 9000, 40);
    thread::sleep(Duration::from_millis(500));

    let mut rules = Rules::open_pinned(&run.lab.pin_dir()).unwrap();
    let suspend = Target::Suspend {
        endpoint: Endpoint {
            addr: server_ip(),
            port: 9000,
            proto: 6,
        },
    };
    rules.insert(&suspend, 1, 0).unwrap();

    let pins = run.pins();
    let before = counter(&pins, "drop_suspend");
    let hping = run
        .lab
        .client
        .exec(
            "sh",
            &[
                "-c",
                &format!(
                    "hping3 -S -p 9000 -c 5 -i u100000 {} 2>&1 || true",
                    lab::SERVER_IP
                ),
            ],
        )
        .unwrap();
    // hping3 also counts the open session's ACKs as replies; an answered SYN would show
    // as SA (a listener) or RA (none), and there must be neither.
    assert!(
        !hping.contains("flags=SA") && !hping.contains("flags=RA"),
        "no SYN was answered: {hping}"
    );
    assert!(
        !connects(&run.lab, 9000),
        "a new connection to the suspended endpoint fails"
    );
    assert!(
        counter(&pins, "drop_suspend") >= before + 5,
        "the drops are counted"
    );

    let status = session.wait_with_output().unwrap().status;
    assert!(status.success(), "the open session finished normally");
    let _ = server.wait_with_output();
    let lines = std::fs::read_to_string(&received).unwrap();
    assert_eq!(
        lines.lines().count(),
        40,
        "every line of the open session arrived"
    );
    let listed = rules.list().unwrap();
    assert!(
        listed[0].value.hits >= 6,
        "hits on the rule: {}",
        listed[0].value.hits
    );
}

#[test]
fn r4_cidr_block_stops_traffic_and_clear_restores_it() {
    if !env::require_root("r4_cidr_block_stops_traffic_and_clear_restores_it") {
        return;
    }
    let run = Running::start("cidr");
    let listener = listen_tcp(&run.lab, 8080);
    assert!(connects(&run.lab, 8080), "reachable before the block");
    let mut rules = Rules::open_pinned(&run.lab.pin_dir()).unwrap();
    let block = Target::BlockCidr {
        net: "198.51.100.0/24".parse().unwrap(),
        scope: scope::BOTH,
    };
    rules.insert(&block, 2, 0).unwrap();
    assert!(!connects(&run.lab, 8080), "blocked");
    let rules_json = sensor_json(&["rules", "--json", "--pin-dir", &run.pins()]);
    assert_eq!(rules_json[0]["rule"], "block 198.51.100.0/24");
    assert!(field(&rules_json[0], "hits") >= 1);
    assert!(rules.remove(&block).unwrap());
    assert!(connects(&run.lab, 8080), "reachable after clear");
    stop(listener);
}

/// Sends one UDP datagram `from` → `to` and reports whether it arrived.
fn udp_arrives(run: &Running, outgoing: bool, tag: &str) -> bool {
    let (listener_ns, listen_ip, sender_ns, port) = if outgoing {
        (&run.lab.server, lab::SERVER_IP, &run.lab.client, "5000")
    } else {
        (&run.lab.client, lab::CLIENT_IP, &run.lab.server, "5001")
    };
    let out = run.file(&format!("udp-{tag}.txt"));
    let listener = listener_ns
        .command("timeout")
        .args(["2", "nc", "-u", "-l", listen_ip, port])
        .stdout(std::fs::File::create(&out).unwrap())
        .spawn()
        .unwrap();
    thread::sleep(Duration::from_millis(300));
    sender_ns
        .exec(
            "sh",
            &["-c", &format!("echo {tag} | nc -u -w 1 {listen_ip} {port}")],
        )
        .unwrap();
    let _ = listener.wait_with_output();
    std::fs::read_to_string(&out)
        .unwrap_or_default()
        .contains(tag)
}

#[test]
fn r4_quarantine_each_direction() {
    if !env::require_root("r4_quarantine_each_direction") {
        return;
    }
    let run = Running::start("quarantine");
    assert!(
        udp_arrives(&run, true, "out0") && udp_arrives(&run, false, "in0"),
        "open at first"
    );
    let mut rules = Rules::open_pinned(&run.lab.pin_dir()).unwrap();
    let out_only = Target::QuarantineIp {
        addr: client_ip(),
        scope: scope::SRC,
    };
    rules.insert(&out_only, 3, 0).unwrap();
    assert!(!udp_arrives(&run, true, "out1"), "outgoing quarantined");
    assert!(udp_arrives(&run, false, "in1"), "incoming still open");
    rules.remove(&out_only).unwrap();
    let in_only = Target::QuarantineIp {
        addr: client_ip(),
        scope: scope::DST,
    };
    rules.insert(&in_only, 4, 0).unwrap();
    assert!(udp_arrives(&run, true, "out2"), "outgoing open again");
    assert!(!udp_arrives(&run, false, "in2"), "incoming quarantined");
    rules.remove(&in_only).unwrap();
    rules
        .insert(
            &Target::QuarantineIp {
                addr: client_ip(),
                scope: scope::BOTH,
            },
            5,
            0,
        )
        .unwrap();
    assert!(
        !udp_arrives(&run, true, "out3") && !udp_arrives(&run, false, "in3"),
        "both ways"
    );
    assert!(counter(&run.pins(), "drop_quarantine") >= 3);
}

#[test]
fn r4_two_second_rule_expires_in_the_kernel_with_no_agent_running() {
    if !env::require_root("r4_two_second_rule_expires_in_the_kernel_with_no_agent_running") {
        return;
    }
    let mut run = Running::start("expiry");
    let listener = listen_tcp(&run.lab, 8081);
    let mut rules = Rules::open_pinned(&run.lab.pin_dir()).unwrap();
    let start = Instant::now();
    let expires = Clock::monotonic_now().unwrap() + 2_000_000_000;
    rules
        .insert(
            &Target::BlockIp {
                addr: server_ip(),
                scope: scope::BOTH,
            },
            6,
            expires,
        )
        .unwrap();
    run.agent.kill();
    let link = run
        .lab
        .gateway
        .ip(&["link", "show", &run.lab.inside_if])
        .unwrap();
    assert!(
        link.contains("xdp"),
        "the program stays attached after the agent died: {link}"
    );
    assert!(!connects(&run.lab, 8081), "blocked while the rule lives");
    let remaining = Duration::from_millis(2300).saturating_sub(start.elapsed());
    thread::sleep(remaining);
    assert!(
        connects(&run.lab, 8081),
        "the kernel stopped applying the rule after 2 s"
    );
    let out = std::process::Command::new(env::sensor_bin())
        .args(["detach", "--pin-dir", &run.pins()])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let link = run
        .lab
        .gateway
        .ip(&["link", "show", &run.lab.inside_if])
        .unwrap();
    assert!(!link.contains("xdp"), "sensor detach detached it: {link}");
    stop(listener);
}

#[test]
fn r4_restart_keeps_the_program_attached_and_the_rules_enforced() {
    if !env::require_root("r4_restart_keeps_the_program_attached_and_the_rules_enforced") {
        return;
    }
    let mut run = Running::start("restart");
    let listener = listen_tcp(&run.lab, 8082);
    let endpoint = format!("{}:8082", lab::SERVER_IP);
    let action = run.api_json(&["block", &endpoint, "--side", "dst", "--why", "restart test"]);
    let id = field(&action, "id");
    assert!(!connects(&run.lab, 8082), "blocked through the CLI");
    assert!(run.agent.stop().unwrap(), "clean exit");
    assert!(
        run.agent
            .log_text()
            .contains("live rules keep the XDP program attached")
    );
    assert!(!connects(&run.lab, 8082), "enforced with no agent running");

    let mut second = Running::agent(&run.lab, &run.scratch, "agent2.log");
    let log = second.log_text();
    assert!(log.contains("took over the XDP link"), "{log}");
    assert!(log.contains("found live rules in the pinned maps"), "{log}");
    assert!(
        !connects(&run.lab, 8082),
        "still enforced under the new agent: {}",
        second.log_text()
    );
    let listed = run.api_json(&["rules"]);
    assert_eq!(listed.as_array().unwrap().len(), 1, "{listed}");
    assert!(
        field(&listed[0], "hits") >= 2,
        "hits survive the restart: {listed}"
    );
    assert_eq!(field(&listed[0], "action_id"), id);
    assert_eq!(listed[0]["action"]["why"], "restart test");

    // A crash, then the kernel changed behind the store's back: the action's rule lost,
    // a rule nobody owns added. The next agent makes the kernel agree with the store.
    second.kill();
    let mut rules = Rules::open_pinned(&run.lab.pin_dir()).unwrap();
    let block = Target::BlockEndpoint {
        endpoint: Endpoint {
            addr: server_ip(),
            port: 8082,
            proto: 6,
        },
        scope: scope::DST,
    };
    assert!(rules.remove(&block).unwrap());
    let orphan = Target::BlockIp {
        addr: "192.0.2.77".parse().unwrap(),
        scope: scope::BOTH,
    };
    rules.insert(&orphan, 4242, 0).unwrap();
    let third = Running::agent(&run.lab, &run.scratch, "agent3.log");
    let log = third.log_text();
    assert!(
        log.contains("removing a kernel rule no active action owns"),
        "{log}"
    );
    assert!(log.contains("restoring a rule the kernel lost"), "{log}");
    let pairs = |v: &serde_json::Value| -> Vec<(String, u64)> {
        let mut p: Vec<(String, u64)> = v
            .as_array()
            .unwrap()
            .iter()
            .map(|r| {
                (
                    r["rule"].as_str().unwrap().to_owned(),
                    field(r, "action_id"),
                )
            })
            .collect();
        p.sort();
        p
    };
    let shown = pairs(&run.api_json(&["rules"]));
    let kernel = pairs(&sensor_json(&["rules", "--json", "--pin-dir", &run.pins()]));
    assert_eq!(shown, kernel, "sensor rules shows what the kernel enforces");
    assert_eq!(
        shown,
        vec![(block.to_string(), id)],
        "and only the owned rule"
    );
    assert!(!connects(&run.lab, 8082), "the restored rule is enforced");

    let ended = run.api_json(&["clear", &id.to_string()]);
    assert_eq!(ended[0]["state"], "cleared");
    assert!(connects(&run.lab, 8082), "clear undoes the block");
    drop(third);
    let link = run
        .lab
        .gateway
        .ip(&["link", "show", &run.lab.inside_if])
        .unwrap();
    assert!(
        !link.contains("xdp"),
        "no live rules: detached on stop: {link}"
    );
    assert!(!run.lab.pin_dir().join("FLOWS").exists(), "and unpinned");
    stop(listener);
}

#[test]
fn r4_a_pin_with_another_layout_is_replaced_and_a_retired_one_removed() {
    if !env::require_root("r4_a_pin_with_another_layout_is_replaced_and_a_retired_one_removed") {
        return;
    }
    let scratch = env::Scratch::new("stalepin");
    let lab = Lab::build().expect("build the lab");
    let pin_dir = lab.pin_dir();
    std::fs::create_dir_all(&pin_dir).unwrap();
    // A FLOWS map as an older sensor might have left it: another value size.
    let made = std::process::Command::new("bpftool")
        .args(["map", "create"])
        .arg(pin_dir.join("FLOWS"))
        .args([
            "type", "lru_hash", "key", "44", "value", "8", "entries", "16", "name", "FLOWS",
        ])
        .status()
        .expect("run bpftool");
    assert!(made.success(), "bpftool map create");
    // And the rate guard's map, which older sensors pinned and this one no longer has.
    let retired = pin_dir.join("RATE");
    let made = std::process::Command::new("bpftool")
        .args(["map", "create"])
        .arg(&retired)
        .args([
            "type",
            "percpu_array",
            "key",
            "4",
            "value",
            "16",
            "entries",
            "1",
            "name",
            "RATE",
        ])
        .status()
        .expect("run bpftool");
    assert!(made.success(), "bpftool map create");
    let agent = Running::agent(&lab, &scratch, "agent.log");
    let log = agent.log_text();
    assert!(
        log.contains("another layout"),
        "the stale pin is reported: {log}"
    );
    assert!(!retired.exists(), "the retired pin is removed: {log}");
    let flows = sensor_json(&["flows", "--json", "--pin-dir", &pin_dir.to_string_lossy()]);
    assert!(flows.as_array().is_some(), "the new FLOWS map is readable");
    drop(agent);
}
