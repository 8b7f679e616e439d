//! The agent's export loop: each exporter, every few seconds, sends what was stored since
//! its cursor, in batches, and moves the cursor only once a batch is delivered. Delivery
//! is at least once: a crash after sending and before the cursor moves resends that batch.

use std::{
    path::PathBuf,
    sync::{
        Arc,
        atomic::{AtomicU64, Ordering},
    },
    time::Duration,
};

use serde::{Deserialize, Serialize};
use tokio::task::JoinHandle;
use tracing::{debug, warn};

use super::{ExportConfig, Record, RecordKind, sink::Sink, sink::SinkError};
use crate::store::{Store, StoreError};

/// Batches one round sends per record kind at most, so one busy kind cannot starve the
/// others (the rest goes next round).
const BATCHES_PER_ROUND: usize = 20;

/// Counters of every exporter together, for `sensor status`.
#[derive(Debug, Default)]
pub struct ExportCounters {
    /// Records delivered.
    pub sent: AtomicU64,
    /// Batches that failed (and wait for a later round).
    pub failed: AtomicU64,
}

/// A snapshot of [`ExportCounters`].
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ExportTotals {
    /// Records delivered.
    pub sent: u64,
    /// Batches that failed.
    pub failed: u64,
}

impl ExportCounters {
    /// The counts now.
    pub fn totals(&self) -> ExportTotals {
        ExportTotals {
            sent: self.sent.load(Ordering::Relaxed),
            failed: self.failed.load(Ordering::Relaxed),
        }
    }
}

/// Why a round stopped.
#[derive(Debug, thiserror::Error)]
pub enum ExportError {
    /// The store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// Delivery failed.
    #[error(transparent)]
    Sink(#[from] SinkError),
    /// A blocking task died.
    #[error("an export task failed: {0}")]
    Task(String),
}

/// One configured exporter.
#[derive(Debug)]
pub struct Exporter {
    config: ExportConfig,
    sink: Sink,
    db_path: PathBuf,
}

async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> Result<T, StoreError> + Send + 'static,
) -> Result<T, ExportError> {
    tokio::task::spawn_blocking(f)
        .await
        .map_err(|e| ExportError::Task(e.to_string()))?
        .map_err(ExportError::from)
}

/// The next batch of `kind` after `cursor`, with the id of its last row.
fn fetch(
    store: &mut Store,
    kind: RecordKind,
    cursor: i64,
    batch: usize,
) -> Result<(Vec<Record>, Option<i64>), StoreError> {
    Ok(match kind {
        RecordKind::Connections => {
            let rows = store.connections_after(cursor, batch)?;
            let last = rows.last().map(|(id, _)| *id);
            (
                rows.into_iter()
                    .map(|(_, c)| Record::Conn(Box::new(c)))
                    .collect(),
                last,
            )
        }
        RecordKind::Actions => {
            let rows = store.actions_after(cursor, batch)?;
            let last = rows.last().map(|a| a.id);
            (rows.into_iter().map(Record::Action).collect(), last)
        }
        RecordKind::Breaches | RecordKind::EdrAlerts | RecordKind::Incidents => {
            let rows = store.table_rows_after(kind.as_str(), cursor, batch)?;
            let last = rows.last().and_then(|r| r["id"].as_i64());
            (
                rows.into_iter()
                    .map(|row| Record::Row { kind, row })
                    .collect(),
                last,
            )
        }
    })
}

impl Exporter {
    /// An exporter of `config` reading the database at `db_path`.
    pub fn new(config: ExportConfig, db_path: PathBuf) -> Result<Self, SinkError> {
        Ok(Self {
            sink: Sink::open(&config.destination)?,
            config,
            db_path,
        })
    }

    /// Sends what is new; returns the records delivered.
    pub async fn round(&mut self, counters: &ExportCounters) -> Result<u64, ExportError> {
        let mut delivered = 0;
        let batch = self.config.batch.max(1);
        for kind in self.config.records.clone() {
            for _ in 0..BATCHES_PER_ROUND {
                let (db, name) = (self.db_path.clone(), self.config.name.clone());
                let (records, last) = blocking(move || {
                    let mut store = Store::open(&db)?;
                    let cursor = store.export_cursor(&name, kind)?;
                    fetch(&mut store, kind, cursor, batch)
                })
                .await?;
                let Some(last) = last else {
                    break;
                };
                let lines: Vec<String> = records
                    .iter()
                    .map(|r| r.format(self.config.format))
                    .collect();
                if let Err(err) = self.sink.send(kind.as_str(), &lines).await {
                    counters.failed.fetch_add(1, Ordering::Relaxed);
                    return Err(err.into());
                }
                let (db, name) = (self.db_path.clone(), self.config.name.clone());
                blocking(move || Store::open(&db)?.set_export_cursor(&name, kind, last)).await?;
                counters
                    .sent
                    .fetch_add(lines.len() as u64, Ordering::Relaxed);
                delivered += lines.len() as u64;
                if lines.len() < batch {
                    break;
                }
            }
        }
        Ok(delivered)
    }
}

/// Starts one task per exporter, each running a round every `every`.
pub fn spawn_all(
    configs: &[ExportConfig],
    db_path: &std::path::Path,
    counters: &Arc<ExportCounters>,
    every: Duration,
) -> Result<Vec<JoinHandle<()>>, SinkError> {
    let mut tasks = Vec::new();
    for config in configs {
        let mut exporter = Exporter::new(config.clone(), db_path.to_path_buf())?;
        let counters = Arc::clone(counters);
        let name = config.name.clone();
        tasks.push(tokio::spawn(async move {
            let mut tick = tokio::time::interval(every);
            let mut failing = false;
            loop {
                tick.tick().await;
                match exporter.round(&counters).await {
                    Ok(n) => {
                        if failing {
                            warn!(exporter = %name, "export recovered");
                        }
                        failing = false;
                        if n > 0 {
                            debug!(exporter = %name, records = n, "exported");
                        }
                    }
                    Err(err) => {
                        // Said once per outage, not every round.
                        if !failing {
                            warn!(exporter = %name, error = %err, "export failed; retrying every round");
                        }
                        failing = true;
                    }
                }
            }
        }));
    }
    Ok(tasks)
}
