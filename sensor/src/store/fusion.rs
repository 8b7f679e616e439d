//! What fusion reads and writes: the history behind an EDR alert's rarity, the rarity
//! itself, and the peer groups the detection engine found.

use rusqlite::{OptionalExtension as _, params};

use super::{Store, StoreError, edr::StoredAlert, ns, sql};
use crate::fusion::rarity::{Counts, Rarity};

impl Store {
    /// The counts behind `a`'s rarity: the alerts of its type before it (by detection
    /// time, then row), on its device, among its peers and network-wide.
    pub fn rarity_counts(&mut self, a: &StoredAlert) -> Result<Counts, StoreError> {
        let (vendor, kind, subject) = (a.alert.vendor.as_str(), a.alert.kind(), a.alert.subject());
        let ts = ns(a.alert.detected);
        let conn = self.conn();
        let before = "(ts_ns < ?4 OR (ts_ns = ?4 AND id < ?5))";
        let device_prior: i64 = conn
            .query_row(
                &format!(
                    "SELECT count(*) FROM edr_alerts WHERE vendor = ?1 AND kind = ?2 \
                     AND subject = ?3 AND {before}"
                ),
                params![vendor, kind, subject, ts, a.id],
                |r| r.get(0),
            )
            .map_err(sql("count an alert type on a device"))?;
        let mut new_endpoints = Vec::new();
        if device_prior > 0 && !a.alert.remote_ips.is_empty() {
            let mut stmt = conn
                .prepare_cached(
                    "SELECT DISTINCT j.value FROM edr_alerts AS a, \
                     json_each(json_extract(a.data, '$.alert.remote_ips')) AS j \
                     WHERE a.vendor = ?1 AND a.kind = ?2 AND a.subject = ?3 \
                     AND (a.ts_ns < ?4 OR (a.ts_ns = ?4 AND a.id < ?5))",
                )
                .map_err(sql("prepare the endpoint query"))?;
            let seen: Vec<String> = stmt
                .query_map(params![vendor, kind, subject, ts, a.id], |r| r.get(0))
                .map_err(sql("query an alert type's endpoints"))?
                .collect::<Result<_, _>>()
                .map_err(sql("read an endpoint"))?;
            new_endpoints = a
                .alert
                .remote_ips
                .iter()
                .map(ToString::to_string)
                .filter(|ip| !seen.contains(ip))
                .collect();
        }
        let count = |conn: &rusqlite::Connection, q: &str, what| -> Result<u64, StoreError> {
            conn.query_row(q, params![vendor, kind, subject, ts], |r| {
                r.get::<_, i64>(0)
            })
            .map(|n| n as u64)
            .map_err(sql(what))
        };
        let network_with = count(
            conn,
            "SELECT count(DISTINCT subject) FROM edr_alerts WHERE vendor = ?1 AND kind = ?2 \
             AND subject != ?3 AND ts_ns < ?4",
            "count the devices with an alert type",
        )?;
        let network_size = count(
            conn,
            "SELECT count(DISTINCT subject) FROM edr_alerts WHERE vendor = ?1 \
             AND subject != ?3 AND ts_ns < ?4",
            "count the devices with alerts",
        )?;
        let (mut group_with, mut group_size) = (0, 0);
        if let Some(device) = a.joined.device_id {
            let group: Option<String> = conn
                .query_row(
                    "SELECT grp FROM peer_groups WHERE device_id = ?1",
                    [device],
                    |r| r.get(0),
                )
                .optional()
                .map_err(sql("read a peer group"))?;
            if let Some(group) = group {
                group_size = conn
                    .query_row(
                        "SELECT count(*) FROM peer_groups WHERE grp = ?1 AND device_id != ?2",
                        params![group, device],
                        |r| r.get::<_, i64>(0),
                    )
                    .map_err(sql("count a peer group"))? as u64;
                group_with =
                    conn.query_row(
                        "SELECT count(DISTINCT a.device_id) FROM edr_alerts a \
                         JOIN peer_groups p ON p.device_id = a.device_id \
                         WHERE p.grp = ?1 AND a.device_id != ?2 AND a.vendor = ?3 \
                         AND a.kind = ?4 AND a.ts_ns < ?5",
                        params![group, device, vendor, kind, ts],
                        |r| r.get::<_, i64>(0),
                    )
                    .map_err(sql("count the peers with an alert type"))? as u64;
            }
        }
        Ok(Counts {
            device_prior: device_prior as u64,
            new_endpoints,
            group_with,
            group_size,
            network_with,
            network_size,
        })
    }

    /// Stores alert `id`'s rarity; a surfaced alert says so in its device's timeline.
    pub fn set_rarity(&mut self, id: i64, rarity: &Rarity) -> Result<(), StoreError> {
        let data = serde_json::to_string(rarity).unwrap_or_else(|_| "{}".to_owned());
        let tx = self.write()?;
        tx.execute(
            "UPDATE edr_alerts SET rarity = ?2 WHERE id = ?1",
            params![id, data],
        )
        .map_err(sql("store an alert's rarity"))?;
        if rarity.surfaced {
            tx.execute(
                "UPDATE device_events SET summary = summary || ?2 \
                 WHERE kind = 'edr_alert' AND ref_id = ?1",
                params![
                    id,
                    format!(" [unusual {}: {}]", rarity.score, rarity.reason)
                ],
            )
            .map_err(sql("mark an unusual alert in the device log"))?;
        }
        tx.commit().map_err(sql("commit an alert's rarity"))
    }

    /// Replaces the peer groups: `(device id, group)` for the devices the store knows.
    pub fn set_peer_groups(&mut self, groups: &[(i64, String)]) -> Result<(), StoreError> {
        let tx = self.write()?;
        tx.execute("DELETE FROM peer_groups", [])
            .map_err(sql("drop the old peer groups"))?;
        {
            let mut stmt = tx
                .prepare_cached(
                    "INSERT INTO peer_groups (device_id, grp) SELECT ?1, ?2 \
                     WHERE EXISTS (SELECT 1 FROM devices WHERE id = ?1)",
                )
                .map_err(sql("prepare the peer group insert"))?;
            for (device, group) in groups {
                stmt.execute(params![device, group])
                    .map_err(sql("store a peer group"))?;
            }
        }
        tx.commit().map_err(sql("commit the peer groups"))
    }
}
