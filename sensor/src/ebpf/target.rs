//! What a response rule applies to, in the agent's terms: an address, a network, an
//! endpoint, a flow, a device. `rules` turns these into the kernel's map keys.

use std::{fmt, net::IpAddr};

use ipnet::IpNet;
use sensor_common::rule::scope;

use super::rules::{flow_key, unmapped};

/// An endpoint: address, port, protocol.
#[derive(
    Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize, serde::Deserialize,
)]
pub struct Endpoint {
    /// Address.
    pub addr: IpAddr,
    /// Port (0 for ICMP).
    pub port: u16,
    /// IP protocol number.
    pub proto: u8,
}

/// What a rule applies to.
#[derive(Clone, Debug, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Target {
    /// Addresses no rule may drop.
    NeverBlock {
        /// The network.
        net: IpNet,
    },
    /// Peers quarantined devices may still reach.
    QuarantineAllow {
        /// The network.
        net: IpNet,
    },
    /// A device by IP; `scope` is [`scope::SRC`] for outgoing, [`scope::DST`] for incoming.
    QuarantineIp {
        /// The device's address.
        addr: IpAddr,
        /// Directions.
        scope: u8,
    },
    /// A device by MAC.
    QuarantineMac {
        /// The device's MAC.
        mac: [u8; 6],
        /// Directions.
        scope: u8,
    },
    /// One flow (both directions, any VLAN).
    BlockFlow {
        /// One side.
        a: Endpoint,
        /// The other side.
        b: Endpoint,
    },
    /// An address as source, destination or both.
    BlockIp {
        /// The address.
        addr: IpAddr,
        /// Sides.
        scope: u8,
    },
    /// An endpoint as source, destination or both.
    BlockEndpoint {
        /// The endpoint.
        endpoint: Endpoint,
        /// Sides.
        scope: u8,
    },
    /// A network as source, destination or both.
    BlockCidr {
        /// The network.
        net: IpNet,
        /// Sides.
        scope: u8,
    },
    /// New connections to an endpoint.
    Suspend {
        /// The endpoint.
        endpoint: Endpoint,
    },
}

impl fmt::Display for Target {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let sides = |s: u8| match s {
            scope::SRC => " (as source)",
            scope::DST => " (as destination)",
            _ => "",
        };
        match self {
            Self::NeverBlock { net } => write!(f, "never block {net}"),
            Self::QuarantineAllow { net } => write!(f, "quarantine allow {net}"),
            Self::QuarantineIp { addr, scope } => write!(f, "quarantine {addr}{}", dirs(*scope)),
            Self::QuarantineMac { mac, scope } => {
                write!(f, "quarantine {}{}", mac_string(mac), dirs(*scope))
            }
            Self::BlockFlow { a, b } => write!(f, "block flow {} <-> {}", endpoint(a), endpoint(b)),
            Self::BlockIp { addr, scope } => write!(f, "block {addr}{}", sides(*scope)),
            Self::BlockEndpoint { endpoint: e, scope } => {
                write!(f, "block {}{}", endpoint(e), sides(*scope))
            }
            Self::BlockCidr { net, scope } => write!(f, "block {net}{}", sides(*scope)),
            Self::Suspend { endpoint: e } => {
                write!(f, "suspend new connections to {}", endpoint(e))
            }
        }
    }
}

fn dirs(s: u8) -> &'static str {
    match s {
        scope::SRC => " (outgoing)",
        scope::DST => " (incoming)",
        _ => " (both ways)",
    }
}

fn endpoint(e: &Endpoint) -> String {
    let proto = crate::capture::live_flow::proto_name(e.proto);
    match e.addr {
        IpAddr::V6(a) => format!("[{a}]:{}/{proto}", e.port),
        IpAddr::V4(a) => format!("{a}:{}/{proto}", e.port),
    }
}

impl Target {
    /// The form the kernel lists this target in (networks truncated to their prefix, a
    /// flow's ends in key order), so a written rule and a listed one compare equal.
    #[must_use]
    pub fn canonical(&self) -> Self {
        match self {
            Self::NeverBlock { net } => Self::NeverBlock { net: net.trunc() },
            Self::QuarantineAllow { net } => Self::QuarantineAllow { net: net.trunc() },
            Self::BlockCidr { net, scope } => Self::BlockCidr {
                net: net.trunc(),
                scope: *scope,
            },
            Self::BlockFlow { a, b } => {
                let k = flow_key(a, b);
                let end = |addr, port| Endpoint {
                    addr: unmapped(addr),
                    port,
                    proto: k.proto,
                };
                Self::BlockFlow {
                    a: end(k.addr_lo, k.port_lo),
                    b: end(k.addr_hi, k.port_hi),
                }
            }
            other => other.clone(),
        }
    }

    /// The map slot this target writes: two targets with the same slot overwrite each
    /// other whatever their scopes.
    #[must_use]
    pub fn slot(&self) -> Self {
        match self.canonical() {
            Self::QuarantineIp { addr, .. } => Self::QuarantineIp { addr, scope: 0 },
            Self::QuarantineMac { mac, .. } => Self::QuarantineMac { mac, scope: 0 },
            Self::BlockIp { addr, .. } => Self::BlockIp { addr, scope: 0 },
            Self::BlockEndpoint { endpoint, .. } => Self::BlockEndpoint { endpoint, scope: 0 },
            Self::BlockCidr { net, .. } => Self::BlockCidr { net, scope: 0 },
            other => other,
        }
    }

    /// Whether this is one of the configured lists (never block, quarantine allow), which
    /// the agent's settings own rather than an action.
    pub fn is_config_list(&self) -> bool {
        matches!(self, Self::NeverBlock { .. } | Self::QuarantineAllow { .. })
    }

    /// The addresses this target names (for `sensor clear ADDRESS`).
    pub fn addresses(&self) -> Vec<IpAddr> {
        match self {
            Self::QuarantineIp { addr, .. } | Self::BlockIp { addr, .. } => vec![*addr],
            Self::BlockEndpoint { endpoint, .. } | Self::Suspend { endpoint } => {
                vec![endpoint.addr]
            }
            Self::BlockFlow { a, b } => vec![a.addr, b.addr],
            Self::NeverBlock { net }
            | Self::QuarantineAllow { net }
            | Self::BlockCidr { net, .. } => {
                vec![net.addr()]
            }
            Self::QuarantineMac { .. } => Vec::new(),
        }
    }
}

/// `aa:bb:cc:dd:ee:ff`.
pub fn mac_string(mac: &[u8; 6]) -> String {
    mac.iter()
        .map(|b| format!("{b:02x}"))
        .collect::<Vec<_>>()
        .join(":")
}
