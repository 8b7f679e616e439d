//! What each EDR knows of the hosts its alerts name: one row per vendor device, replaced
//! when fetched again; found for a network device through the alerts joined to it.

use chrono::{DateTime, Utc};
use rusqlite::params;

use super::{Store, StoreError, ns, sql};
use crate::edr::{Vendor, host::HostContext};

impl Store {
    /// Vendor device ids named by `vendor`'s alerts whose host context is missing or older
    /// than `stale`; at most `limit`.
    pub fn edr_hosts_due(
        &mut self,
        vendor: Vendor,
        stale: DateTime<Utc>,
        limit: usize,
    ) -> Result<Vec<String>, StoreError> {
        let mut stmt = self
            .conn()
            .prepare_cached(
                "SELECT DISTINCT a.vendor_device_id FROM edr_alerts a \
                 WHERE a.vendor = ?1 AND a.vendor_device_id IS NOT NULL AND NOT EXISTS ( \
                   SELECT 1 FROM edr_hosts h WHERE h.vendor = ?1 \
                   AND h.vendor_device_id = a.vendor_device_id AND h.fetched_ns >= ?2) \
                 ORDER BY a.vendor_device_id LIMIT ?3",
            )
            .map_err(sql("prepare the EDR host query"))?;
        stmt.query_map(params![vendor.as_str(), ns(stale), limit as i64], |r| {
            r.get(0)
        })
        .map_err(sql("query EDR hosts due"))?
        .collect::<Result<_, _>>()
        .map_err(sql("read an EDR host id"))
    }

    /// Stores or replaces a host's context.
    pub fn upsert_edr_host(&mut self, h: &HostContext) -> Result<(), StoreError> {
        let data = serde_json::to_string(h).unwrap_or_else(|_| "{}".to_owned());
        self.conn()
            .execute(
                "INSERT INTO edr_hosts (vendor, vendor_device_id, fetched_ns, data) \
                 VALUES (?1, ?2, ?3, ?4) ON CONFLICT (vendor, vendor_device_id) \
                 DO UPDATE SET fetched_ns = excluded.fetched_ns, data = excluded.data",
                params![h.vendor.as_str(), h.vendor_device_id, ns(h.fetched), data],
            )
            .map_err(sql("store an EDR host"))?;
        Ok(())
    }

    /// What the EDRs know of network device `device`: the hosts its joined alerts name.
    pub fn edr_hosts_of(&mut self, device: i64) -> Result<Vec<HostContext>, StoreError> {
        let mut stmt = self
            .conn()
            .prepare_cached(
                "SELECT h.data FROM edr_hosts h WHERE EXISTS ( \
                   SELECT 1 FROM edr_alerts a WHERE a.device_id = ?1 AND a.vendor = h.vendor \
                   AND a.vendor_device_id = h.vendor_device_id) \
                 ORDER BY h.fetched_ns DESC",
            )
            .map_err(sql("prepare the device's EDR hosts query"))?;
        let rows: Vec<String> = stmt
            .query_map([device], |r| r.get(0))
            .map_err(sql("query the device's EDR hosts"))?
            .collect::<Result<_, _>>()
            .map_err(sql("read an EDR host"))?;
        Ok(rows
            .iter()
            .filter_map(|d| serde_json::from_str(d).ok())
            .collect())
    }
}
