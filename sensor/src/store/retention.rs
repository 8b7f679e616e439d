//! Retention: connection records and per-device events older than a limit are deleted, and
//! the oldest connection records go first when the database outgrows its size limit.

use chrono::{DateTime, Utc};

use super::{Store, StoreError, sql};

/// Limits; `None` means unlimited.
#[derive(Clone, Copy, Debug, Default)]
pub struct Retention {
    /// Keep records newer than this.
    pub max_age: Option<chrono::Duration>,
    /// Keep the database's used pages under this many bytes.
    pub max_bytes: Option<u64>,
}

/// What a prune removed.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Pruned {
    /// Connection records deleted.
    pub connections: u64,
    /// Device events deleted.
    pub events: u64,
}

/// Connection records deleted per round while over the size limit.
const SIZE_ROUND: i64 = 10_000;

impl Store {
    /// Applies the limits as of `now`.
    pub fn prune(
        &mut self,
        retention: &Retention,
        now: DateTime<Utc>,
    ) -> Result<Pruned, StoreError> {
        let mut pruned = Pruned::default();
        if let Some(age) = retention.max_age {
            let cutoff = (now - age).timestamp_nanos_opt().unwrap_or(i64::MIN);
            let conn = self.conn();
            pruned.connections += conn
                .execute("DELETE FROM connections WHERE ts_ns < ?1", [cutoff])
                .map_err(sql("prune old connections"))? as u64;
            pruned.events += conn
                .execute("DELETE FROM device_events WHERE ts_ns < ?1", [cutoff])
                .map_err(sql("prune old device events"))? as u64;
        }
        if let Some(max) = retention.max_bytes {
            while self.used_bytes()? > max {
                let deleted = self
                    .conn()
                    .execute(
                        "DELETE FROM connections WHERE id IN \
                         (SELECT id FROM connections ORDER BY ts_ns LIMIT ?1)",
                        [SIZE_ROUND],
                    )
                    .map_err(sql("prune connections for size"))?;
                if deleted == 0 {
                    break;
                }
                pruned.connections += deleted as u64;
            }
        }
        Ok(pruned)
    }

    /// Bytes in pages that hold data (free pages, which `SQLite` reuses, do not count).
    pub fn used_bytes(&mut self) -> Result<u64, StoreError> {
        let conn = self.conn();
        let pages: i64 = conn
            .query_row("PRAGMA page_count", [], |r| r.get(0))
            .map_err(sql("read the page count"))?;
        let free: i64 = conn
            .query_row("PRAGMA freelist_count", [], |r| r.get(0))
            .map_err(sql("read the free page count"))?;
        let size: i64 = conn
            .query_row("PRAGMA page_size", [], |r| r.get(0))
            .map_err(sql("read the page size"))?;
        Ok(((pages - free).max(0) * size) as u64)
    }
}

#[cfg(test)]
mod tests {
    use chrono::{Duration, Utc};

    use super::Retention;
    use crate::store::{Store, connections::tests::record};

    #[test]
    fn prunes_by_age_and_by_size() {
        let mut store = Store::open_in_memory().unwrap();
        let batch: Vec<_> = (0..2000).map(record).collect();
        store.insert_connections(&batch).unwrap();
        let pruned = store
            .prune(
                &Retention {
                    max_age: Some(Duration::seconds(1000)),
                    max_bytes: None,
                },
                Utc::now(),
            )
            .unwrap();
        assert!((995..=1001).contains(&pruned.connections), "{pruned:?}");
        let before = store.used_bytes().unwrap();
        store
            .prune(
                &Retention {
                    max_age: None,
                    max_bytes: Some(before / 4),
                },
                Utc::now(),
            )
            .unwrap();
        assert!(
            store.used_bytes().unwrap() <= before / 4 || store.count_connections().unwrap() == 0
        );
    }
}
