//! EDR alerts: one row per vendor alert (updated in place when the vendor updates it),
//! with the normalized alert and its join in `data`, and an entry on the joined device's
//! timeline the first time it is seen.

use rusqlite::{OptionalExtension as _, params};
use serde::{Deserialize, Serialize};

use chrono::{DateTime, Utc};

use super::{Store, StoreError, ns, sql};
use crate::edr::{EdrAlert, join::Joined};

/// A stored alert with its join.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct StoredAlert {
    /// The row id.
    pub id: i64,
    /// The alert.
    pub alert: EdrAlert,
    /// Which device it joined, and why.
    pub joined: Joined,
    /// How unusual it was when it arrived (once fusion has scored it).
    pub rarity: Option<crate::fusion::rarity::Rarity>,
}

#[derive(Serialize, Deserialize)]
struct Data {
    alert: EdrAlert,
    joined: Joined,
}

impl Store {
    /// Stores or updates an alert; returns whether it was new.
    pub fn upsert_edr_alert(&mut self, a: &EdrAlert, joined: &Joined) -> Result<bool, StoreError> {
        let data = serde_json::to_string(&Data {
            alert: a.clone(),
            joined: joined.clone(),
        })
        .unwrap_or_else(|_| "{}".to_owned());
        let ts = a.detected.timestamp_nanos_opt().unwrap_or(i64::MAX);
        let tx = self.write()?;
        let existing: Option<i64> = tx
            .query_row(
                "SELECT id FROM edr_alerts WHERE vendor = ?1 AND vendor_id = ?2",
                params![a.vendor.as_str(), a.id],
                |r| r.get(0),
            )
            .optional()
            .map_err(sql("find an EDR alert"))?;
        let new = existing.is_none();
        // One statement for both: a vendor's update replaces what it said (its rarity,
        // scored on first arrival, stays).
        let id: i64 = tx
            .query_row(
                "INSERT INTO edr_alerts (vendor, vendor_id, device_id, ts_ns, severity, title, \
                 data, vendor_device_id, kind, subject) \
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10) \
                 ON CONFLICT (vendor, vendor_id) DO UPDATE SET device_id = excluded.device_id, \
                 ts_ns = excluded.ts_ns, severity = excluded.severity, title = excluded.title, \
                 data = excluded.data, vendor_device_id = excluded.vendor_device_id, \
                 kind = excluded.kind, subject = excluded.subject RETURNING id",
                params![
                    a.vendor.as_str(),
                    a.id,
                    joined.device_id,
                    ts,
                    a.severity,
                    a.title,
                    data,
                    a.vendor_device_id,
                    a.kind(),
                    a.subject()
                ],
                |r| r.get(0),
            )
            .map_err(sql("store an EDR alert"))?;
        if new && let Some(device) = joined.device_id {
            let link = a
                .link
                .as_deref()
                .map(|l| format!(" {l}"))
                .unwrap_or_default();
            tx.execute(
                "INSERT INTO device_events (device_id, ts_ns, kind, ref_id, summary) \
                 VALUES (?1, ?2, 'edr_alert', ?3, ?4)",
                params![
                    device,
                    ts,
                    id,
                    format!(
                        "{}: {} ({}){link}",
                        a.vendor.as_str(),
                        a.title,
                        a.severity_label
                    )
                ],
            )
            .map_err(sql("log an EDR alert"))?;
        }
        tx.commit().map_err(sql("commit an EDR alert"))?;
        Ok(new)
    }

    /// Connector `name`'s cursor, if it has polled.
    pub fn edr_cursor(&mut self, name: &str) -> Result<Option<String>, StoreError> {
        self.conn()
            .query_row(
                "SELECT cursor FROM edr_cursors WHERE name = ?1",
                [name],
                |r| r.get(0),
            )
            .optional()
            .map_err(sql("read an EDR cursor"))
    }

    /// Moves connector `name`'s cursor.
    pub fn set_edr_cursor(&mut self, name: &str, cursor: &str) -> Result<(), StoreError> {
        self.conn()
            .execute(
                "INSERT INTO edr_cursors (name, cursor) VALUES (?1, ?2) \
                 ON CONFLICT (name) DO UPDATE SET cursor = excluded.cursor",
                params![name, cursor],
            )
            .map_err(sql("write an EDR cursor"))?;
        Ok(())
    }

    /// Stored alerts, newest detection first: only `device`'s if given; at most `limit`
    /// (0: all).
    pub fn edr_alerts(
        &mut self,
        device: Option<i64>,
        limit: usize,
    ) -> Result<Vec<StoredAlert>, StoreError> {
        self.edr_alerts_where(device, false, limit)
    }

    /// As [`Store::edr_alerts`], only those that surfaced as unusual if `unusual`.
    pub fn edr_alerts_where(
        &mut self,
        device: Option<i64>,
        unusual: bool,
        limit: usize,
    ) -> Result<Vec<StoredAlert>, StoreError> {
        let limit = if limit == 0 { -1 } else { limit as i64 };
        self.read_alerts(
            "WHERE (?1 IS NULL OR device_id = ?1) \
             AND (?3 = 0 OR json_extract(rarity, '$.surfaced') = 1) \
             ORDER BY ts_ns DESC, id DESC LIMIT ?2",
            params![device, limit, unusual],
        )
    }

    /// Alerts stored after row `after`, in row order; at most `limit`.
    pub fn edr_alerts_after(
        &mut self,
        after: i64,
        limit: usize,
    ) -> Result<Vec<StoredAlert>, StoreError> {
        self.read_alerts(
            "WHERE id > ?1 ORDER BY id LIMIT ?2",
            params![after, limit as i64],
        )
    }

    /// Device `device`'s alerts detected within `[from, to]`, oldest first.
    pub fn edr_alerts_between(
        &mut self,
        device: i64,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
    ) -> Result<Vec<StoredAlert>, StoreError> {
        self.read_alerts(
            "WHERE device_id = ?1 AND ts_ns BETWEEN ?2 AND ?3 ORDER BY ts_ns, id",
            params![device, ns(from), ns(to)],
        )
    }

    /// Alerts by a statement's `WHERE ... ORDER ... LIMIT` tail.
    pub(super) fn read_alerts(
        &mut self,
        tail: &str,
        args: impl rusqlite::Params,
    ) -> Result<Vec<StoredAlert>, StoreError> {
        let mut stmt = self
            .conn()
            .prepare_cached(&format!("SELECT id, data, rarity FROM edr_alerts {tail}"))
            .map_err(sql("prepare the EDR alert query"))?;
        let rows: Vec<(i64, String, Option<String>)> = stmt
            .query_map(args, |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))
            .map_err(sql("query EDR alerts"))?
            .collect::<Result<_, _>>()
            .map_err(sql("read an EDR alert"))?;
        Ok(rows
            .into_iter()
            .filter_map(|(id, data, rarity)| {
                let d: Data = serde_json::from_str(&data).ok()?;
                Some(StoredAlert {
                    id,
                    alert: d.alert,
                    joined: d.joined,
                    rarity: rarity.and_then(|r| serde_json::from_str(&r).ok()),
                })
            })
            .collect())
    }
}
