//! Connection records: batched writes, idempotent by uid, and queries by time and address.

use std::net::IpAddr;

use chrono::{DateTime, Utc};
use rusqlite::{OptionalExtension as _, params};

use super::{Store, StoreError, ns, sql};
use crate::capture::ConnRecord;

/// What to select.
#[derive(Clone, Debug, Default)]
pub struct ConnQuery {
    /// Records starting at or after this time.
    pub since: Option<DateTime<Utc>>,
    /// Records starting before this time.
    pub until: Option<DateTime<Utc>>,
    /// Records with this address on either side.
    pub addr: Option<IpAddr>,
    /// At most this many, newest first (0: no limit).
    pub limit: usize,
}

impl Store {
    /// Writes records in one transaction; a record whose uid is already stored is skipped
    /// (a replayed batch after a crash writes nothing twice). Returns how many were new.
    pub fn insert_connections(&mut self, records: &[ConnRecord]) -> Result<usize, StoreError> {
        Ok(self
            .insert_new_connections(records)?
            .iter()
            .filter(|n| **n)
            .count())
    }

    /// As [`Store::insert_connections`], saying for each record whether it was new (so
    /// detection judges each connection once, also across a crash).
    pub fn insert_new_connections(
        &mut self,
        records: &[ConnRecord],
    ) -> Result<Vec<bool>, StoreError> {
        let tx = self.write()?;
        let mut written = Vec::with_capacity(records.len());
        {
            let mut stmt = tx
                .prepare_cached(
                    "INSERT OR IGNORE INTO connections (uid, community_id, ts_ns, duration, \
                     orig_h, orig_p, resp_h, resp_p, proto, vlan, orig_pkts, orig_bytes, \
                     resp_pkts, resp_bytes, conn_state, history, device_id, service, app, \
                     rhythm) \
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, \
                     ?16, ?17, ?18, ?19, ?20)",
                )
                .map_err(sql("prepare the connection insert"))?;
            for r in records {
                let vlan = r
                    .vlan
                    .iter()
                    .map(u16::to_string)
                    .collect::<Vec<_>>()
                    .join(".");
                let n = stmt
                    .execute(params![
                        r.uid,
                        r.community_id,
                        ns(r.ts),
                        r.duration,
                        r.orig_h.to_string(),
                        r.orig_p,
                        r.resp_h.to_string(),
                        r.resp_p,
                        r.proto,
                        vlan,
                        r.orig_pkts as i64,
                        r.orig_bytes as i64,
                        r.resp_pkts as i64,
                        r.resp_bytes as i64,
                        r.conn_state,
                        r.history,
                        r.device_id,
                        r.app.service,
                        serde_json::to_string(&r.app).unwrap_or_else(|_| "{}".to_owned()),
                        serde_json::to_string(&r.rhythm).unwrap_or_else(|_| "{}".to_owned()),
                    ])
                    .map_err(sql("insert a connection"))?;
                written.push(n > 0);
            }
        }
        tx.commit().map_err(sql("commit connections"))?;
        Ok(written)
    }

    /// Records matching `query`, newest first.
    pub fn connections(&mut self, query: &ConnQuery) -> Result<Vec<ConnRecord>, StoreError> {
        let addr = query.addr.map(|a| a.to_string());
        let limit = if query.limit == 0 {
            -1
        } else {
            query.limit as i64
        };
        let mut stmt = self
            .conn()
            .prepare_cached(
                "SELECT uid, community_id, ts_ns, duration, orig_h, orig_p, resp_h, resp_p, \
                 proto, vlan, orig_pkts, orig_bytes, resp_pkts, resp_bytes, conn_state, \
                 history, device_id, app, rhythm FROM connections \
                 WHERE ts_ns >= ?1 AND ts_ns < ?2 AND (?3 IS NULL OR orig_h = ?3 OR resp_h = ?3) \
                 ORDER BY ts_ns DESC LIMIT ?4",
            )
            .map_err(sql("prepare the connection query"))?;
        let since = query.since.map_or(i64::MIN, ns);
        let until = query.until.map_or(i64::MAX, ns);
        let rows = stmt
            .query_map(params![since, until, addr, limit], read_conn)
            .map_err(sql("query connections"))?;
        rows.collect::<Result<_, _>>()
            .map_err(sql("read a connection"))
    }

    /// The records with these uids.
    pub fn connections_by_uid(&mut self, uids: &[String]) -> Result<Vec<ConnRecord>, StoreError> {
        let list = serde_json::to_string(uids).unwrap_or_else(|_| "[]".to_owned());
        let mut stmt = self
            .conn()
            .prepare_cached(&format!(
                "SELECT {CONN_COLUMNS} FROM connections WHERE uid IN (SELECT value FROM json_each(?1))"
            ))
            .map_err(sql("prepare the connection lookup"))?;
        stmt.query_map([list], read_conn)
            .map_err(sql("look up connections"))?
            .collect::<Result<_, _>>()
            .map_err(sql("read a connection"))
    }

    /// How many connection records are stored.
    pub fn count_connections(&mut self) -> Result<u64, StoreError> {
        let n: Option<i64> = self
            .conn()
            .query_row("SELECT count(*) FROM connections", [], |r| r.get(0))
            .optional()
            .map_err(sql("count connections"))?;
        Ok(n.unwrap_or(0) as u64)
    }
}

/// The columns [`read_conn`] reads, in its order.
pub(crate) const CONN_COLUMNS: &str = "uid, community_id, ts_ns, duration, orig_h, orig_p, \
     resp_h, resp_p, proto, vlan, orig_pkts, orig_bytes, resp_pkts, resp_bytes, conn_state, \
     history, device_id, app, rhythm";

/// A record from a row of [`CONN_COLUMNS`].
pub(crate) fn read_conn(row: &rusqlite::Row<'_>) -> rusqlite::Result<ConnRecord> {
    let parse_ip = |i: usize| -> rusqlite::Result<IpAddr> {
        let s: String = row.get(i)?;
        s.parse().map_err(|e| {
            rusqlite::Error::FromSqlConversionFailure(i, rusqlite::types::Type::Text, Box::new(e))
        })
    };
    let vlan: String = row.get(9)?;
    Ok(ConnRecord {
        uid: row.get(0)?,
        community_id: row.get(1)?,
        ts: DateTime::from_timestamp_nanos(row.get(2)?),
        duration: row.get(3)?,
        orig_h: parse_ip(4)?,
        orig_p: row.get(5)?,
        resp_h: parse_ip(6)?,
        resp_p: row.get(7)?,
        proto: row.get(8)?,
        vlan: vlan.split('.').filter_map(|v| v.parse().ok()).collect(),
        orig_pkts: row.get::<_, i64>(10)? as u64,
        orig_bytes: row.get::<_, i64>(11)? as u64,
        resp_pkts: row.get::<_, i64>(12)? as u64,
        resp_bytes: row.get::<_, i64>(13)? as u64,
        conn_state: row.get(14)?,
        history: row.get(15)?,
        device_id: row.get(16)?,
        app: serde_json::from_str(&row.get::<_, String>(17)?).unwrap_or_default(),
        rhythm: serde_json::from_str(&row.get::<_, String>(18)?).unwrap_or_default(),
    })
}

#[cfg(test)]
pub(crate) mod tests {
    use chrono::{Duration, Utc};

    use super::ConnQuery;
    use crate::{capture::ConnRecord, store::Store};

    pub(crate) fn record(i: u32) -> ConnRecord {
        ConnRecord {
            uid: crate::capture::conn_record::new_uid(),
            community_id: "1:x".to_owned(),
            ts: Utc::now() - Duration::seconds(i64::from(i)),
            duration: 1.5,
            orig_h: "10.77.1.12".parse().unwrap(),
            orig_p: 40000,
            resp_h: format!("198.51.100.{}", i % 200).parse().unwrap(),
            resp_p: 443,
            proto: "tcp".to_owned(),
            vlan: vec![10, 20],
            orig_pkts: 10,
            orig_bytes: 1000,
            resp_pkts: 8,
            resp_bytes: 9000,
            conn_state: "SF".to_owned(),
            history: "SAFhaf".to_owned(),
            device_id: None,
            app: crate::capture::protocols::AppInfo {
                service: Some("http".to_owned()),
                ..Default::default()
            },
            rhythm: crate::capture::conn_record::Rhythm {
                bursts: 9,
                gaps_s: vec![20.0, 20.5, 19.5],
            },
        }
    }

    #[test]
    fn round_trip_and_uid_is_idempotent() {
        let mut store = Store::open_in_memory().unwrap();
        let batch: Vec<_> = (0..100).map(record).collect();
        assert_eq!(store.insert_connections(&batch).unwrap(), 100);
        assert_eq!(
            store.insert_connections(&batch[..10]).unwrap(),
            0,
            "same uids"
        );
        assert_eq!(store.count_connections().unwrap(), 100);
        let got = store
            .connections(&ConnQuery {
                addr: Some("198.51.100.5".parse().unwrap()),
                ..ConnQuery::default()
            })
            .unwrap();
        assert_eq!(got.len(), 1);
        assert_eq!(got[0], batch[5]);
        let newest = store
            .connections(&ConnQuery {
                limit: 3,
                ..ConnQuery::default()
            })
            .unwrap();
        assert_eq!(newest.len(), 3);
        assert!(newest[0].ts >= newest[1].ts);
    }

    #[test]
    fn a_file_database_survives_reopening() {
        let dir = std::env::temp_dir().join(format!("sensor-store-test-{}", std::process::id()));
        let path = dir.join("state").join("sensor.db");
        {
            let mut store = Store::open(&path).unwrap();
            store.insert_connections(&[record(1)]).unwrap();
        }
        let mut store = Store::open(&path).unwrap();
        assert_eq!(store.count_connections().unwrap(), 1);
        let _ = std::fs::remove_dir_all(dir);
    }
}
