//! The lab network: a client and a server on either side of a gateway, each in its own
//! namespace, with the sensor watching the gateway's two interfaces.
//!
//! ```text
//!  client 10.77.1.12 ── c0 ═══ gi ── gateway ── go ═══ s0 ── server 198.51.100.10
//!                              10.77.1.1     198.51.100.1
//! ```
//!
//! XDP sees packets as they enter an interface, so watching `gi` and `go` sees each packet
//! of a client–server conversation exactly once. IPv6 is off and neighbours are static, so
//! nothing crosses the links that the caller did not send.

use anyhow::Context as _;

use crate::netns::{self, BpfMount, Netns, VethEnd};

/// The client's address.
pub const CLIENT_IP: &str = "10.77.1.12";
/// The gateway's inside address.
pub const GATEWAY_INSIDE_IP: &str = "10.77.1.1";
/// The gateway's outside address.
pub const GATEWAY_OUTSIDE_IP: &str = "198.51.100.1";
/// The server's address.
pub const SERVER_IP: &str = "198.51.100.10";

const CLIENT_MAC: &str = "02:77:01:00:00:0c";
const INSIDE_MAC: &str = "02:77:01:00:00:01";
const OUTSIDE_MAC: &str = "02:51:64:00:00:01";
const SERVER_MAC: &str = "02:51:64:00:00:0a";

/// The three namespaces and their links.
#[derive(Debug)]
pub struct Lab {
    /// Name prefix of everything this lab made.
    pub prefix: String,
    /// The client's namespace.
    pub client: Netns,
    /// The gateway's namespace, where the sensor runs.
    pub gateway: Netns,
    /// The server's namespace.
    pub server: Netns,
    /// Client interface.
    pub client_if: String,
    /// Gateway inside interface.
    pub inside_if: String,
    /// Gateway outside interface.
    pub outside_if: String,
    /// Server interface.
    pub server_if: String,
    /// A bpffs of the lab's own for the agent's pins.
    pub bpffs: BpfMount,
}

impl Lab {
    /// Builds the lab.
    pub fn build() -> anyhow::Result<Self> {
        let prefix = netns::unique_prefix();
        let client = Netns::create(&format!("{prefix}cl"))?;
        let gateway = Netns::create(&format!("{prefix}gw"))?;
        let server = Netns::create(&format!("{prefix}sv"))?;
        let bpffs = BpfMount::new(&prefix)?;
        let lab = Self {
            client_if: format!("{prefix}c0"),
            inside_if: format!("{prefix}gi"),
            outside_if: format!("{prefix}go"),
            server_if: format!("{prefix}s0"),
            prefix,
            client,
            gateway,
            server,
            bpffs,
        };
        lab.wire().context("failed to wire the lab network")?;
        Ok(lab)
    }

    fn wire(&self) -> anyhow::Result<()> {
        netns::veth(
            VethEnd {
                ns: &self.client,
                name: &self.client_if,
                mac: CLIENT_MAC,
                addr: Some(&format!("{CLIENT_IP}/24")),
            },
            VethEnd {
                ns: &self.gateway,
                name: &self.inside_if,
                mac: INSIDE_MAC,
                addr: Some(&format!("{GATEWAY_INSIDE_IP}/24")),
            },
        )?;
        netns::veth(
            VethEnd {
                ns: &self.gateway,
                name: &self.outside_if,
                mac: OUTSIDE_MAC,
                addr: Some(&format!("{GATEWAY_OUTSIDE_IP}/24")),
            },
            VethEnd {
                ns: &self.server,
                name: &self.server_if,
                mac: SERVER_MAC,
                addr: Some(&format!("{SERVER_IP}/24")),
            },
        )?;
        self.gateway.sysctl("net.ipv4.ip_forward", "1")?;
        self.client
            .ip(&["route", "add", "default", "via", GATEWAY_INSIDE_IP])?;
        self.server
            .ip(&["route", "add", "default", "via", GATEWAY_OUTSIDE_IP])?;
        let neigh = |ns: &Netns, ip: &str, mac: &str, dev: &str| {
            ns.ip(&[
                "neigh",
                "replace",
                ip,
                "lladdr",
                mac,
                "dev",
                dev,
                "nud",
                "permanent",
            ])
        };
        neigh(&self.client, GATEWAY_INSIDE_IP, INSIDE_MAC, &self.client_if)?;
        neigh(&self.gateway, CLIENT_IP, CLIENT_MAC, &self.inside_if)?;
        neigh(&self.gateway, SERVER_IP, SERVER_MAC, &self.outside_if)?;
        neigh(
            &self.server,
            GATEWAY_OUTSIDE_IP,
            OUTSIDE_MAC,
            &self.server_if,
        )?;
        Ok(())
    }

    /// A real nmap connect scan from the client of the server's `ports` (`8000-8099`),
    /// one try per port: what the demo and the detection tests call a port scan.
    pub fn port_scan(&self, ports: &str) -> anyhow::Result<()> {
        let out = self
            .client
            .command("nmap")
            .args([
                "-sT",
                "-Pn",
                "-n",
                "-p",
                ports,
                "--max-retries",
                "0",
                SERVER_IP,
            ])
            .output()
            .context("failed to run nmap")?;
        if !out.status.success() {
            anyhow::bail!(
                "nmap failed: {}",
                String::from_utf8_lossy(&out.stderr).trim()
            );
        }
        Ok(())
    }

    /// The gateway's interfaces, for `sensor run --iface`.
    pub fn gateway_ifaces(&self) -> [&str; 2] {
        [&self.inside_if, &self.outside_if]
    }

    /// Where the agent pins its maps in this lab.
    pub fn pin_dir(&self) -> std::path::PathBuf {
        self.bpffs.path().join("sensor")
    }

    /// A snapshot of the counters of every lab interface.
    pub fn link_counters(&self) -> anyhow::Result<LinkCounters> {
        let read = |ns: &Netns, iface: &str| -> anyhow::Result<IfaceCounters> {
            Ok(IfaceCounters {
                rx_packets: ns.iface_counter(iface, "rx_packets")?,
                rx_bytes: ns.iface_counter(iface, "rx_bytes")?,
                tx_packets: ns.iface_counter(iface, "tx_packets")?,
                tx_bytes: ns.iface_counter(iface, "tx_bytes")?,
            })
        };
        Ok(LinkCounters {
            client: read(&self.client, &self.client_if)?,
            inside: read(&self.gateway, &self.inside_if)?,
            outside: read(&self.gateway, &self.outside_if)?,
            server: read(&self.server, &self.server_if)?,
        })
    }
}

/// One interface's counters, as the kernel keeps them (bytes exclude the Ethernet header
/// on veth).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct IfaceCounters {
    /// Packets received.
    pub rx_packets: u64,
    /// Bytes received.
    pub rx_bytes: u64,
    /// Packets sent.
    pub tx_packets: u64,
    /// Bytes sent.
    pub tx_bytes: u64,
}

impl IfaceCounters {
    /// The change from `earlier` to `self`.
    #[must_use]
    pub fn since(&self, earlier: &Self) -> Self {
        Self {
            rx_packets: self.rx_packets - earlier.rx_packets,
            rx_bytes: self.rx_bytes - earlier.rx_bytes,
            tx_packets: self.tx_packets - earlier.tx_packets,
            tx_bytes: self.tx_bytes - earlier.tx_bytes,
        }
    }
}

/// Counters of all four lab interfaces.
#[derive(Clone, Copy, Debug, Default)]
pub struct LinkCounters {
    /// The client's interface.
    pub client: IfaceCounters,
    /// The gateway's inside interface.
    pub inside: IfaceCounters,
    /// The gateway's outside interface.
    pub outside: IfaceCounters,
    /// The server's interface.
    pub server: IfaceCounters,
}

impl LinkCounters {
    /// The change from `earlier` to `self`.
    #[must_use]
    pub fn since(&self, earlier: &Self) -> Self {
        Self {
            client: self.client.since(&earlier.client),
            inside: self.inside.since(&earlier.inside),
            outside: self.outside.since(&earlier.outside),
            server: self.server.since(&earlier.server),
        }
    }
}
