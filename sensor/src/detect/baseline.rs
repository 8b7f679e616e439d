//! Pattern of life: what each device does, what its peers do, what the whole network
//! does, learned online from connection records and kept bounded (capped tables that drop
//! their stalest entries; counts that halve every `HALF_LIFE` of record time). The whole
//! baseline is saved to the store now and then and loaded on start, so a restart does not
//! forget.
//!
//! Peer groups are devices that behave alike within one subnet: [`Baselines::regroup`]
//! (run whenever the baselines are saved) clusters each /24 (IPv4) or /64 (IPv6) by the
//! services its devices use most, so a workstation's peers are the other workstations,
//! not the database server next to them. Until a device has a behaviour, its subnet is its
//! group.

use std::{
    collections::{BTreeSet, HashMap},
    net::IpAddr,
};

use serde::{Deserialize, Serialize};

use super::hourly::{Hourly, Measure};

/// What a device is profiled on.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Feature {
    /// Outside addresses it connects to.
    ExternalEndpoint,
    /// Inside addresses it connects to on admin services (SMB, RDP, SSH, `WinRM`, DCE-RPC).
    AdminPeer,
    /// `proto/port` it connects to.
    PortUsed,
    /// `proto/port` others connect to on it (learned for the responder's device).
    PortServed,
    /// DNS names it asks for.
    DnsName,
    /// HTTP user agents it sends.
    UserAgent,
    /// TLS client fingerprints (JA4) it sends.
    Ja4,
}

/// Entries kept per device and feature.
const DEVICE_CAP: usize = 512;
/// Entries kept network-wide per feature.
const NETWORK_CAP: usize = 20_000;
/// Devices remembered per network-wide entry (enough to tell rare from common).
const DEVICES_PER_ENTRY: usize = 32;
/// Counts halve every this many ns of record time (a week).
const HALF_LIFE_NS: f64 = 7.0 * 86_400e9;

#[derive(Clone, Debug, Default, Serialize, Deserialize)]
struct Seen {
    count: f64,
    first_ns: i64,
    last_ns: i64,
}

impl Seen {
    fn decayed(&self, now_ns: i64) -> f64 {
        let age = (now_ns - self.last_ns).max(0) as f64;
        self.count * 0.5f64.powf(age / HALF_LIFE_NS)
    }
}

/// A table that keeps at most `cap` entries, dropping the stalest.
fn touch<'m, V: Default>(
    map: &'m mut HashMap<String, V>,
    key: &str,
    cap: usize,
    last: impl Fn(&V) -> i64,
) -> &'m mut V {
    if !map.contains_key(key)
        && map.len() >= cap
        && let Some(stalest) = map
            .iter()
            .min_by_key(|(_, v)| last(v))
            .map(|(k, _)| k.clone())
    {
        map.remove(&stalest);
    }
    map.entry(key.to_owned()).or_default()
}

#[derive(Clone, Debug, Default, Serialize, Deserialize)]
struct NetworkEntry {
    devices: BTreeSet<i64>,
    last_ns: i64,
}

/// One device's profile.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub struct DeviceProfile {
    /// When the baseline first saw it.
    pub first_ns: i64,
    /// When it last saw it.
    pub last_ns: i64,
    /// Its peer group: its subnet, then the behaviour cluster within it.
    pub group: String,
    /// Its subnet (/24 or /64), which groups refine.
    #[serde(default)]
    pub subnet: String,
    features: HashMap<Feature, HashMap<String, Seen>>,
    /// Connections it opened per hour of the day (UTC).
    pub hours: [u32; 24],
    /// Bytes out, bytes in and connections per active hour, the last week of them.
    #[serde(flatten)]
    hourly: Hourly,
}

/// Every device's profile and the network-wide view.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub struct Baselines {
    devices: HashMap<i64, DeviceProfile>,
    network: HashMap<Feature, HashMap<String, NetworkEntry>>,
    /// The device last seen originating from each inside address, so a connection's
    /// responder can be profiled too (the services it serves). Bounded by the network.
    #[serde(default)]
    holders: HashMap<String, i64>,
}

/// The peer group of an address: its /24 or /64.
pub fn group_of(addr: IpAddr) -> String {
    match addr {
        IpAddr::V4(a) => {
            let o = a.octets();
            format!("{}.{}.{}.0/24", o[0], o[1], o[2])
        }
        IpAddr::V6(a) => {
            let s = a.segments();
            format!("{:x}:{:x}:{:x}:{:x}::/64", s[0], s[1], s[2], s[3])
        }
    }
}

impl Baselines {
    /// The profile of `device`, made on first sight at `ts_ns` in `subnet` (which is its
    /// group until [`Baselines::regroup`] refines it).
    pub fn device_mut(&mut self, device: i64, subnet: &str, ts_ns: i64) -> &mut DeviceProfile {
        let p = self.devices.entry(device).or_insert_with(|| DeviceProfile {
            first_ns: ts_ns,
            group: subnet.to_owned(),
            ..DeviceProfile::default()
        });
        p.last_ns = p.last_ns.max(ts_ns);
        if p.subnet != subnet {
            subnet.clone_into(&mut p.subnet);
            subnet.clone_into(&mut p.group);
        }
        p
    }

    /// Regroups devices: within each subnet, a device joins the first cluster whose
    /// founder's most-used services overlap its own by at least half (Jaccard), else
    /// founds one. Devices with no services yet stay in their subnet's plain group.
    pub fn regroup(&mut self) {
        const TOP: usize = 8;
        let mut ids: Vec<i64> = self.devices.keys().copied().collect();
        ids.sort_unstable();
        // (subnet, founder's services, label) of each cluster.
        let mut clusters: Vec<(String, BTreeSet<String>, String)> = Vec::new();
        for id in ids {
            let Some(p) = self.devices.get_mut(&id) else {
                continue;
            };
            let mut used: Vec<(&String, f64)> = p
                .features
                .get(&Feature::PortUsed)
                .map(|t| t.iter().map(|(k, v)| (k, v.count)).collect())
                .unwrap_or_default();
            used.sort_by(|a, b| b.1.total_cmp(&a.1).then(a.0.cmp(b.0)));
            let signature: BTreeSet<String> =
                used.into_iter().take(TOP).map(|(k, _)| k.clone()).collect();
            if signature.is_empty() {
                p.group.clone_from(&p.subnet);
                continue;
            }
            let joined = clusters.iter().find(|(subnet, founder, _)| {
                *subnet == p.subnet && {
                    let inter = founder.intersection(&signature).count() as f64;
                    let union = founder.union(&signature).count() as f64;
                    inter / union >= 0.5
                }
            });
            p.group = if let Some((_, _, label)) = joined {
                label.clone()
            } else {
                let label = format!(
                    "{} {}",
                    p.subnet,
                    signature
                        .iter()
                        .take(3)
                        .cloned()
                        .collect::<Vec<_>>()
                        .join(",")
                );
                clusters.push((p.subnet.clone(), signature, label.clone()));
                label
            };
        }
    }

    /// Regroups as [`Baselines::regroup`], then puts devices an analyst tagged into one
    /// group per set of tags (`tag:server`): the analyst knows these belong together, which
    /// outweighs what their traffic suggests.
    pub fn regroup_tagged(&mut self, tags: &HashMap<i64, Vec<String>>) {
        self.regroup();
        for (id, p) in &mut self.devices {
            if let Some(t) = tags.get(id).filter(|t| !t.is_empty()) {
                let mut t = t.clone();
                t.sort();
                p.group = format!("tag:{}", t.join(","));
            }
        }
    }

    /// Every device's peer group.
    pub fn groups(&self) -> Vec<(i64, String)> {
        self.devices
            .iter()
            .map(|(id, p)| (*id, p.group.clone()))
            .collect()
    }

    /// The profile of `device`, if it has one.
    pub fn device(&self, device: i64) -> Option<&DeviceProfile> {
        self.devices.get(&device)
    }

    /// How long (ns of record time) `device` has been learned at `ts_ns`; 0 if unknown.
    pub fn learned_ns(&self, device: i64, ts_ns: i64) -> i64 {
        self.devices
            .get(&device)
            .map_or(0, |p| (ts_ns - p.first_ns).max(0))
    }

    /// Notes that `device` showed `value` of `feature` at `ts_ns`.
    pub fn learn(&mut self, device: i64, feature: Feature, value: &str, ts_ns: i64) {
        if let Some(p) = self.devices.get_mut(&device) {
            let table = p.features.entry(feature).or_default();
            let seen = touch(table, value, DEVICE_CAP, |s: &Seen| s.last_ns);
            if seen.first_ns == 0 {
                seen.first_ns = ts_ns;
            }
            seen.count = seen.decayed(ts_ns) + 1.0;
            seen.last_ns = ts_ns;
        }
        let table = self.network.entry(feature).or_default();
        let entry = touch(table, value, NETWORK_CAP, |e: &NetworkEntry| e.last_ns);
        if entry.devices.len() < DEVICES_PER_ENTRY {
            entry.devices.insert(device);
        }
        entry.last_ns = entry.last_ns.max(ts_ns);
    }

    /// How often (decayed) `device` showed `value`; 0 if never.
    pub fn device_count(&self, device: i64, feature: Feature, value: &str, now_ns: i64) -> f64 {
        self.devices
            .get(&device)
            .and_then(|p| p.features.get(&feature))
            .and_then(|t| t.get(value))
            .map_or(0.0, |s| s.decayed(now_ns))
    }

    /// Devices (up to the cap) that showed `value`, other than `except`.
    pub fn network_devices(&self, feature: Feature, value: &str, except: i64) -> usize {
        self.network
            .get(&feature)
            .and_then(|t| t.get(value))
            .map_or(0, |e| e.devices.iter().filter(|d| **d != except).count())
    }

    /// Of the other devices in `device`'s peer group, how many showed `value`, and how
    /// many there are.
    pub fn peers_with(&self, device: i64, feature: Feature, value: &str) -> (usize, usize) {
        let Some(group) = self.devices.get(&device).map(|p| p.group.as_str()) else {
            return (0, 0);
        };
        let peers: Vec<i64> = self
            .devices
            .iter()
            .filter(|(id, p)| **id != device && p.group == group)
            .map(|(id, _)| *id)
            .collect();
        let users = self
            .network
            .get(&feature)
            .and_then(|t| t.get(value))
            .map_or(0, |e| {
                peers.iter().filter(|p| e.devices.contains(p)).count()
            });
        (users, peers.len())
    }

    /// Adds `value` of `measure` to `device`'s hour of `ts_ns`.
    pub fn add_hourly(&mut self, device: i64, measure: Measure, ts_ns: i64, value: u64) {
        if let Some(p) = self.devices.get_mut(&device) {
            p.hourly.add(measure, ts_ns, value);
        }
    }

    /// The 95th percentile of `device`'s active hours of `measure` before the hour of
    /// `ts_ns`, if it has at least `min_hours` of them.
    pub fn hourly_p95(
        &self,
        device: i64,
        measure: Measure,
        ts_ns: i64,
        min_hours: usize,
    ) -> Option<f64> {
        self.devices
            .get(&device)?
            .hourly
            .p95(measure, ts_ns, min_hours)
    }

    /// Notes a connection `device` opened in the UTC hour `hour`.
    pub fn add_hour(&mut self, device: i64, hour: usize) {
        if let Some(p) = self.devices.get_mut(&device) {
            p.hours[hour % 24] = p.hours[hour % 24].saturating_add(1);
        }
    }

    /// Notes that `device` originated from `addr`.
    pub fn hold(&mut self, addr: IpAddr, device: i64) {
        if self.holders.len() < NETWORK_CAP || self.holders.contains_key(&addr.to_string()) {
            self.holders.insert(addr.to_string(), device);
        }
    }

    /// The device last seen originating from `addr`.
    pub fn holder(&self, addr: IpAddr) -> Option<i64> {
        self.holders.get(&addr.to_string()).copied()
    }

    /// Devices with a profile.
    pub fn device_count_total(&self) -> usize {
        self.devices.len()
    }
}

/// Multicast and broadcast addresses: link-local chatter (mDNS, SSDP, IGMP), neither an
/// endpoint anyone chose nor a beacon anyone planted.
pub fn is_group(addr: IpAddr) -> bool {
    match addr {
        IpAddr::V4(a) => a.is_multicast() || a.is_broadcast() || a.octets()[3] == 255,
        IpAddr::V6(a) => a.is_multicast(),
    }
}

/// Admin services: a new inside peer on one of these is how lateral movement looks.
pub const ADMIN_PORTS: [u16; 7] = [22, 135, 139, 445, 3389, 5985, 5986];

/// The feature values a record shows: the originator's (when it is inside), and the
/// service the responder serves (when the responder is inside and answered), which is
/// the responder's device's.
pub fn features(
    r: &crate::capture::ConnRecord,
    orig_inside: bool,
    resp_inside: bool,
) -> Vec<(Feature, String)> {
    let mut out = Vec::new();
    let transport = r.proto == "tcp" || r.proto == "udp";
    // Only answered connections show a service: a SYN-ACK for TCP, any reply for UDP.
    let answered = r.resp_pkts > 0 && (r.proto == "udp" || r.history.contains('h'));
    if transport && resp_inside && answered {
        out.push((Feature::PortServed, format!("{}/{}", r.proto, r.resp_p)));
    }
    if !orig_inside {
        return out;
    }
    if !resp_inside && !is_group(r.resp_h) {
        out.push((Feature::ExternalEndpoint, r.resp_h.to_string()));
    }
    if resp_inside && r.proto == "tcp" && ADMIN_PORTS.contains(&r.resp_p) {
        out.push((Feature::AdminPeer, r.resp_h.to_string()));
    }
    if transport {
        out.push((Feature::PortUsed, format!("{}/{}", r.proto, r.resp_p)));
    }
    if let Some(d) = &r.app.dns {
        let name = d.query.trim_end_matches('.').to_ascii_lowercase();
        let labels: Vec<&str> = name.rsplitn(3, '.').collect();
        let domain = if labels.len() >= 2 {
            format!("{}.{}", labels[1], labels[0])
        } else {
            name.clone()
        };
        out.push((Feature::DnsName, domain));
    }
    if let Some(ua) = r.app.http.as_ref().and_then(|h| h.user_agent.clone()) {
        out.push((Feature::UserAgent, ua));
    }
    if let Some(t) = &r.app.tls {
        out.push((Feature::Ja4, t.ja4.clone()));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::{Baselines, Feature, group_of};

    #[test]
    fn rarity_for_device_peers_and_network() {
        let mut b = Baselines::default();
        let g = group_of("10.0.0.5".parse().unwrap());
        assert_eq!(g, "10.0.0.0/24");
        for d in 1..=4 {
            b.device_mut(d, &g, 0);
        }
        b.device_mut(9, "10.9.9.0/24", 0);
        for d in 1..=3 {
            b.learn(d, Feature::ExternalEndpoint, "203.0.113.9", 10);
        }
        assert!(b.device_count(1, Feature::ExternalEndpoint, "203.0.113.9", 10) > 0.9);
        assert!(b.device_count(4, Feature::ExternalEndpoint, "203.0.113.9", 10) < f64::EPSILON);
        assert_eq!(
            b.peers_with(4, Feature::ExternalEndpoint, "203.0.113.9"),
            (3, 3)
        );
        assert_eq!(
            b.peers_with(9, Feature::ExternalEndpoint, "203.0.113.9"),
            (0, 0)
        );
        assert_eq!(
            b.network_devices(Feature::ExternalEndpoint, "203.0.113.9", 4),
            3
        );
        // A week later the counts have halved.
        let week = 7 * 86_400_000_000_000;
        let c = b.device_count(1, Feature::ExternalEndpoint, "203.0.113.9", 10 + week);
        assert!((c - 0.5).abs() < 0.01, "{c}");
    }

    #[test]
    fn tags_outweigh_behaviour_in_peer_groups() {
        let mut b = Baselines::default();
        let subnet = group_of("10.0.0.1".parse().unwrap());
        for (id, port) in [(1, "tcp/445"), (2, "tcp/22"), (3, "tcp/80")] {
            b.device_mut(id, &subnet, 0);
            b.learn(id, Feature::PortUsed, port, 1);
        }
        b.regroup();
        assert_ne!(b.device(1).unwrap().group, b.device(2).unwrap().group);
        let tags = std::collections::HashMap::from([
            (1, vec!["server".to_owned()]),
            (2, vec!["server".to_owned()]),
        ]);
        b.regroup_tagged(&tags);
        assert_eq!(b.device(1).unwrap().group, "tag:server");
        assert_eq!(b.device(2).unwrap().group, "tag:server");
        assert_ne!(b.device(3).unwrap().group, "tag:server");
    }

    #[test]
    fn peer_groups_split_a_subnet_by_behaviour() {
        let mut b = Baselines::default();
        let g = "10.0.0.0/24";
        for d in 1..=5 {
            b.device_mut(d, g, 0);
        }
        for d in 1..=3 {
            for port in ["tcp/443", "udp/53", "tcp/80"] {
                b.learn(d, Feature::PortUsed, port, 1);
            }
        }
        for d in 4..=5 {
            for port in ["tcp/5432", "tcp/22"] {
                b.learn(d, Feature::PortUsed, port, 1);
            }
        }
        b.learn(4, Feature::ExternalEndpoint, "203.0.113.5", 1);
        b.learn(5, Feature::ExternalEndpoint, "203.0.113.5", 1);
        // Before regrouping, the servers are workstation 1's peers.
        assert_eq!(
            b.peers_with(1, Feature::ExternalEndpoint, "203.0.113.5"),
            (2, 4)
        );
        b.regroup();
        assert_eq!(b.device(1).unwrap().group, b.device(3).unwrap().group);
        assert_ne!(b.device(1).unwrap().group, b.device(4).unwrap().group);
        assert_eq!(
            b.peers_with(1, Feature::ExternalEndpoint, "203.0.113.5"),
            (0, 2)
        );
        assert_eq!(
            b.peers_with(4, Feature::ExternalEndpoint, "203.0.113.5"),
            (1, 1)
        );
    }

    #[test]
    fn tables_stay_bounded() {
        let mut b = Baselines::default();
        b.device_mut(1, "g", 0);
        for i in 0..2_000 {
            b.learn(1, Feature::DnsName, &format!("n{i}.example"), i);
        }
        let kept = (0..2_000)
            .filter(|i| b.device_count(1, Feature::DnsName, &format!("n{i}.example"), 2_000) > 0.0)
            .count();
        assert_eq!(kept, super::DEVICE_CAP);
        assert!(
            b.device_count(1, Feature::DnsName, "n1999.example", 2_000) > 0.0,
            "newest kept"
        );
    }
}
