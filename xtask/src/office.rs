//! The lab network of `shared/edr-fixtures` in network namespaces, for the demo: three
//! workstations, a file server and an intranet web server on one switch (a bridge in the
//! gateway's namespace), and the internet behind the gateway.
//!
//! ```text
//!  ws-01 10.77.1.11 ─┐
//!  ws-02 10.77.1.12 ─┤
//!  ws-03 10.77.1.13 ─┼─ [bridge 10.77.1.1] gateway [198.51.100.1] ── internet
//!  fs-01 10.77.1.20 ─┤                                         198.51.100.10  www
//! web-01 10.77.1.30 ─┘                                         198.51.100.53  dns
//!                                                              198.51.100.77  file drop
//!                                                              203.0.113.66   C2
//! ```
//!
//! The sensor watches every bridge port and the outside link. XDP sees what enters an
//! interface, so each packet is seen once: a workstation's packet to the file server when
//! it enters the bridge from the workstation, the answer when it enters from the server.
//! Hosts carry the fixtures' addresses and MACs, so the EDR alerts join to them. IPv6 is
//! off; neighbours are learnt with ARP, as on a real network.

use anyhow::Context as _;

use crate::netns::{self, BpfMount, Netns, VethEnd};

/// A host of the inside network.
#[derive(Clone, Copy, Debug)]
pub struct Host {
    /// Its name (the EDR's host name without the domain).
    pub name: &'static str,
    /// Its address.
    pub ip: &'static str,
    /// Its MAC.
    pub mac: &'static str,
}

/// The inside hosts: the fixtures' four and the intranet web server.
pub const HOSTS: [Host; 5] = [
    Host {
        name: "ws-01",
        ip: "10.77.1.11",
        mac: "02:00:0a:4d:01:0b",
    },
    Host {
        name: "ws-02",
        ip: "10.77.1.12",
        mac: "02:00:0a:4d:01:0c",
    },
    Host {
        name: "ws-03",
        ip: "10.77.1.13",
        mac: "02:00:0a:4d:01:0d",
    },
    Host {
        name: "fs-01",
        ip: "10.77.1.20",
        mac: "02:00:0a:4d:01:14",
    },
    Host {
        name: "web-01",
        ip: "10.77.1.30",
        mac: "02:00:0a:4d:01:1e",
    },
];

/// The inside network.
pub const INSIDE: &str = "10.77.1.0/24";
/// The gateway's inside address.
pub const GATEWAY_INSIDE_IP: &str = "10.77.1.1";
/// The gateway's outside address.
pub const GATEWAY_OUTSIDE_IP: &str = "198.51.100.1";
/// A web site on the internet (`www.example.com`).
pub const WWW_IP: &str = "198.51.100.10";
/// The resolver the hosts ask.
pub const DNS_IP: &str = "198.51.100.53";
/// A file-sharing site nobody on the network uses.
pub const DROP_IP: &str = "198.51.100.77";
/// The command-and-control server the fixtures name.
pub const C2_IP: &str = "203.0.113.66";

const OUTSIDE_MAC: &str = "02:51:64:00:00:01";
const INTERNET_MAC: &str = "02:51:64:00:00:0a";

/// The namespaces, links and the bpffs of the lab.
#[derive(Debug)]
pub struct Office {
    /// Name prefix of everything this lab made.
    pub prefix: String,
    /// The gateway, where the sensor runs.
    pub gateway: Netns,
    /// The internet: web, DNS, the file drop and the C2 server.
    pub internet: Netns,
    /// Each inside host and its namespace, in [`HOSTS`] order.
    pub hosts: Vec<(Host, Netns)>,
    /// The gateway's bridge ports, in [`HOSTS`] order.
    pub ports: Vec<String>,
    /// The gateway's outside interface.
    pub outside_if: String,
    /// A bpffs of the lab's own for the agent's pins.
    pub bpffs: BpfMount,
}

impl Office {
    /// Builds the lab.
    pub fn build() -> anyhow::Result<Self> {
        let prefix = netns::unique_prefix();
        let gateway = Netns::create(&format!("{prefix}gw"))?;
        let internet = Netns::create(&format!("{prefix}in"))?;
        let mut hosts = Vec::new();
        for (i, host) in HOSTS.iter().enumerate() {
            hosts.push((*host, Netns::create(&format!("{prefix}h{i}"))?));
        }
        let office = Self {
            ports: (0..HOSTS.len()).map(|i| format!("{prefix}p{i}")).collect(),
            outside_if: format!("{prefix}go"),
            bpffs: BpfMount::new(&prefix)?,
            prefix,
            gateway,
            internet,
            hosts,
        };
        office.wire().context("failed to wire the lab network")?;
        Ok(office)
    }

    fn wire(&self) -> anyhow::Result<()> {
        let bridge = format!("{}br", self.prefix);
        let gw = &self.gateway;
        gw.ip(&["link", "add", &bridge, "type", "bridge"])?;
        gw.ip(&[
            "addr",
            "add",
            &format!("{GATEWAY_INSIDE_IP}/24"),
            "dev",
            &bridge,
        ])?;
        gw.ip(&["link", "set", &bridge, "up"])?;
        for (i, ((host, ns), port)) in self.hosts.iter().zip(&self.ports).enumerate() {
            netns::veth(
                VethEnd {
                    ns,
                    name: &format!("{}e{i}", self.prefix),
                    mac: host.mac,
                    addr: Some(&format!("{}/24", host.ip)),
                },
                VethEnd {
                    ns: gw,
                    name: port,
                    mac: &format!("02:77:01:00:01:{i:02x}"),
                    addr: None,
                },
            )?;
            gw.ip(&["link", "set", port, "master", &bridge])?;
            ns.ip(&["route", "add", "default", "via", GATEWAY_INSIDE_IP])?;
        }
        let internet_if = format!("{}i0", self.prefix);
        netns::veth(
            VethEnd {
                ns: gw,
                name: &self.outside_if,
                mac: OUTSIDE_MAC,
                addr: Some(&format!("{GATEWAY_OUTSIDE_IP}/24")),
            },
            VethEnd {
                ns: &self.internet,
                name: &internet_if,
                mac: INTERNET_MAC,
                addr: Some(&format!("{WWW_IP}/24")),
            },
        )?;
        for addr in [DNS_IP, DROP_IP] {
            self.internet
                .ip(&["addr", "add", &format!("{addr}/32"), "dev", &internet_if])?;
        }
        self.internet
            .ip(&["addr", "add", &format!("{C2_IP}/24"), "dev", &internet_if])?;
        self.internet
            .ip(&["route", "add", INSIDE, "via", GATEWAY_OUTSIDE_IP])?;
        gw.ip(&["route", "add", "203.0.113.0/24", "via", WWW_IP])?;
        gw.sysctl("net.ipv4.ip_forward", "1")?;
        Ok(())
    }

    /// The namespace of the host called `name`.
    ///
    /// # Panics
    /// If there is no such host (a typo in the demo).
    #[expect(clippy::expect_used, reason = "the names are the demo's constants")]
    pub fn host(&self, name: &str) -> &Netns {
        &self
            .hosts
            .iter()
            .find(|(h, _)| h.name == name)
            .expect("a host of the lab")
            .1
    }

    /// Every interface the sensor watches: the bridge ports and the outside link.
    pub fn watched(&self) -> Vec<&str> {
        let mut all: Vec<&str> = self.ports.iter().map(String::as_str).collect();
        all.push(&self.outside_if);
        all
    }

    /// Where the agent pins its maps in this lab.
    pub fn pin_dir(&self) -> std::path::PathBuf {
        self.bpffs.path().join("sensor")
    }
}
