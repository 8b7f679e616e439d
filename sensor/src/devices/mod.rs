//! The device inventory: devices keyed by MAC where seen (ARP, DHCP), else by address; their
//! addresses over time; host names from DHCP and from DNS answers that point at them; inside
//! or outside the internal networks.
//!
//! # Layout
//! - [`dhcp`]: reading DHCP messages.
//! - The store keeps devices and address intervals (`store::devices`); this module decides
//!   what an observation means for them.

pub mod dhcp;

use std::net::IpAddr;

use ipnet::IpNet;
use sensor_common::event::{ArpEvent, DhcpEvent};

use crate::{
    ebpf::rules::mac_string,
    store::{Store, StoreError},
};

/// Networks that are inside by default: RFC 1918, shared address space, loopback, IPv6
/// unique local and link-local. (Loopback is the host itself: never an outside endpoint.)
pub const DEFAULT_INTERNAL: [&str; 8] = [
    "10.0.0.0/8",
    "172.16.0.0/12",
    "192.168.0.0/16",
    "100.64.0.0/10",
    "127.0.0.0/8",
    "::1/128",
    "fc00::/7",
    "fe80::/10",
];

/// Turns observations into devices.
#[derive(Clone, Debug)]
pub struct Inventory {
    internal: Vec<IpNet>,
}

impl Inventory {
    /// An inventory that treats `internal` as inside.
    pub fn new(internal: Vec<IpNet>) -> Self {
        Self { internal }
    }

    /// The default internal networks.
    pub fn with_defaults() -> Self {
        Self::new(
            DEFAULT_INTERNAL
                .iter()
                .filter_map(|n| n.parse().ok())
                .collect(),
        )
    }

    /// Whether `ip` is inside.
    pub fn is_internal(&self, ip: IpAddr) -> bool {
        self.internal.iter().any(|n| n.contains(&ip))
    }

    /// Records that `mac` holds `ip` at `ts_ns` (UTC ns): the device of that MAC gets the
    /// address, and whoever held it before stops holding it. A MAC seen for the first time
    /// goes to the device known only by that address, if there is one (its connections were
    /// seen before its ARP or DHCP: a replayed capture, a sensor started mid-lease), so the
    /// device keeps what was learnt of it; otherwise it makes a new device.
    pub fn bind(
        &self,
        store: &mut Store,
        mac: [u8; 6],
        ip: IpAddr,
        ts_ns: i64,
    ) -> Result<i64, StoreError> {
        let mac = mac_string(&mac);
        let id = match store.device_by_mac(&mac)? {
            Some(id) => id,
            None => match store.address_holder(ip)? {
                Some((holder, _)) if store.adopt_mac(holder, &mac)? => holder,
                _ => store.create_device(Some(&mac), self.is_internal(ip), ts_ns)?,
            },
        };
        store.touch_device(id, ts_ns)?;
        if store.address_holder(ip)?.map(|(holder, _)| holder) != Some(id) {
            store.assign_address(id, ip, ts_ns)?;
        }
        Ok(id)
    }

    /// The device that holds internal address `ip` at `ts_ns`; one keyed by the address is
    /// made if none does. External addresses have no device.
    pub fn device_for(
        &self,
        store: &mut Store,
        ip: IpAddr,
        ts_ns: i64,
    ) -> Result<Option<i64>, StoreError> {
        if !self.is_internal(ip) {
            return Ok(None);
        }
        if let Some(id) = store.device_at(ip, ts_ns)? {
            store.touch_device(id, ts_ns)?;
            return Ok(Some(id));
        }
        let id = store.create_device(None, true, ts_ns)?;
        store.assign_address(id, ip, ts_ns)?;
        Ok(Some(id))
    }

    /// A DNS answer that maps `name` to an internal address names that address's device,
    /// unless it already has a name.
    pub fn dns_answer(
        &self,
        store: &mut Store,
        name: &str,
        answer: IpAddr,
        ts_ns: i64,
    ) -> Result<(), StoreError> {
        if name.is_empty() {
            return Ok(());
        }
        if let Some(id) = self.device_for(store, answer, ts_ns)? {
            store.set_hostname_if_missing(id, name.trim_end_matches('.'))?;
        }
        Ok(())
    }

    /// An ARP packet: the sender holds its address.
    pub fn arp(&self, store: &mut Store, event: &ArpEvent, ts_ns: i64) -> Result<(), StoreError> {
        let ip = IpAddr::from(event.sender_ip);
        if ip.is_unspecified() || event.sender_mac == [0; 6] {
            return Ok(());
        }
        self.bind(store, event.sender_mac, ip, ts_ns).map(|_| ())
    }

    /// A DHCP message: the client's host name, and the address it is bound to.
    pub fn dhcp(&self, store: &mut Store, event: &DhcpEvent, ts_ns: i64) -> Result<(), StoreError> {
        let len = usize::from(event.len).min(event.data.len());
        let Some(msg) = dhcp::Dhcp::parse(&event.data[..len]) else {
            return Ok(());
        };
        let mac = mac_string(&msg.client_mac);
        let id = match (msg.bound_address(), store.device_by_mac(&mac)?) {
            (Some(ip), _) => self.bind(store, msg.client_mac, IpAddr::V4(ip), ts_ns)?,
            (None, Some(id)) => id,
            (None, None) => store.create_device(Some(&mac), true, ts_ns)?,
        };
        if let Some(name) = &msg.hostname {
            store.set_hostname(id, name)?;
        }
        store.touch_device(id, ts_ns)
    }
}

#[cfg(test)]
mod tests {
    use super::Inventory;
    use crate::store::Store;

    #[test]
    fn an_address_moving_between_devices_keeps_its_history() {
        let mut store = Store::open_in_memory().unwrap();
        let inv = Inventory::with_defaults();
        let ip = "10.77.1.12".parse().unwrap();
        let a = inv.bind(&mut store, [2, 0, 0, 0, 0, 1], ip, 1_000).unwrap();
        let b = inv.bind(&mut store, [2, 0, 0, 0, 0, 2], ip, 2_000).unwrap();
        assert_ne!(a, b);
        assert_eq!(store.device_at(ip, 1_500).unwrap(), Some(a));
        assert_eq!(store.device_at(ip, 2_500).unwrap(), Some(b));
        assert_eq!(store.device_at(ip, 500).unwrap(), None);
        assert_eq!(
            inv.bind(&mut store, [2, 0, 0, 0, 0, 1], ip, 3_000).unwrap(),
            a,
            "same MAC"
        );
        assert_eq!(store.device_at(ip, 3_500).unwrap(), Some(a));
        let devices = store.devices().unwrap();
        let first = devices.iter().find(|d| d.id == a).unwrap();
        assert_eq!(first.addresses.len(), 2, "two intervals: {first:?}");
        assert!(first.mac.as_deref() == Some("02:00:00:00:00:01"));
    }

    #[test]
    fn a_device_known_by_its_address_takes_the_mac_arp_shows() {
        let mut store = Store::open_in_memory().unwrap();
        let inv = Inventory::with_defaults();
        let ip = "10.77.1.12".parse().unwrap();
        let known = inv.device_for(&mut store, ip, 1_000).unwrap().unwrap();
        let bound = inv.bind(&mut store, [2, 0, 0, 0, 0, 1], ip, 2_000).unwrap();
        assert_eq!(
            bound, known,
            "the device keeps its id (and what was learnt of it)"
        );
        assert_eq!(store.devices().unwrap().len(), 1);
        // A second MAC on the address is another device: the first has a MAC now.
        let other = inv.bind(&mut store, [2, 0, 0, 0, 0, 2], ip, 3_000).unwrap();
        assert_ne!(other, known);
        assert_eq!(store.device_at(ip, 3_500).unwrap(), Some(other));
    }

    #[test]
    fn internal_addresses_get_devices_external_do_not() {
        let mut store = Store::open_in_memory().unwrap();
        let inv = Inventory::with_defaults();
        let inside = inv
            .device_for(&mut store, "192.168.1.9".parse().unwrap(), 10)
            .unwrap();
        assert!(inside.is_some());
        assert_eq!(
            inv.device_for(&mut store, "192.168.1.9".parse().unwrap(), 20)
                .unwrap(),
            inside
        );
        assert_eq!(
            inv.device_for(&mut store, "8.8.8.8".parse().unwrap(), 10)
                .unwrap(),
            None
        );
    }
}
