//! Model breaches and the saved baselines.

use chrono::{DateTime, Utc};
use rusqlite::{OptionalExtension as _, params};

use super::{Store, StoreError, ns, sql};
use crate::detect::{Breach, Evidence};

/// Which breaches to list.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct BreachQuery {
    /// Only this device's.
    pub device_id: Option<i64>,
    /// Only this model's.
    pub model: Option<String>,
    /// Only at least this score.
    pub min_score: u8,
    /// Only since.
    pub since: Option<DateTime<Utc>>,
    /// At most this many (0: all).
    pub limit: usize,
}

impl Store {
    /// Stores breaches (setting their ids) and enters each in its device's event log.
    pub fn insert_breaches(&mut self, breaches: &mut [Breach]) -> Result<(), StoreError> {
        let tx = self.write()?;
        for b in breaches.iter_mut() {
            let data = serde_json::to_string(&b.evidence).unwrap_or_else(|_| "{}".to_owned());
            tx.execute(
                "INSERT INTO breaches (model, model_version, device_id, ts_ns, score, data) \
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
                params![
                    b.model,
                    b.model_version,
                    b.device_id,
                    ns(b.ts),
                    b.score,
                    data
                ],
            )
            .map_err(sql("store a breach"))?;
            b.id = tx.last_insert_rowid();
            if let Some(device) = b.device_id {
                tx.execute(
                    "INSERT INTO device_events (device_id, ts_ns, kind, ref_id, summary) \
                     VALUES (?1, ?2, 'breach', ?3, ?4)",
                    params![
                        device,
                        ns(b.ts),
                        b.id,
                        format!("{} ({}): {}", b.model, b.score, b.evidence.summary)
                    ],
                )
                .map_err(sql("log a breach"))?;
            }
        }
        tx.commit().map_err(sql("commit breaches"))
    }

    /// Breaches matching `q`, newest first.
    pub fn breaches(&mut self, q: &BreachQuery) -> Result<Vec<Breach>, StoreError> {
        let limit = if q.limit == 0 { -1 } else { q.limit as i64 };
        self.read_breaches(
            "WHERE (?1 IS NULL OR device_id = ?1) AND (?2 IS NULL OR model = ?2) \
             AND score >= ?3 AND ts_ns >= ?4 ORDER BY ts_ns DESC, id DESC LIMIT ?5",
            params![
                q.device_id,
                q.model,
                q.min_score,
                q.since.map_or(i64::MIN, ns),
                limit
            ],
        )
    }

    /// Breaches stored after row `after`, in row order; at most `limit`.
    pub fn breaches_after(&mut self, after: i64, limit: usize) -> Result<Vec<Breach>, StoreError> {
        self.read_breaches(
            "WHERE id > ?1 ORDER BY id LIMIT ?2",
            params![after, limit as i64],
        )
    }

    /// Device `device`'s breaches within `[from, to]`, oldest first.
    pub fn breaches_between(
        &mut self,
        device: i64,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
    ) -> Result<Vec<Breach>, StoreError> {
        self.read_breaches(
            "WHERE device_id = ?1 AND ts_ns BETWEEN ?2 AND ?3 ORDER BY ts_ns, id",
            params![device, ns(from), ns(to)],
        )
    }

    /// Every device's breaches between `from` and `to`, oldest first.
    pub fn breaches_in(
        &mut self,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
    ) -> Result<Vec<Breach>, StoreError> {
        self.read_breaches(
            "WHERE ts_ns BETWEEN ?1 AND ?2 ORDER BY ts_ns, id",
            params![ns(from), ns(to)],
        )
    }

    /// Breaches by a statement's `WHERE ... ORDER ... LIMIT` tail.
    pub(super) fn read_breaches(
        &mut self,
        tail: &str,
        args: impl rusqlite::Params,
    ) -> Result<Vec<Breach>, StoreError> {
        let mut stmt = self
            .conn()
            .prepare_cached(&format!(
                "SELECT id, model, model_version, device_id, ts_ns, score, data FROM breaches {tail}"
            ))
            .map_err(sql("prepare the breach query"))?;
        stmt.query_map(args, |r| {
            let data: String = r.get(6)?;
            Ok(Breach {
                id: r.get(0)?,
                model: r.get(1)?,
                model_version: r.get(2)?,
                device_id: r.get(3)?,
                ts: DateTime::from_timestamp_nanos(r.get(4)?),
                score: r.get(5)?,
                evidence: serde_json::from_str(&data).unwrap_or(Evidence {
                    key: String::new(),
                    summary: data,
                    metrics: Vec::new(),
                    connections: Vec::new(),
                }),
            })
        })
        .map_err(sql("query breaches"))?
        .collect::<Result<_, _>>()
        .map_err(sql("read a breach"))
    }

    /// Replaces the saved baselines.
    pub fn save_baseline(&mut self, blob: &[u8], at: DateTime<Utc>) -> Result<(), StoreError> {
        let tx = self.write()?;
        tx.execute("DELETE FROM baseline_snapshots WHERE device_id IS NULL", [])
            .map_err(sql("drop the old baselines"))?;
        tx.execute(
            "INSERT INTO baseline_snapshots (device_id, ts_ns, data) VALUES (NULL, ?1, ?2)",
            params![ns(at), blob],
        )
        .map_err(sql("save the baselines"))?;
        tx.commit().map_err(sql("commit the baselines"))
    }

    /// The saved baselines, if any.
    pub fn load_baseline(&mut self) -> Result<Option<Vec<u8>>, StoreError> {
        self.conn()
            .query_row(
                "SELECT data FROM baseline_snapshots WHERE device_id IS NULL \
                 ORDER BY ts_ns DESC LIMIT 1",
                [],
                |r| r.get(0),
            )
            .optional()
            .map_err(sql("load the baselines"))
    }
}
