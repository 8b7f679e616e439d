//! Response latency: from an EDR alert received (a vendor object in hand) to its suspend
//! rule in the kernel map, and from a breach stored to its rule, through the agent's own
//! stages (the alert stored and joined, fusion, the response policies, the responder) on
//! the real maps and an on-disk store. The baseline is the kernel map write alone for the
//! same rules, in the same run. The issue's targets are absolute: p99 ≤ 5 ms and ≤ 10 ms.

use std::{net::IpAddr, sync::Mutex, time::Instant};

use chrono::Utc;
use sensor::{
    detect::{Breach, Evidence},
    ebpf::{Datapath, Endpoint, LoadOptions, Target},
    edr::{crowdstrike, join},
    fusion::{DEFAULT_SURFACE, Fusion},
    policy::{Policies, config::Policy},
    response::{ConfigLists, Responder},
    store::Store,
};

use super::report::{Figure, Report, Target as Goal, percentile};

const SAMPLES: usize = 300;

/// A policy that suspends what a breach's connections reached.
const BREACH_POLICY: &str = r#"
name = "bench-breach"
do = "suspend_endpoint"
[when]
on = "breach"
"#;

fn falcon_alert(i: usize, client: IpAddr, remote: IpAddr) -> serde_json::Value {
    let now = Utc::now().to_rfc3339();
    serde_json::json!({
        "composite_id": format!("bench:{i}"), "display_name": "Beacon to a known C2 server",
        "severity": 80, "tactic": "Command and Control", "timestamp": now, "updated_timestamp": now,
        "device": {"device_id": "bench-client", "local_ip": client.to_string()},
        "network_accesses": [{"remote_address": remote.to_string(), "remote_port": 443, "protocol": "TCP"}],
    })
}

fn remote(i: usize) -> IpAddr {
    IpAddr::from([203, 0, (i / 250) as u8 + 1, (i % 250) as u8 + 1])
}

fn ms(since: Instant) -> f64 {
    since.elapsed().as_secs_f64() * 1e3
}

/// Runs the response figures into `report`.
pub fn run(report: &mut Report) -> anyhow::Result<()> {
    let dp = Datapath::load(&LoadOptions::default())?;
    let dir = std::env::temp_dir().join(format!("sensor-bench-response-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let db = dir.join("sensor.db");
    let mut store = Store::open(&db)?;
    let client: IpAddr = "10.77.1.12".parse()?;
    let now_ns = Utc::now().timestamp_nanos_opt().unwrap_or(i64::MAX) - 3_600_000_000_000;
    let device = store.create_device(None, true, now_ns)?;
    store.assign_address(device, client, now_ns)?;
    let responder = Mutex::new(Responder::new(
        dp.rules()?,
        Store::open(&db)?,
        ConfigLists::default(),
    ));
    let fusion = Fusion::new(&sensor::detect::model::load(None)?, DEFAULT_SURFACE)?;
    let inside: Vec<ipnet::IpNet> = vec!["10.77.1.0/24".parse()?];
    let shipped = Policies::new(&[], &inside);
    let breach_policy: Policy = toml::from_str(BREACH_POLICY)?;
    let breach_only = Policies::new(
        &[
            breach_policy,
            toml::from_str::<Policy>(&format!(
                "name = \"{}\"\nenabled = false\ndo = \"block_and_suspend\"\n[when]\n",
                sensor::policy::config::DEFAULT_NAME
            ))?,
        ],
        &inside,
    );
    let mut check = dp.rules()?;

    // EDR alert -> rule.
    let mut edr = Vec::with_capacity(SAMPLES);
    for i in 0..SAMPLES {
        let object = falcon_alert(i, client, remote(i));
        let start = Instant::now();
        let alert = crowdstrike::map::map(&object)?;
        join::store(&mut store, &alert)?;
        fusion.step(&mut store)?;
        shipped.step(&mut store, &responder)?;
        edr.push(ms(start));
    }
    // Breach -> rule (the breach cites a connection to a fresh endpoint).
    let mut breach = Vec::with_capacity(SAMPLES);
    for i in SAMPLES..2 * SAMPLES {
        let mut record = crate::bench::store::record(i);
        record.orig_h = client;
        record.resp_h = remote(i);
        record.device_id = Some(device);
        store.insert_connections(std::slice::from_ref(&record))?;
        let mut b = [Breach {
            id: 0,
            model: "beacon-address".to_owned(),
            model_version: 1,
            device_id: Some(device),
            ts: Utc::now(),
            score: 70,
            evidence: Evidence {
                key: format!("{client} -> {}", remote(i)),
                summary: "bench".to_owned(),
                metrics: Vec::new(),
                connections: vec![record.uid.clone()],
            },
        }];
        let start = Instant::now();
        store.insert_breaches(&mut b)?;
        fusion.step(&mut store)?;
        breach_only.step(&mut store, &responder)?;
        breach.push(ms(start));
    }
    // Every sample's rule is in the kernel map.
    let listed = check.list()?;
    for i in 0..2 * SAMPLES {
        let want = Target::Suspend {
            endpoint: Endpoint {
                addr: remote(i),
                port: 443,
                proto: 6,
            },
        };
        anyhow::ensure!(
            listed.iter().any(|r| r.target == want),
            "no rule for sample {i} ({want})"
        );
    }
    // Baseline: the map writes alone, for the same number of fresh rules.
    let mut bare = Vec::with_capacity(SAMPLES);
    for i in 2 * SAMPLES..3 * SAMPLES {
        let t = Target::Suspend {
            endpoint: Endpoint {
                addr: remote(i),
                port: 443,
                proto: 6,
            },
        };
        let start = Instant::now();
        check.insert(&t, 1, 0)?;
        bare.push(ms(start));
    }
    let _ = std::fs::remove_dir_all(&dir);
    let method = |what: &str| {
        format!(
            "{SAMPLES} samples, each a fresh remote endpoint: {what}, with the on-disk store \
             (WAL) and the loaded program's rule map; the baseline is the rule map write alone"
        )
    };
    for (name, samples, goal, what) in [
        (
            "EDR alert received -> rule in the kernel",
            &mut edr,
            5.0,
            "a Falcon alert mapped, joined and stored, fusion, the shipped policy, the responder",
        ),
        (
            "breach -> rule in the kernel",
            &mut breach,
            10.0,
            "a breach stored, fusion, a breach policy, the responder",
        ),
    ] {
        let bare_p50 = percentile(&mut bare, 50);
        let bare_p99 = percentile(&mut bare, 99);
        report.figures.push(Figure::new(
            "response",
            &format!("{name}, p50"),
            "ms",
            percentile(samples, 50),
            "rule map write alone, p50",
            bare_p50,
            None,
            &method(what),
        ));
        report.figures.push(Figure::new(
            "response",
            &format!("{name}, p99"),
            "ms",
            percentile(samples, 99),
            "rule map write alone, p99",
            bare_p99,
            Some(Goal::ValueAtMost(goal)),
            &method(what),
        ));
    }
    Ok(())
}
