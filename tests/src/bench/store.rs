//! Connection records written to the store per second, in batches, to a WAL database on
//! disk; the baseline is the same writes to a database in memory, in the same run.

use std::time::Instant;

use chrono::{Duration, Utc};
use sensor::{
    capture::{ConnRecord, conn_record::new_uid},
    store::Store,
};

use super::report::{Figure, Report, Target, median};

const RECORDS: usize = 200_000;
const BATCH: usize = 5_000;
const TRIALS: usize = 3;

fn records() -> Vec<ConnRecord> {
    (0..RECORDS).map(record).collect()
}

/// The `i`th record of the figure: a TCP connection out of the lab's inside network.
pub fn record(i: usize) -> ConnRecord {
    let now = Utc::now();
    ConnRecord {
        uid: new_uid(),
        community_id: format!("1:{i:027}="),
        ts: now - Duration::milliseconds(i as i64),
        duration: 0.25,
        orig_h: std::net::IpAddr::from([10, 77, 1, (i % 250) as u8]),
        orig_p: 1024 + (i % 60000) as u16,
        resp_h: std::net::IpAddr::from([198, 51, 100, (i % 200) as u8]),
        resp_p: 443,
        proto: "tcp".to_owned(),
        vlan: Vec::new(),
        orig_pkts: 12,
        orig_bytes: 1800,
        resp_pkts: 10,
        resp_bytes: 12000,
        conn_state: "SF".to_owned(),
        history: "SAFhaf".to_owned(),
        device_id: None,
        app: sensor::capture::protocols::AppInfo::default(),
        rhythm: sensor::capture::conn_record::Rhythm::default(),
    }
}

fn rate(store: &mut Store, records: &[ConnRecord]) -> anyhow::Result<f64> {
    let start = Instant::now();
    for batch in records.chunks(BATCH) {
        store.insert_connections(batch)?;
    }
    Ok(records.len() as f64 / start.elapsed().as_secs_f64())
}

/// Runs the store figure into `report`.
pub fn run(report: &mut Report) -> anyhow::Result<()> {
    let dir = std::env::temp_dir().join(format!("sensor-bench-store-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    // Alternate fresh databases on disk and in memory, and take each one's median.
    let (mut disk_runs, mut memory_runs) = (Vec::new(), Vec::new());
    for round in 0..TRIALS {
        let recs = records();
        let mut disk = Store::open(&dir.join(format!("sensor-{round}.db")))?;
        disk_runs.push(rate(&mut disk, &recs)?);
        let mut memory = Store::open_in_memory()?;
        memory_runs.push(rate(&mut memory, &recs)?);
    }
    let (on_disk, in_memory) = (median(&mut disk_runs), median(&mut memory_runs));
    let _ = std::fs::remove_dir_all(&dir);
    report.figures.push(Figure::new(
        "store",
        "connection records written per second (WAL file)",
        "rec/s",
        on_disk,
        "same writes, database in memory",
        in_memory,
        Some(Target::ValueAtLeast(100_000.0)),
        &format!(
            "{RECORDS} records with their indexes (uid, time, each address), in transactions \
             of {BATCH}, synchronous=NORMAL, median of {TRIALS} fresh databases; the target \
             is the absolute rate"
        ),
    ));
    Ok(())
}
