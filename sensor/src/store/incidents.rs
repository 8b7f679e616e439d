//! Incidents: one row each, the whole incident in `data`, its span in columns for
//! grouping; an entry on each of its devices' timelines.

use chrono::{DateTime, Utc};
use rusqlite::{OptionalExtension as _, params};

use super::{Store, StoreError, edr::StoredAlert, ns, sql};
use crate::{detect::Breach, investigate::incident::Incident};

impl Store {
    /// Stores a new incident (setting its id) or replaces a stored one; logs it on the
    /// timelines of devices it was not logged on yet.
    pub fn save_incident(&mut self, i: &mut Incident) -> Result<(), StoreError> {
        let tx = self.write()?;
        if i.id == 0 {
            tx.execute(
                "INSERT INTO incidents (title, ts_ns, score, data, last_ns, updated_ns) \
                 VALUES (?1, ?2, ?3, '{}', ?4, ?5)",
                params![i.title, ns(i.first), i.score, ns(i.last), ns(i.updated)],
            )
            .map_err(sql("store an incident"))?;
            i.id = tx.last_insert_rowid();
        }
        let data = serde_json::to_string(&*i).unwrap_or_else(|_| "{}".to_owned());
        tx.execute(
            "UPDATE incidents SET title = ?2, ts_ns = ?3, score = ?4, data = ?5, last_ns = ?6, \
             updated_ns = ?7 WHERE id = ?1",
            params![
                i.id,
                i.title,
                ns(i.first),
                i.score,
                data,
                ns(i.last),
                ns(i.updated)
            ],
        )
        .map_err(sql("update an incident"))?;
        for d in &i.devices {
            tx.execute(
                "INSERT INTO device_events (device_id, ts_ns, kind, ref_id, summary) \
                 SELECT ?1, ?2, 'incident', ?3, ?4 WHERE NOT EXISTS (SELECT 1 FROM device_events \
                 WHERE device_id = ?1 AND kind = 'incident' AND ref_id = ?3)",
                params![
                    d.id,
                    ns(i.first),
                    i.id,
                    format!("incident #{} ({}): {}", i.id, i.score, i.title)
                ],
            )
            .map_err(sql("log an incident"))?;
        }
        tx.commit().map_err(sql("commit an incident"))
    }

    /// Incidents, newest activity first; at most `limit` (0: all).
    pub fn incidents(&mut self, limit: usize) -> Result<Vec<Incident>, StoreError> {
        let limit = if limit == 0 { -1 } else { limit as i64 };
        self.read_incidents("ORDER BY last_ns DESC, id DESC LIMIT ?1", params![limit])
    }

    /// Incidents stored after row `after`, in row order; at most `limit`.
    pub fn incidents_after(
        &mut self,
        after: i64,
        limit: usize,
    ) -> Result<Vec<Incident>, StoreError> {
        self.read_incidents(
            "WHERE id > ?1 ORDER BY id LIMIT ?2",
            params![after, limit as i64],
        )
    }

    /// Incident `id`.
    pub fn incident(&mut self, id: i64) -> Result<Option<Incident>, StoreError> {
        Ok(self.read_incidents("WHERE id = ?1", params![id])?.pop())
    }

    /// Incidents whose activity overlaps `[from, to]`.
    pub fn incidents_between(
        &mut self,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
    ) -> Result<Vec<Incident>, StoreError> {
        self.read_incidents(
            "WHERE ts_ns <= ?2 AND last_ns >= ?1 ORDER BY id",
            params![ns(from), ns(to)],
        )
    }

    /// Whether an incident holds breach `id` (`kind` = `breaches`) or EDR alert `id`
    /// (`edr_alerts`).
    pub fn incident_holds(&mut self, kind: &str, id: i64) -> Result<bool, StoreError> {
        let path = if kind == "breaches" {
            "$.breaches"
        } else {
            "$.edr_alerts"
        };
        Ok(self
            .conn()
            .query_row(
                "SELECT 1 FROM incidents, json_each(json_extract(data, ?1)) AS j \
                 WHERE j.value = ?2 LIMIT 1",
                params![path, id],
                |_| Ok(()),
            )
            .optional()
            .map_err(sql("look for an incident holding a record"))?
            .is_some())
    }

    /// The breaches with these ids, oldest first.
    pub fn breaches_by_id(&mut self, ids: &[i64]) -> Result<Vec<Breach>, StoreError> {
        let list = serde_json::to_string(ids).unwrap_or_else(|_| "[]".to_owned());
        self.read_breaches(
            "WHERE id IN (SELECT value FROM json_each(?1)) ORDER BY ts_ns, id",
            params![list],
        )
    }

    /// The EDR alerts with these ids, oldest first.
    pub fn edr_alerts_by_id(&mut self, ids: &[i64]) -> Result<Vec<StoredAlert>, StoreError> {
        let list = serde_json::to_string(ids).unwrap_or_else(|_| "[]".to_owned());
        self.read_alerts(
            "WHERE id IN (SELECT value FROM json_each(?1)) ORDER BY ts_ns, id",
            params![list],
        )
    }

    fn read_incidents(
        &mut self,
        tail: &str,
        args: impl rusqlite::Params,
    ) -> Result<Vec<Incident>, StoreError> {
        let mut stmt = self
            .conn()
            .prepare_cached(&format!("SELECT id, data FROM incidents {tail}"))
            .map_err(sql("prepare the incident query"))?;
        let rows: Vec<(i64, String)> = stmt
            .query_map(args, |r| Ok((r.get(0)?, r.get(1)?)))
            .map_err(sql("query incidents"))?
            .collect::<Result<_, _>>()
            .map_err(sql("read an incident"))?;
        Ok(rows
            .into_iter()
            .filter_map(|(id, data)| {
                let mut i: Incident = serde_json::from_str(&data).ok()?;
                i.id = id;
                Some(i)
            })
            .collect())
    }
}
