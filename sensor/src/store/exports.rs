//! What the exporters have sent: a cursor (the last row id) per exporter and record kind,
//! so a restart neither loses nor resends more than the batch in flight; and the rows
//! after a cursor.

use rusqlite::{OptionalExtension as _, params};

use super::{
    Store, StoreError,
    connections::{CONN_COLUMNS, read_conn},
    sql,
};
use crate::{capture::ConnRecord, export::RecordKind};

impl Store {
    /// The last id `exporter` sent of `kind` (0 if none).
    pub fn export_cursor(&mut self, exporter: &str, kind: RecordKind) -> Result<i64, StoreError> {
        Ok(self
            .conn()
            .query_row(
                "SELECT last_id FROM export_cursors WHERE name = ?1 AND kind = ?2",
                params![exporter, kind.as_str()],
                |r| r.get(0),
            )
            .optional()
            .map_err(sql("read an export cursor"))?
            .unwrap_or(0))
    }

    /// Moves `exporter`'s cursor for `kind` to `last_id`.
    pub fn set_export_cursor(
        &mut self,
        exporter: &str,
        kind: RecordKind,
        last_id: i64,
    ) -> Result<(), StoreError> {
        self.conn()
            .execute(
                "INSERT INTO export_cursors (name, kind, last_id) VALUES (?1, ?2, ?3) \
                 ON CONFLICT (name, kind) DO UPDATE SET last_id = excluded.last_id",
                params![exporter, kind.as_str(), last_id],
            )
            .map_err(sql("write an export cursor"))?;
        Ok(())
    }

    /// Hands every row stored after `consumer`'s cursor for `kind` to `each`, `batch` rows at
    /// a time (`fetch` reads the rows after an id, with their ids), and moves the cursor past
    /// each batch once it is handled: the one way the stages after the writer walk what is
    /// new, each row once, also across a restart.
    pub fn consume<T>(
        &mut self,
        consumer: &str,
        kind: RecordKind,
        batch: usize,
        fetch: impl Fn(&mut Self, i64, usize) -> Result<Vec<(i64, T)>, StoreError>,
        mut each: impl FnMut(&mut Self, T) -> Result<(), StoreError>,
    ) -> Result<(), StoreError> {
        loop {
            let after = self.export_cursor(consumer, kind)?;
            let rows = fetch(self, after, batch)?;
            let Some(last) = rows.last().map(|(id, _)| *id) else {
                return Ok(());
            };
            for (_, row) in rows {
                each(self, row)?;
            }
            self.set_export_cursor(consumer, kind, last)?;
        }
    }

    /// [`Store::consume`] over the EDR alerts.
    pub fn consume_edr_alerts(
        &mut self,
        consumer: &str,
        batch: usize,
        each: impl FnMut(&mut Self, super::edr::StoredAlert) -> Result<(), StoreError>,
    ) -> Result<(), StoreError> {
        self.consume(
            consumer,
            RecordKind::EdrAlerts,
            batch,
            |s, after, n| {
                Ok(s.edr_alerts_after(after, n)?
                    .into_iter()
                    .map(|a| (a.id, a))
                    .collect())
            },
            each,
        )
    }

    /// [`Store::consume`] over the breaches.
    pub fn consume_breaches(
        &mut self,
        consumer: &str,
        batch: usize,
        each: impl FnMut(&mut Self, crate::detect::Breach) -> Result<(), StoreError>,
    ) -> Result<(), StoreError> {
        self.consume(
            consumer,
            RecordKind::Breaches,
            batch,
            |s, after, n| {
                Ok(s.breaches_after(after, n)?
                    .into_iter()
                    .map(|b| (b.id, b))
                    .collect())
            },
            each,
        )
    }

    /// Connection records after row `after`, oldest first, with their row ids.
    pub fn connections_after(
        &mut self,
        after: i64,
        limit: usize,
    ) -> Result<Vec<(i64, ConnRecord)>, StoreError> {
        let mut stmt = self
            .conn()
            .prepare_cached(&format!(
                "SELECT {CONN_COLUMNS}, id FROM connections WHERE id > ?1 ORDER BY id LIMIT ?2"
            ))
            .map_err(sql("prepare the export query"))?;
        // The id comes after the record's columns, which `read_conn` reads from 0.
        stmt.query_map(params![after, limit as i64], |r| {
            Ok((r.get(19)?, read_conn(r)?))
        })
        .map_err(sql("query connections to export"))?
        .collect::<Result<_, _>>()
        .map_err(sql("read a connection to export"))
    }
}
