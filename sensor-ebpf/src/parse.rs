//! Bounds-checked header walk.
//!
//! Contract: every read goes through [`Cursor`], which checks `pos + size_of::<T>() <=
//! data_end` before handing out a pointer (the pattern of xdp-tools' `hdr_cursor` and
//! katran's `pckt_parsing.h`). Loops have fixed bounds. A packet that cannot be parsed
//! yields the [`Counter`] that names why, and is passed by the caller.
//!
//! Walked: Ethernet, up to [`VLAN_MAX_DEPTH`] 802.1Q / 802.1ad tags, IPv4 (options skipped by
//! IHL, non-first fragments accounted without ports), IPv6 (a first extension header ends the
//! walk and the packet is accounted without ports), TCP, UDP, ICMP and `ICMPv6`.

use core::mem::size_of;

use aya_ebpf::programs::XdpContext;
use network_types::{
    eth::EthHdr,
    ip::{Ipv4Hdr, Ipv6Hdr},
    tcp::TcpHdr,
    udp::UdpHdr,
    vlan::VlanHdr,
};
use sensor_common::Counter;

use crate::maps;

/// VLAN tags followed: one 802.1Q tag, or an 802.1ad outer and 802.1Q inner (`QinQ`).
pub const VLAN_MAX_DEPTH: usize = 2;

const ETH_P_IPV4: u16 = 0x0800;
const ETH_P_IPV6: u16 = 0x86DD;
const ETH_P_8021Q: u16 = 0x8100;
const ETH_P_8021AD: u16 = 0x88A8;

/// IP protocol numbers the parser knows.
pub mod proto {
    /// ICMP.
    pub const ICMP: u8 = 1;
    /// TCP.
    pub const TCP: u8 = 6;
    /// UDP.
    pub const UDP: u8 = 17;
    /// `ICMPv6`.
    pub const ICMPV6: u8 = 58;
}

/// IPv6 next-header values that are extension headers, not upper-layer protocols.
const IPV6_EXTENSION_HEADERS: [u8; 7] = [0, 43, 44, 50, 51, 60, 135];

/// A position in the packet, never past `end`.
pub struct Cursor {
    pos: usize,
    end: usize,
}

impl Cursor {
    #[inline(always)]
    pub fn new(ctx: &XdpContext) -> Self {
        Self {
            pos: ctx.data(),
            end: ctx.data_end(),
        }
    }

    /// Returns a pointer to a `T` at the cursor and moves past it, or `None` if the packet
    /// ends first.
    #[inline(always)]
    pub fn read<T>(&mut self) -> Option<*const T> {
        let start = self.pos;
        if start + size_of::<T>() > self.end {
            return None;
        }
        self.pos = start + size_of::<T>();
        Some(start as *const T)
    }

    /// Moves the cursor to `len` bytes past `start`, or returns `None` if that is past the end.
    #[inline(always)]
    fn seek(&mut self, start: usize, len: usize) -> Option<()> {
        if start + len > self.end {
            return None;
        }
        self.pos = start + len;
        Some(())
    }
}

/// What the flow table needs to know of a packet.
pub struct Packet {
    /// Source address, IPv4-mapped for IPv4, network byte order.
    pub src: [u8; 16],
    /// Destination address, as `src`.
    pub dst: [u8; 16],
    /// Source port (host byte order), 0 where there is none.
    pub src_port: u16,
    /// Destination port (host byte order), 0 where there is none.
    pub dst_port: u16,
    /// VLAN ids, outer then inner.
    pub vlan: [u16; 2],
    /// IP protocol number.
    pub proto: u8,
    /// TCP flags byte, 0 for other protocols.
    pub tcp_flags: u8,
}

/// Walks the headers of the packet under `cursor`.
#[inline(always)]
pub fn packet(cursor: &mut Cursor) -> Result<Packet, Counter> {
    let eth = cursor.read::<EthHdr>().ok_or(Counter::TruncatedEthernet)?;
    // SAFETY: `read` checked that the header lies within the packet.
    let mut ether_type = u16::from_be(unsafe { (*eth).ether_type });
    let mut vlan = [0u16; VLAN_MAX_DEPTH];
    let mut tagged = false;
    for slot in &mut vlan {
        if ether_type != ETH_P_8021Q && ether_type != ETH_P_8021AD {
            break;
        }
        let tag = cursor.read::<VlanHdr>().ok_or(Counter::TruncatedVlan)?;
        // SAFETY: as above.
        let (tci, next) = unsafe { ((*tag).tci, (*tag).ether_type) };
        *slot = u16::from_be_bytes(tci) & 0x0fff;
        ether_type = u16::from_be(next);
        tagged = true;
    }
    if tagged {
        maps::count(Counter::Vlan, 1);
    }
    if ether_type == ETH_P_8021Q || ether_type == ETH_P_8021AD {
        return Err(Counter::VlanTooDeep);
    }

    let mut packet = Packet {
        src: [0; 16],
        dst: [0; 16],
        src_port: 0,
        dst_port: 0,
        vlan,
        proto: 0,
        tcp_flags: 0,
    };
    let has_ports = match ether_type {
        ETH_P_IPV4 => ipv4(cursor, &mut packet)?,
        ETH_P_IPV6 => ipv6(cursor, &mut packet)?,
        _ => return Err(Counter::NonIp),
    };
    if has_ports {
        transport(cursor, &mut packet)?;
    } else {
        maps::count(Counter::OtherProtocol, 1);
    }
    Ok(packet)
}

/// Parses an IPv4 header and its options; returns whether a transport header follows.
#[inline(always)]
fn ipv4(cursor: &mut Cursor, packet: &mut Packet) -> Result<bool, Counter> {
    let start = cursor.pos;
    let ip = cursor.read::<Ipv4Hdr>().ok_or(Counter::TruncatedIpv4)?;
    // SAFETY: `read` checked that the fixed header lies within the packet.
    let (vihl, frags, proto, src, dst) = unsafe {
        (
            (*ip).vihl,
            (*ip).frags,
            (*ip).proto,
            (*ip).src_addr,
            (*ip).dst_addr,
        )
    };
    let ihl = usize::from(vihl & 0x0f);
    if vihl >> 4 != 4 || ihl < 5 {
        return Err(Counter::BadIpv4Header);
    }
    cursor.seek(start, ihl * 4).ok_or(Counter::TruncatedIpv4)?;
    maps::count(Counter::Ipv4, 1);
    packet.src[10] = 0xff;
    packet.src[11] = 0xff;
    packet.src[12..].copy_from_slice(&src);
    packet.dst[10] = 0xff;
    packet.dst[11] = 0xff;
    packet.dst[12..].copy_from_slice(&dst);
    packet.proto = proto;
    let fragment_offset = u16::from_be_bytes(frags) & 0x1fff;
    if fragment_offset != 0 {
        // The ports are in the first fragment only; what follows here is payload.
        maps::count(Counter::Ipv4Fragment, 1);
        return Ok(false);
    }
    Ok(is_transport(proto))
}

/// Parses an IPv6 header; returns whether a transport header follows directly.
#[inline(always)]
fn ipv6(cursor: &mut Cursor, packet: &mut Packet) -> Result<bool, Counter> {
    let ip = cursor.read::<Ipv6Hdr>().ok_or(Counter::TruncatedIpv6)?;
    // SAFETY: `read` checked that the header lies within the packet.
    let (next, src, dst) = unsafe { ((*ip).next_hdr, (*ip).src_addr, (*ip).dst_addr) };
    maps::count(Counter::Ipv6, 1);
    packet.src = src;
    packet.dst = dst;
    packet.proto = next;
    if IPV6_EXTENSION_HEADERS.contains(&next) {
        maps::count(Counter::Ipv6ExtensionHeader, 1);
        return Ok(false);
    }
    Ok(is_transport(next))
}

#[inline(always)]
fn is_transport(proto: u8) -> bool {
    matches!(proto, proto::TCP | proto::UDP | proto::ICMP | proto::ICMPV6)
}

/// Reads the ports (and TCP flags) of a TCP, UDP or ICMP header.
#[inline(always)]
fn transport(cursor: &mut Cursor, packet: &mut Packet) -> Result<(), Counter> {
    match packet.proto {
        proto::TCP => {
            let tcp = cursor.read::<TcpHdr>().ok_or(Counter::TruncatedL4)?;
            // SAFETY: `read` checked all 20 bytes of the fixed header; the flags are byte 13.
            let (source, dest, flags) =
                unsafe { ((*tcp).source, (*tcp).dest, *tcp.cast::<u8>().add(13)) };
            packet.src_port = u16::from_be_bytes(source);
            packet.dst_port = u16::from_be_bytes(dest);
            packet.tcp_flags = flags;
            maps::count(Counter::Tcp, 1);
        }
        proto::UDP => {
            let udp = cursor.read::<UdpHdr>().ok_or(Counter::TruncatedL4)?;
            // SAFETY: `read` checked the header.
            let (src, dst) = unsafe { ((*udp).src, (*udp).dst) };
            packet.src_port = u16::from_be_bytes(src);
            packet.dst_port = u16::from_be_bytes(dst);
            maps::count(Counter::Udp, 1);
        }
        _ => {
            // ICMP and ICMPv6 share type, code and checksum; no ports.
            cursor.read::<[u8; 4]>().ok_or(Counter::TruncatedL4)?;
            maps::count(Counter::Icmp, 1);
        }
    }
    Ok(())
}
