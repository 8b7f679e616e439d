//! The demo's EDR step: the fixtures' lab network (the ws-02 story) replayed through the
//! real XDP program on its own clock, the Microsoft Graph fixture alerts imported, and what
//! fusion and the investigations made of them: the unusual alerts, one incident, and its
//! reports written to `target/demo/`.

use std::{path::Path, process::Command};

use anyhow::Context as _;

use crate::process::{run as run_cmd, say, sensor_json};

/// Runs the step; whether it told the story (one incident holding the ws-02 alerts).
pub fn run(sensor: &Path) -> anyhow::Result<bool> {
    let dir = xtask::target_dir().join("demo");
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).context("failed to create target/demo")?;
    let state = dir.join("state");
    let state = state.to_string_lossy();
    let capture = dir.join("lab-story.pcap");
    xtask::story::write_capture(&capture).context("failed to write the lab capture")?;
    let capture = capture.to_string_lossy();
    say("  two days of routine traffic from ws-01, ws-02 and fs-01, then SMB from ws-02 to fs-01");
    say(&format!("$ sensor replay --state-dir {state} {capture}"));
    let replayed = sensor_json(
        sensor,
        &["replay", "--json", "--state-dir", &state, &capture],
    )?;
    say(&format!("  {replayed}"));

    let pages = xtask::story::graph_pages();
    say(
        "$ sensor edr import --vendor microsoft alerts_v2.page{1,2,3}.json   (20 days of Defender alerts)",
    );
    let mut args = vec![
        "edr",
        "import",
        "--vendor",
        "microsoft",
        "--json",
        "--state-dir",
        &state,
    ];
    args.extend(pages.iter().map(String::as_str));
    let imported = sensor_json(sensor, &args)?;
    say(&format!(
        "  {} alerts, {} joined to a device, {} unusual for their device, {} combined-model \
         breaches, {} incidents",
        imported["read"],
        imported["joined"],
        imported["surfaced"],
        imported["combined"],
        imported["incidents"]
    ));
    say("\n$ sensor edr alerts --unusual");
    run_cmd(Command::new(sensor).args(["edr", "alerts", "--unusual", "--state-dir", &state]))?;
    say("\n$ sensor incidents");
    run_cmd(Command::new(sensor).args(["incidents", "--state-dir", &state]))?;
    let incidents = sensor_json(sensor, &["incidents", "--json", "--state-dir", &state])?;
    let Some(first) = incidents.as_array().and_then(|a| a.first()) else {
        say("  NO incident");
        return Ok(false);
    };
    let id = first["id"].to_string();
    for (format, file) in [
        ("md", "incident.md"),
        ("html", "incident.html"),
        ("pdf", "incident.pdf"),
    ] {
        let path = dir.join(file);
        run_cmd(Command::new(sensor).args([
            "incident",
            &id,
            "--report",
            format,
            "-o",
            &path.to_string_lossy(),
            "--state-dir",
            &state,
        ]))?;
    }
    say(&format!(
        "\n$ sensor incident {id}   (the start of the report)"
    ));
    let report = std::fs::read_to_string(dir.join("incident.md")).unwrap_or_default();
    for line in report.lines().take(22) {
        say(&format!("  {line}"));
    }
    say(&format!(
        "  ...\n  reports: {}/incident.{{md,html,pdf}}",
        dir.display()
    ));
    let alerts = first["edr_alerts"].as_array().map_or(0, Vec::len);
    Ok(incidents.as_array().is_some_and(|a| a.len() == 1) && alerts >= 3)
}
