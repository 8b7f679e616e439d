//! Writing, removing and listing the kernel's response rules.
//!
//! Every rule targets one map of the XDP program (see `sensor_common::rule`). The `CONFIG`
//! entry's `active_rules` bits follow the maps' contents (an insert sets its class's bit, a
//! removal clears it when the class is left empty, a load recomputes them all), so the
//! program skips only classes that really are empty, and the address filter in front of the
//! IP quarantines and blocks follows their maps (see [`super::addr_filter`]). Addresses are
//! stored IPv4-mapped, so IPv4 and IPv6 rules share maps; a CIDR's prefix grows by 96 bits
//! for IPv4.

use std::{
    fmt,
    net::{IpAddr, Ipv6Addr},
    path::Path,
};

use aya::maps::{HashMap, LpmTrie, Map, MapData, MapError, lpm_trie::Key};
use ipnet::IpNet;
use sensor_common::{
    ADDR_FILTER_MAP, BLOCK_CIDR_MAP, BLOCK_ENDPOINT_MAP, BLOCK_FLOW_MAP, BLOCK_IP_MAP, CONFIG_MAP,
    EndpointKey, FlowKey, MacKey, NEVER_BLOCK_MAP, QUARANTINE_ALLOW_MAP, QUARANTINE_IP_MAP,
    QUARANTINE_MAC_MAP, RuleKind, RuleValue, SUSPEND_MAP,
    rule::{active, addr_hash, addr_words, scope},
};

pub use super::target::{Endpoint, Target, mac_string};
use super::{
    addr_filter::AddrFilter,
    addr_table::{AddrTable, PlaceError},
    maps::{ConfigMap, MapsError, open_pinned},
};

/// A rule as the kernel holds it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Rule {
    /// What it applies to.
    pub target: Target,
    /// Its value (for the never-block and allow lists only `action_id` is meaningful).
    pub value: RuleValue,
}

/// Why a rule could not be written.
#[derive(Debug, thiserror::Error)]
pub enum RuleError {
    /// A map failed.
    #[error(transparent)]
    Maps(#[from] MapsError),
    /// The map refused the entry (full, most likely).
    #[error("failed to write `{target}` to map `{map}`")]
    Write {
        /// The rule.
        target: String,
        /// The map.
        map: &'static str,
        /// The cause.
        #[source]
        source: MapError,
    },
    /// An IP rule table has no cell for the rule.
    #[error("failed to write `{target}` to map `{map}`")]
    Place {
        /// The rule.
        target: String,
        /// The map.
        map: &'static str,
        /// The cause.
        #[source]
        source: PlaceError,
    },
}

/// The classes with an active bit.
const CLASSES: [u32; 8] = [
    active::NEVER_BLOCK,
    active::QUARANTINE_IP,
    active::QUARANTINE_MAC,
    active::BLOCK_FLOW,
    active::BLOCK_IP,
    active::BLOCK_ENDPOINT,
    active::BLOCK_CIDR,
    active::SUSPEND,
];

/// The active bit of `target`'s class (none for the quarantine allow list, which only
/// quarantines consult).
fn class_bit(target: &Target) -> u32 {
    match target {
        Target::NeverBlock { .. } => active::NEVER_BLOCK,
        Target::QuarantineAllow { .. } => 0,
        Target::QuarantineIp { .. } => active::QUARANTINE_IP,
        Target::QuarantineMac { .. } => active::QUARANTINE_MAC,
        Target::BlockFlow { .. } => active::BLOCK_FLOW,
        Target::BlockIp { .. } => active::BLOCK_IP,
        Target::BlockEndpoint { .. } => active::BLOCK_ENDPOINT,
        Target::BlockCidr { .. } => active::BLOCK_CIDR,
        Target::Suspend { .. } => active::SUSPEND,
    }
}

/// Who holds a rule's slot, as the kernel says.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Owner {
    /// No rule in the slot.
    Free,
    /// The rule of this action (0: written without one).
    Action(u64),
    /// Not known from the kernel: a prefix-keyed class (CIDR blocks, the lists), whose
    /// trie lookups match the longest prefix, not the key.
    Unknown,
}

/// Handles on every rule map and the settings.
pub struct Rules {
    never_block: LpmTrie<MapData, [u8; 16], u64>,
    quarantine_allow: LpmTrie<MapData, [u8; 16], u64>,
    quarantine_ip: AddrTable,
    quarantine_mac: HashMap<MapData, MacKey, RuleValue>,
    block_flow: HashMap<MapData, FlowKey, RuleValue>,
    block_ip: AddrTable,
    block_endpoint: HashMap<MapData, EndpointKey, RuleValue>,
    block_cidr: LpmTrie<MapData, [u8; 16], RuleValue>,
    suspend: HashMap<MapData, EndpointKey, RuleValue>,
    addr_filter: AddrFilter,
    config: ConfigMap,
}

impl fmt::Debug for Rules {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Rules").finish_non_exhaustive()
    }
}

fn typed<T: TryFrom<Map, Error = MapError>>(map: Map, name: &'static str) -> Result<T, MapsError> {
    T::try_from(map).map_err(|source| MapsError::Read { name, source })
}

impl Rules {
    /// Opens the rule maps pinned under `dir` (the agent's, or one an agent left behind).
    pub fn open_pinned(dir: &Path) -> Result<Self, MapsError> {
        Self::from_maps(&mut |name| open_pinned(dir, name))
    }

    /// Builds the handles from a source of maps by name.
    pub fn from_maps<E: From<MapsError>>(
        open: &mut dyn FnMut(&'static str) -> Result<Map, E>,
    ) -> Result<Self, E> {
        Ok(Self {
            never_block: typed(open(NEVER_BLOCK_MAP)?, NEVER_BLOCK_MAP)?,
            quarantine_allow: typed(open(QUARANTINE_ALLOW_MAP)?, QUARANTINE_ALLOW_MAP)?,
            quarantine_ip: AddrTable::from_map(open(QUARANTINE_IP_MAP)?, QUARANTINE_IP_MAP)?,
            quarantine_mac: typed(open(QUARANTINE_MAC_MAP)?, QUARANTINE_MAC_MAP)?,
            block_flow: typed(open(BLOCK_FLOW_MAP)?, BLOCK_FLOW_MAP)?,
            block_ip: AddrTable::from_map(open(BLOCK_IP_MAP)?, BLOCK_IP_MAP)?,
            block_endpoint: typed(open(BLOCK_ENDPOINT_MAP)?, BLOCK_ENDPOINT_MAP)?,
            block_cidr: typed(open(BLOCK_CIDR_MAP)?, BLOCK_CIDR_MAP)?,
            suspend: typed(open(SUSPEND_MAP)?, SUSPEND_MAP)?,
            addr_filter: AddrFilter::from_map(open(ADDR_FILTER_MAP)?)?,
            config: ConfigMap::from_map(open(CONFIG_MAP)?)?,
        })
    }

    /// Writes (or overwrites) a rule owned by `action_id` that expires at `expires_ns`
    /// (kernel monotonic; 0 for never), then sets its class's active bit.
    pub fn insert(
        &mut self,
        target: &Target,
        action_id: u64,
        expires_ns: u64,
    ) -> Result<(), RuleError> {
        let value = |kind: RuleKind, scope: u8| RuleValue {
            expires_ns,
            action_id,
            kind: kind as u8,
            scope,
            ..RuleValue::default()
        };
        let err = |map: &'static str| {
            let target = target.to_string();
            move |source| RuleError::Write {
                target,
                map,
                source,
            }
        };
        match target {
            Target::NeverBlock { net } => self
                .never_block
                .insert(&lpm_key(net), action_id, 0)
                .map_err(err(NEVER_BLOCK_MAP))?,
            Target::QuarantineAllow { net } => self
                .quarantine_allow
                .insert(&lpm_key(net), action_id, 0)
                .map_err(err(QUARANTINE_ALLOW_MAP))?,
            Target::QuarantineIp { addr, scope } => {
                place(
                    &mut self.quarantine_ip,
                    target,
                    *addr,
                    value(RuleKind::Quarantine, *scope),
                )?;
            }
            Target::QuarantineMac { mac, scope } => self
                .quarantine_mac
                .insert(mac_key(*mac), value(RuleKind::Quarantine, *scope), 0)
                .map_err(err(QUARANTINE_MAC_MAP))?,
            Target::BlockFlow { a, b } => self
                .block_flow
                .insert(flow_key(a, b), value(RuleKind::Block, scope::BOTH), 0)
                .map_err(err(BLOCK_FLOW_MAP))?,
            Target::BlockIp { addr, scope } => {
                place(
                    &mut self.block_ip,
                    target,
                    *addr,
                    value(RuleKind::Block, *scope),
                )?;
            }
            Target::BlockEndpoint { endpoint, scope } => self
                .block_endpoint
                .insert(endpoint_key(endpoint), value(RuleKind::Block, *scope), 0)
                .map_err(err(BLOCK_ENDPOINT_MAP))?,
            Target::BlockCidr { net, scope } => self
                .block_cidr
                .insert(&lpm_key(net), value(RuleKind::Block, *scope), 0)
                .map_err(err(BLOCK_CIDR_MAP))?,
            Target::Suspend { endpoint } => self
                .suspend
                .insert(
                    endpoint_key(endpoint),
                    value(RuleKind::Suspend, scope::DST),
                    0,
                )
                .map_err(err(SUSPEND_MAP))?,
        }
        // In its table first, then in the filter: the program never sees a bit without a
        // rule it cannot find, and the rule applies from the moment its bit is set.
        if let Target::QuarantineIp { addr, .. } | Target::BlockIp { addr, .. } = target {
            self.addr_filter.add(hash_of(*addr))?;
        }
        // The class now holds a rule: its bit is set without looking at the other classes.
        let bit = class_bit(target);
        self.write_active(|bits| bits | bit)?;
        Ok(())
    }

    /// Who holds `target`'s slot: one lookup for the classes keyed exactly (hash maps).
    pub fn owner(&self, target: &Target) -> Result<Owner, MapsError> {
        let value = match target {
            Target::QuarantineIp { addr, .. } => {
                return Ok(table_owner(&self.quarantine_ip, *addr));
            }
            Target::QuarantineMac { mac, .. } => self.quarantine_mac.get(&mac_key(*mac), 0),
            Target::BlockFlow { a, b } => self.block_flow.get(&flow_key(a, b), 0),
            Target::BlockIp { addr, .. } => return Ok(table_owner(&self.block_ip, *addr)),
            Target::BlockEndpoint { endpoint, .. } => {
                self.block_endpoint.get(&endpoint_key(endpoint), 0)
            }
            Target::Suspend { endpoint } => self.suspend.get(&endpoint_key(endpoint), 0),
            Target::NeverBlock { .. }
            | Target::QuarantineAllow { .. }
            | Target::BlockCidr { .. } => return Ok(Owner::Unknown),
        };
        match value {
            Ok(v) => Ok(Owner::Action(v.action_id)),
            Err(MapError::KeyNotFound) => Ok(Owner::Free),
            Err(source) => Err(MapsError::Read {
                name: "rules",
                source,
            }),
        }
    }

    /// Removes a rule; returns whether it existed. Clears its class's active bit if the
    /// class is left empty.
    pub fn remove(&mut self, target: &Target) -> Result<bool, RuleError> {
        let result = match target {
            Target::NeverBlock { net } => gone(self.never_block.remove(&lpm_key(net))),
            Target::QuarantineAllow { net } => gone(self.quarantine_allow.remove(&lpm_key(net))),
            Target::QuarantineIp { addr, .. } => Ok(self.quarantine_ip.remove(&mapped(*addr))),
            Target::QuarantineMac { mac, .. } => gone(self.quarantine_mac.remove(&mac_key(*mac))),
            Target::BlockFlow { a, b } => gone(self.block_flow.remove(&flow_key(a, b))),
            Target::BlockIp { addr, .. } => Ok(self.block_ip.remove(&mapped(*addr))),
            Target::BlockEndpoint { endpoint, .. } => {
                gone(self.block_endpoint.remove(&endpoint_key(endpoint)))
            }
            Target::BlockCidr { net, .. } => gone(self.block_cidr.remove(&lpm_key(net))),
            Target::Suspend { endpoint } => gone(self.suspend.remove(&endpoint_key(endpoint))),
        };
        let existed = result.map_err(|source| RuleError::Write {
            target: target.to_string(),
            map: "rules",
            source,
        })?;
        // The hash's filter bit goes when no other rule's address has that hash: those all
        // sit in the cells from the hash on, in either table.
        if let Target::QuarantineIp { addr, .. } | Target::BlockIp { addr, .. } = target {
            let hash = hash_of(*addr);
            if !self.quarantine_ip.holds_hash(hash) && !self.block_ip.holds_hash(hash) {
                self.addr_filter.clear(hash)?;
            }
        }
        let bit = class_bit(target);
        let held = self.has_entries(bit);
        self.write_active(|bits| if held { bits | bit } else { bits & !bit })?;
        Ok(existed)
    }

    /// Rebuilds the address filter from the IP quarantines and blocks the tables hold (when
    /// taking over tables an earlier agent left); returns the words changed.
    pub fn rebuild_addr_filter(&mut self) -> Result<usize, MapsError> {
        let hashes: Vec<u32> = [&self.quarantine_ip, &self.block_ip]
            .into_iter()
            .flat_map(AddrTable::entries)
            .map(|(addr, _)| addr_hash(addr_words(&addr)))
            .collect();
        self.addr_filter.rebuild(hashes)
    }

    /// Whether the address filter has the bit of `addr` set.
    pub fn addr_filter_contains(&self, addr: IpAddr) -> Result<bool, MapsError> {
        self.addr_filter.contains(hash_of(addr))
    }

    /// Every rule in the kernel, expired ones included (the kernel ignores those).
    pub fn list(&self) -> Result<Vec<Rule>, MapsError> {
        let mut out = Vec::new();
        let read = |name| move |source| MapsError::Read { name, source };
        for item in &self.never_block {
            let (k, id) = item.map_err(read(NEVER_BLOCK_MAP))?;
            out.push(list_value(Target::NeverBlock { net: net_of(&k) }, id));
        }
        for item in &self.quarantine_allow {
            let (k, id) = item.map_err(read(QUARANTINE_ALLOW_MAP))?;
            out.push(list_value(Target::QuarantineAllow { net: net_of(&k) }, id));
        }
        for (k, v) in self.quarantine_ip.entries() {
            out.push(Rule {
                target: Target::QuarantineIp {
                    addr: unmapped(k),
                    scope: v.scope,
                },
                value: v,
            });
        }
        for item in &self.quarantine_mac {
            let (k, v) = item.map_err(read(QUARANTINE_MAC_MAP))?;
            out.push(Rule {
                target: Target::QuarantineMac {
                    mac: k.mac,
                    scope: v.scope,
                },
                value: v,
            });
        }
        for item in &self.block_flow {
            let (k, v) = item.map_err(read(BLOCK_FLOW_MAP))?;
            let a = Endpoint {
                addr: unmapped(k.addr_lo),
                port: k.port_lo,
                proto: k.proto,
            };
            let b = Endpoint {
                addr: unmapped(k.addr_hi),
                port: k.port_hi,
                proto: k.proto,
            };
            out.push(Rule {
                target: Target::BlockFlow { a, b },
                value: v,
            });
        }
        for (k, v) in self.block_ip.entries() {
            out.push(Rule {
                target: Target::BlockIp {
                    addr: unmapped(k),
                    scope: v.scope,
                },
                value: v,
            });
        }
        for item in &self.block_endpoint {
            let (k, v) = item.map_err(read(BLOCK_ENDPOINT_MAP))?;
            out.push(Rule {
                target: Target::BlockEndpoint {
                    endpoint: endpoint_of(&k),
                    scope: v.scope,
                },
                value: v,
            });
        }
        for item in &self.block_cidr {
            let (k, v) = item.map_err(read(BLOCK_CIDR_MAP))?;
            out.push(Rule {
                target: Target::BlockCidr {
                    net: net_of(&k),
                    scope: v.scope,
                },
                value: v,
            });
        }
        for item in &self.suspend {
            let (k, v) = item.map_err(read(SUSPEND_MAP))?;
            out.push(Rule {
                target: Target::Suspend {
                    endpoint: endpoint_of(&k),
                },
                value: v,
            });
        }
        Ok(out)
    }

    /// Recomputes which rule classes hold entries, writes the bits to `CONFIG`, and bumps
    /// the rules generation so cached flows are checked against the rules again.
    pub fn refresh_active(&mut self) -> Result<u32, MapsError> {
        let bits = CLASSES
            .into_iter()
            .filter(|&bit| self.has_entries(bit))
            .fold(0, |bits, bit| bits | bit);
        self.write_active(|_| bits)?;
        Ok(bits)
    }

    /// Whether the class of `bit` holds a rule. An empty hash map is walked bucket by
    /// bucket to say so: a cost to pay for the one class a removal touched, not for all.
    fn has_entries(&self, bit: u32) -> bool {
        match bit {
            active::NEVER_BLOCK => self.never_block.keys().next().is_some(),
            active::QUARANTINE_IP => !self.quarantine_ip.is_empty(),
            active::QUARANTINE_MAC => self.quarantine_mac.keys().next().is_some(),
            active::BLOCK_FLOW => self.block_flow.keys().next().is_some(),
            active::BLOCK_IP => !self.block_ip.is_empty(),
            active::BLOCK_ENDPOINT => self.block_endpoint.keys().next().is_some(),
            active::BLOCK_CIDR => self.block_cidr.keys().next().is_some(),
            active::SUSPEND => self.suspend.keys().next().is_some(),
            _ => false,
        }
    }

    /// Writes `CONFIG`'s active bits as `update` makes them and bumps the rules generation
    /// (flows that passed the old rules must meet the new ones).
    fn write_active(&mut self, update: impl FnOnce(u32) -> u32) -> Result<(), MapsError> {
        let mut config = self.config.get()?;
        config.active_rules = update(config.active_rules);
        config.rules_generation = config.rules_generation.wrapping_add(1);
        self.config.set(&config)
    }

    /// Live (unexpired) drop rules at monotonic time `now_ns`; the never-block and allow
    /// lists do not count.
    pub fn live_count(&self, now_ns: u64) -> Result<usize, MapsError> {
        Ok(self
            .list()?
            .iter()
            .filter(|r| r.value.kind != 0)
            .filter(|r| r.value.expires_ns == 0 || r.value.expires_ns > now_ns)
            .count())
    }
}

/// A map removal's outcome as whether the entry existed.
fn gone(result: Result<(), MapError>) -> Result<bool, MapError> {
    match result {
        Ok(()) => Ok(true),
        Err(MapError::KeyNotFound) => Ok(false),
        Err(source) => Err(source),
    }
}

/// Writes an IP rule into its table.
fn place(
    table: &mut AddrTable,
    target: &Target,
    addr: IpAddr,
    value: RuleValue,
) -> Result<(), RuleError> {
    table
        .insert(&mapped(addr), value)
        .map_err(|source| RuleError::Place {
            target: target.to_string(),
            map: table.name(),
            source,
        })
}

/// Who holds an IP rule's cell.
fn table_owner(table: &AddrTable, addr: IpAddr) -> Owner {
    table
        .get(&mapped(addr))
        .map_or(Owner::Free, |v| Owner::Action(v.action_id))
}

/// The hash an IP rule's address is filed under.
fn hash_of(addr: IpAddr) -> u32 {
    addr_hash(addr_words(&mapped(addr)))
}

fn list_value(target: Target, action_id: u64) -> Rule {
    Rule {
        target,
        value: RuleValue {
            action_id,
            ..RuleValue::default()
        },
    }
}

/// An address as the maps store it: IPv4-mapped for IPv4.
pub fn mapped(addr: IpAddr) -> [u8; 16] {
    match addr {
        IpAddr::V4(a) => a.to_ipv6_mapped().octets(),
        IpAddr::V6(a) => a.octets(),
    }
}

pub(super) fn unmapped(bytes: [u8; 16]) -> IpAddr {
    let v6 = Ipv6Addr::from(bytes);
    v6.to_ipv4_mapped().map_or(IpAddr::V6(v6), IpAddr::V4)
}

fn lpm_key(net: &IpNet) -> Key<[u8; 16]> {
    let prefix = match net {
        IpNet::V4(n) => u32::from(n.prefix_len()) + 96,
        IpNet::V6(n) => u32::from(n.prefix_len()),
    };
    Key::new(prefix, mapped(net.network()))
}

fn net_of(key: &Key<[u8; 16]>) -> IpNet {
    let addr = unmapped(key.data());
    let prefix = match addr {
        IpAddr::V4(_) => key.prefix_len().saturating_sub(96),
        IpAddr::V6(_) => key.prefix_len(),
    };
    IpNet::new(addr, prefix as u8).unwrap_or_else(|_| IpNet::from(addr))
}

fn mac_key(mac: [u8; 6]) -> MacKey {
    MacKey { mac, _pad: [0; 2] }
}

fn endpoint_key(e: &Endpoint) -> EndpointKey {
    EndpointKey {
        addr: mapped(e.addr),
        port: e.port,
        proto: e.proto,
        _pad: 0,
    }
}

fn endpoint_of(k: &EndpointKey) -> Endpoint {
    Endpoint {
        addr: unmapped(k.addr),
        port: k.port,
        proto: k.proto,
    }
}

pub(super) fn flow_key(a: &Endpoint, b: &Endpoint) -> FlowKey {
    FlowKey::canonical(
        mapped(a.addr),
        a.port,
        mapped(b.addr),
        b.port,
        a.proto,
        [0; 2],
    )
    .0
}

#[cfg(test)]
mod tests {
    use super::{lpm_key, net_of};

    #[test]
    fn ipv4_cidr_round_trips_through_the_mapped_key() {
        let net: ipnet::IpNet = "198.51.100.0/24".parse().unwrap();
        let key = lpm_key(&net);
        assert_eq!(key.prefix_len(), 120);
        assert_eq!(net_of(&key), net);
    }

    #[test]
    fn ipv6_cidr_keeps_its_prefix() {
        let net: ipnet::IpNet = "2001:db8::/32".parse().unwrap();
        assert_eq!(lpm_key(&net).prefix_len(), 32);
        assert_eq!(net_of(&lpm_key(&net)), net);
    }
}
