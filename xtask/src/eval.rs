//! `cargo xtask eval`: every capture in `../shared/pcaps` replayed through the sensor
//! with its detection models, one fresh database each; a table of the breaches each raised,
//! and per attack category how many captures its matching models caught. Writes
//! `target/eval/report.md` and `report.json`. A report, not a test: the regression tests pin
//! the key cases.

use std::{
    collections::BTreeMap,
    fmt::Write as _,
    path::{Path, PathBuf},
};

use anyhow::Context as _;
use serde_json::json;

use crate::process::{banner, cargo, run as run_cmd, say};

/// The models that answer each attack category (a capture counts as caught when one of
/// them fires). Categories not listed are context (protocols, encapsulations) and are
/// reported without a verdict; `benign_mixed` should raise as little as possible.
const EXPECTED: [(&str, &[&str]); 7] = [
    ("scan", &["scan-horizontal", "scan-vertical", "ping-sweep"]),
    (
        "beacon_c2",
        &[
            "beacon-address",
            "beacon-hostname",
            "beacon-in-connection",
            "long-connection",
            "watched-indicator",
            "http-to-ip-address",
        ],
    ),
    (
        "lateral_smb_rdp_ssh",
        &[
            "lateral-movement",
            "remote-execution-rpc",
            "admin-share",
            "account-discovery-rpc",
            "brute-force",
            "scan-vertical",
            "scan-horizontal",
        ],
    ),
    (
        "exfil_bulk",
        &["exfiltration", "smb-write-volume", "file-upload"],
    ),
    ("dns", &["dns-tunnel", "dga-names", "encrypted-dns"]),
    ("http_useragent", &["rare-user-agent", "tool-user-agent"]),
    (
        "malware_misc",
        &[
            "beacon-address",
            "beacon-hostname",
            "beacon-in-connection",
            "rare-external-endpoint",
            "dga-names",
            "exfiltration",
            "watched-indicator",
            "http-to-ip-address",
            "direct-smtp",
            "file-upload",
            "smb1-use",
        ],
    ),
];

fn shared_pcaps() -> PathBuf {
    xtask::shared_dir().join("pcaps")
}

fn captures(dir: &Path) -> anyhow::Result<Vec<(String, PathBuf)>> {
    let mut out = Vec::new();
    for category in
        std::fs::read_dir(dir).with_context(|| format!("failed to read {}", dir.display()))?
    {
        let category = category?.path();
        if !category.is_dir() {
            continue;
        }
        let name = category
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        for file in std::fs::read_dir(&category)? {
            let file = file?.path();
            if file
                .extension()
                .is_some_and(|e| e == "pcap" || e == "pcapng")
            {
                out.push((name.clone(), file));
            }
        }
    }
    out.sort();
    Ok(out)
}

/// Runs the evaluation.
pub fn run() -> anyhow::Result<()> {
    banner("setup");
    crate::setup::setup()?;
    banner("build the sensor (release)");
    run_cmd(&mut cargo(&["build", "--release", "--package", "sensor"]))?;
    let sensor = xtask::target_dir().join("release").join("sensor");
    let out_dir = xtask::target_dir().join("eval");
    std::fs::create_dir_all(&out_dir)?;
    let pcaps = shared_pcaps();
    let files = captures(&pcaps)?;
    banner(&format!(
        "replay {} captures from {}",
        files.len(),
        pcaps.display()
    ));
    let mut rows = Vec::new();
    for (i, (category, file)) in files.iter().enumerate() {
        let state = out_dir.join("state");
        let _ = std::fs::remove_dir_all(&state);
        let state_s = state.to_string_lossy().into_owned();
        let capture_path = file.to_string_lossy().into_owned();
        let summary = crate::process::sensor_json(
            &sensor,
            &["replay", "--json", "--state-dir", &state_s, &capture_path],
        )?;
        let breaches = crate::process::sensor_json(
            &sensor,
            &[
                "breaches",
                "--json",
                "--limit",
                "0",
                "--state-dir",
                &state_s,
            ],
        )?;
        let breaches = breaches.as_array().cloned().unwrap_or_default();
        let name = file
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        let mut models: BTreeMap<String, (usize, u64)> = BTreeMap::new();
        for b in &breaches {
            let e = models
                .entry(b["model"].as_str().unwrap_or("?").to_owned())
                .or_default();
            e.0 += 1;
            e.1 = e.1.max(b["score"].as_u64().unwrap_or(0));
        }
        say(&format!(
            "[{}/{}] {category}/{name}: {} records, {} breaches {}",
            i + 1,
            files.len(),
            summary["records"],
            breaches.len(),
            models
                .iter()
                .map(|(m, (n, s))| format!("{m}x{n}@{s}"))
                .collect::<Vec<_>>()
                .join(" ")
        ));
        rows.push(json!({
            "category": category,
            "file": name,
            "records": summary["records"],
            "breaches": breaches.len(),
            "models": models.iter().map(|(m, (n, s))| json!({"model": m, "count": n, "max_score": s})).collect::<Vec<_>>(),
            "detail": breaches.iter().map(|b| json!({
                "model": b["model"], "score": b["score"], "device": b["device_id"],
                "summary": b["evidence"]["summary"],
            })).collect::<Vec<_>>(),
        }));
    }
    let _ = std::fs::remove_dir_all(out_dir.join("state"));

    let mut md = String::from(
        "# Detection evaluation\n\n`cargo xtask eval`: every capture replayed with the shipped models, one fresh database each (no learned history).\n\n| category | file | records | breaches (model x count @ max score) | verdict |\n|---|---|---:|---|---|\n",
    );
    let mut per_category: BTreeMap<String, (usize, usize)> = BTreeMap::new();
    let mut benign = 0;
    for r in &rows {
        let category = r["category"].as_str().unwrap_or("");
        let fired: Vec<&str> = r["models"]
            .as_array()
            .map(|a| a.iter().filter_map(|m| m["model"].as_str()).collect())
            .unwrap_or_default();
        let verdict = match EXPECTED.iter().find(|(c, _)| *c == category) {
            Some((_, wanted)) => {
                let caught = fired.iter().any(|m| wanted.contains(m));
                let e = per_category.entry(category.to_owned()).or_default();
                e.1 += 1;
                if caught {
                    e.0 += 1;
                    "caught"
                } else {
                    "missed"
                }
            }
            None if category == "benign_mixed" => {
                benign += r["breaches"].as_u64().unwrap_or(0);
                if fired.is_empty() { "quiet" } else { "noisy" }
            }
            None => "",
        };
        let models = r["models"]
            .as_array()
            .map(|a| {
                a.iter()
                    .map(|m| {
                        format!(
                            "{}x{}@{}",
                            m["model"].as_str().unwrap_or(""),
                            m["count"],
                            m["max_score"]
                        )
                    })
                    .collect::<Vec<_>>()
                    .join(", ")
            })
            .unwrap_or_default();
        let _ = writeln!(
            md,
            "| {category} | `{}` | {} | {models} | {verdict} |",
            r["file"].as_str().unwrap_or(""),
            r["records"]
        );
    }
    md.push_str("\n## By attack category\n\n| category | caught | captures | models that count |\n|---|---:|---:|---|\n");
    say("\nBy attack category:");
    for (category, wanted) in EXPECTED {
        let (caught, total) = per_category.get(category).copied().unwrap_or((0, 0));
        let _ = writeln!(
            md,
            "| {category} | {caught} | {total} | {} |",
            wanted.join(", ")
        );
        say(&format!("  {category:<22} {caught}/{total} caught"));
    }
    let _ = writeln!(md, "\nBreaches on benign captures: {benign}.");
    say(&format!("  benign captures raised {benign} breaches"));
    std::fs::write(out_dir.join("report.md"), md)?;
    std::fs::write(
        out_dir.join("report.json"),
        serde_json::to_vec_pretty(&json!({ "captures": rows, "benign_breaches": benign }))?,
    )?;
    say(&format!("report: {}", out_dir.join("report.md").display()));
    Ok(())
}
