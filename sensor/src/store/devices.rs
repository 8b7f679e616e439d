//! Devices and their addresses over time.
//!
//! A device is keyed by its MAC where one was seen (ARP, DHCP), else by an address. Each
//! address a device holds is an interval (`from_ns`, `until_ns`; open while current), so
//! "which device had 10.77.1.12 at 09:14" has an answer after the address moved on.

use std::net::IpAddr;

use chrono::{DateTime, Utc};
use rusqlite::{OptionalExtension as _, params};
use serde::{Deserialize, Serialize};

use super::{Store, StoreError, sql};

/// A device and its addresses.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Device {
    /// Its id.
    pub id: i64,
    /// Its MAC, `aa:bb:…`, if one was seen.
    pub mac: Option<String>,
    /// Its host name (DHCP, later DNS and EDR).
    pub hostname: Option<String>,
    /// Whether it is inside the configured internal networks.
    pub internal: bool,
    /// First seen.
    pub first_seen: DateTime<Utc>,
    /// Last seen.
    pub last_seen: DateTime<Utc>,
    /// Its addresses over time, newest first.
    pub addresses: Vec<Address>,
}

/// One address a device held for a while.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Address {
    /// The address.
    pub addr: IpAddr,
    /// From when.
    pub from: DateTime<Utc>,
    /// Until when; `None` while it still holds it.
    pub until: Option<DateTime<Utc>>,
}

impl Store {
    /// The device with this MAC.
    pub fn device_by_mac(&mut self, mac: &str) -> Result<Option<i64>, StoreError> {
        self.conn()
            .query_row("SELECT id FROM devices WHERE mac = ?1", [mac], |r| r.get(0))
            .optional()
            .map_err(sql("find a device by MAC"))
    }

    /// A new device, first and last seen at `ts_ns`.
    pub fn create_device(
        &mut self,
        mac: Option<&str>,
        internal: bool,
        ts_ns: i64,
    ) -> Result<i64, StoreError> {
        let conn = self.conn();
        conn.execute(
            "INSERT INTO devices (mac, first_seen_ns, last_seen_ns, internal) VALUES (?1, ?2, ?2, ?3)",
            params![mac, ts_ns, internal],
        )
        .map_err(sql("create a device"))?;
        Ok(conn.last_insert_rowid())
    }

    /// Gives a device known only by its address the MAC it turned out to have. Returns
    /// whether it had none (and now has `mac`).
    pub fn adopt_mac(&mut self, id: i64, mac: &str) -> Result<bool, StoreError> {
        let changed = self
            .conn()
            .execute(
                "UPDATE devices SET mac = ?2 WHERE id = ?1 AND mac IS NULL",
                params![id, mac],
            )
            .map_err(sql("give a device its MAC"))?;
        Ok(changed == 1)
    }

    /// Moves a device's last-seen time forward to `ts_ns`.
    pub fn touch_device(&mut self, id: i64, ts_ns: i64) -> Result<(), StoreError> {
        self.conn()
            .execute(
                "UPDATE devices SET last_seen_ns = max(last_seen_ns, ?2) WHERE id = ?1",
                params![id, ts_ns],
            )
            .map_err(sql("update a device's last seen"))?;
        Ok(())
    }

    /// Sets a device's host name.
    pub fn set_hostname(&mut self, id: i64, name: &str) -> Result<(), StoreError> {
        self.conn()
            .execute(
                "UPDATE devices SET hostname = ?2 WHERE id = ?1",
                params![id, name],
            )
            .map_err(sql("set a device's host name"))?;
        Ok(())
    }

    /// Sets a device's host name unless it has one (DHCP names win over DNS names).
    pub fn set_hostname_if_missing(&mut self, id: i64, name: &str) -> Result<(), StoreError> {
        self.conn()
            .execute(
                "UPDATE devices SET hostname = ?2 WHERE id = ?1 AND hostname IS NULL",
                params![id, name],
            )
            .map_err(sql("set a device's host name"))?;
        Ok(())
    }

    /// The device that holds `addr` now (its open interval), with the interval's start.
    pub fn address_holder(&mut self, addr: IpAddr) -> Result<Option<(i64, i64)>, StoreError> {
        self.conn()
            .query_row(
                "SELECT device_id, from_ns FROM device_addresses WHERE addr = ?1 AND until_ns IS NULL",
                [addr.to_string()],
                |r| Ok((r.get(0)?, r.get(1)?)),
            )
            .optional()
            .map_err(sql("find an address's holder"))
    }

    /// Gives `addr` to device `id` from `ts_ns`, ending whoever held it before.
    pub fn assign_address(&mut self, id: i64, addr: IpAddr, ts_ns: i64) -> Result<(), StoreError> {
        let a = addr.to_string();
        let tx = self.write()?;
        tx.execute(
            "UPDATE device_addresses SET until_ns = ?2 WHERE addr = ?1 AND until_ns IS NULL",
            params![a, ts_ns],
        )
        .map_err(sql("end an address interval"))?;
        tx.execute(
            "INSERT OR IGNORE INTO device_addresses (device_id, addr, from_ns) VALUES (?1, ?2, ?3)",
            params![id, a, ts_ns],
        )
        .map_err(sql("start an address interval"))?;
        tx.commit().map_err(sql("commit an address"))
    }

    /// The device that held `addr` at `ts_ns`.
    pub fn device_at(&mut self, addr: IpAddr, ts_ns: i64) -> Result<Option<i64>, StoreError> {
        self.conn()
            .query_row(
                "SELECT device_id FROM device_addresses WHERE addr = ?1 AND from_ns <= ?2 \
                 AND (until_ns IS NULL OR until_ns > ?2) ORDER BY from_ns DESC LIMIT 1",
                params![addr.to_string(), ts_ns],
                |r| r.get(0),
            )
            .optional()
            .map_err(sql("find who held an address"))
    }

    /// Every device with its addresses, most recently seen first.
    pub fn devices(&mut self) -> Result<Vec<Device>, StoreError> {
        self.load_devices(None)
    }

    /// One device with its addresses.
    pub fn device(&mut self, id: i64) -> Result<Option<Device>, StoreError> {
        Ok(self.load_devices(Some(id))?.pop())
    }

    /// The device named `name` (case-insensitive), most recently seen first if several.
    pub fn device_by_hostname(&mut self, name: &str) -> Result<Option<i64>, StoreError> {
        self.conn()
            .query_row(
                "SELECT id FROM devices WHERE hostname = ?1 COLLATE NOCASE \
                 ORDER BY last_seen_ns DESC LIMIT 1",
                [name],
                |r| r.get(0),
            )
            .optional()
            .map_err(sql("find a device by name"))
    }

    /// The device an analyst means by `who`: an address (its holder now), a MAC, or a
    /// host name.
    pub fn find_device(&mut self, who: &str, now_ns: i64) -> Result<Option<i64>, StoreError> {
        if let Ok(addr) = who.parse::<IpAddr>() {
            return self.device_at(addr, now_ns);
        }
        let mac = who.to_ascii_lowercase().replace('-', ":");
        if mac.len() == 17 && mac.split(':').all(|p| p.len() == 2) {
            return self.device_by_mac(&mac);
        }
        if let Ok(id) = who.parse::<i64>() {
            return Ok(self.device(id)?.map(|d| d.id));
        }
        self.device_by_hostname(who)
    }

    fn load_devices(&mut self, only: Option<i64>) -> Result<Vec<Device>, StoreError> {
        let conn = self.conn();
        let mut stmt = conn
            .prepare_cached(
                "SELECT id, mac, hostname, internal, first_seen_ns, last_seen_ns FROM devices \
                 WHERE ?1 IS NULL OR id = ?1 ORDER BY last_seen_ns DESC",
            )
            .map_err(sql("prepare the device query"))?;
        let mut devices: Vec<Device> = stmt
            .query_map([only], |r| {
                Ok(Device {
                    id: r.get(0)?,
                    mac: r.get(1)?,
                    hostname: r.get(2)?,
                    internal: r.get(3)?,
                    first_seen: DateTime::from_timestamp_nanos(r.get(4)?),
                    last_seen: DateTime::from_timestamp_nanos(r.get(5)?),
                    addresses: Vec::new(),
                })
            })
            .map_err(sql("query devices"))?
            .collect::<Result<_, _>>()
            .map_err(sql("read a device"))?;
        let mut addrs = conn
            .prepare_cached(
                "SELECT addr, from_ns, until_ns FROM device_addresses WHERE device_id = ?1 \
                 ORDER BY from_ns DESC",
            )
            .map_err(sql("prepare the address query"))?;
        for device in &mut devices {
            device.addresses = addrs
                .query_map([device.id], |r| {
                    let a: String = r.get(0)?;
                    Ok((a, r.get::<_, i64>(1)?, r.get::<_, Option<i64>>(2)?))
                })
                .map_err(sql("query addresses"))?
                .filter_map(Result::ok)
                .filter_map(|(a, from, until)| {
                    Some(Address {
                        addr: a.parse().ok()?,
                        from: DateTime::from_timestamp_nanos(from),
                        until: until.map(DateTime::from_timestamp_nanos),
                    })
                })
                .collect();
        }
        Ok(devices)
    }
}

impl Store {
    /// Tags device `id` with `tag` (or removes it); returns its tags, sorted.
    pub fn tag_device(
        &mut self,
        id: i64,
        tag: &str,
        remove: bool,
    ) -> Result<Vec<String>, StoreError> {
        let sql_text = if remove {
            "DELETE FROM device_tags WHERE device_id = ?1 AND tag = ?2"
        } else {
            "INSERT OR IGNORE INTO device_tags (device_id, tag) VALUES (?1, ?2)"
        };
        self.conn()
            .execute(sql_text, params![id, tag])
            .map_err(sql("tag a device"))?;
        self.device_tags(id)
    }

    /// Every tagged device's tags.
    pub fn all_device_tags(
        &mut self,
    ) -> Result<std::collections::HashMap<i64, Vec<String>>, StoreError> {
        let mut stmt = self
            .conn()
            .prepare_cached("SELECT device_id, tag FROM device_tags ORDER BY device_id, tag")
            .map_err(sql("prepare the tags query"))?;
        let rows: Vec<(i64, String)> = stmt
            .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))
            .map_err(sql("query tags"))?
            .collect::<Result<_, _>>()
            .map_err(sql("read a tag"))?;
        let mut all: std::collections::HashMap<i64, Vec<String>> = std::collections::HashMap::new();
        for (id, tag) in rows {
            all.entry(id).or_default().push(tag);
        }
        Ok(all)
    }

    /// Device `id`'s tags, sorted.
    pub fn device_tags(&mut self, id: i64) -> Result<Vec<String>, StoreError> {
        let mut stmt = self
            .conn()
            .prepare_cached("SELECT tag FROM device_tags WHERE device_id = ?1 ORDER BY tag")
            .map_err(sql("prepare the tag query"))?;
        stmt.query_map([id], |r| r.get(0))
            .map_err(sql("query tags"))?
            .collect::<Result<_, _>>()
            .map_err(sql("read a tag"))
    }
}
