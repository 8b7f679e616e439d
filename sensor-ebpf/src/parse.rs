//! Bounds-checked header walk.
//!
//! Contract: every read goes through [`Cursor`], which checks `pos + size_of::<T>() <=
//! data_end` before handing out a pointer (the pattern of xdp-tools' `hdr_cursor` and
//! katran's `pckt_parsing.h`). Loops have fixed bounds. A packet that cannot be parsed
//! yields the [`Counter`] that names why, and is passed by the caller.
//!
//! Walked: Ethernet; up to [`VLAN_MAX_DEPTH`] 802.1Q / 802.1ad tags; ARP (for device
//! identity); IPv4 (options skipped by IHL; non-first fragments accounted without ports);
//! IPv6 and its extension-header chain up to [`IPV6_EXT_MAX_CHAIN`] headers (hop-by-hop,
//! routing, fragment, destination options, AH, mobility; non-first fragments and over-long
//! chains accounted without ports); TCP (data offset checked), UDP, ICMP and `ICMPv6`.
//! The transport payload is located by the IP length, not the frame length, so Ethernet
//! padding is never taken for payload.

use core::mem::size_of;

use aya_ebpf::programs::XdpContext;
use network_types::{
    eth::EthHdr,
    ip::{Ipv4Hdr, Ipv6Hdr},
    tcp::TcpHdr,
    udp::UdpHdr,
    vlan::VlanHdr,
};
use sensor_common::{
    Counter, Direction, FlowKey,
    flow::{icmp_ports, tcp_flags},
};

use crate::maps::Tally;

/// VLAN tags followed: one 802.1Q tag, or an 802.1ad outer and 802.1Q inner (`QinQ`).
pub const VLAN_MAX_DEPTH: usize = 2;
/// IPv6 extension headers followed before giving up on finding the ports.
pub const IPV6_EXT_MAX_CHAIN: usize = 6;

const ETH_P_IPV4: u16 = 0x0800;
const ETH_P_IPV6: u16 = 0x86DD;
const ETH_P_ARP: u16 = 0x0806;
const ETH_P_8021Q: u16 = 0x8100;
const ETH_P_8021AD: u16 = 0x88A8;

/// IP protocol numbers the parser knows.
pub mod proto {
    /// IPv6 hop-by-hop options.
    pub const HOPOPT: u8 = 0;
    /// ICMP.
    pub const ICMP: u8 = 1;
    /// TCP.
    pub const TCP: u8 = 6;
    /// UDP.
    pub const UDP: u8 = 17;
    /// IPv6 routing header.
    pub const ROUTING: u8 = 43;
    /// IPv6 fragment header.
    pub const FRAGMENT: u8 = 44;
    /// Authentication header.
    pub const AH: u8 = 51;
    /// `ICMPv6`.
    pub const ICMPV6: u8 = 58;
    /// IPv6 destination options.
    pub const DSTOPTS: u8 = 60;
    /// Mobility header.
    pub const MOBILITY: u8 = 135;
}

/// A position in the packet, never past `end`.
pub struct Cursor {
    start: usize,
    pos: usize,
    /// End of the linear part: headers are read only up to here.
    end: usize,
    /// Length of the whole frame, fragments included: payload snippets may reach this far
    /// (`bpf_xdp_load_bytes` reads across fragments). An offset, never added to a packet
    /// pointer (the verifier forbids pointer math with an unbounded scalar).
    frame_len: usize,
}

impl Cursor {
    /// A cursor at the start of a frame of `frame_len` bytes in all.
    #[inline(always)]
    pub fn new(ctx: &XdpContext, frame_len: u64) -> Self {
        Self {
            start: ctx.data(),
            pos: ctx.data(),
            end: ctx.data_end(),
            frame_len: frame_len as usize,
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

    /// The cursor's offset from the start of the packet.
    #[inline(always)]
    fn offset(&self) -> usize {
        self.pos - self.start
    }
}

/// What the rules and the flow table need to know of an IP packet.
///
/// It lives in this CPU's working memory (`cpu::Cpu`), not on the stack: the program's
/// 512 bytes of stack are spent elsewhere. Aligned so the addresses (at offsets 0 and 16)
/// can be loaded as 32-bit words.
#[repr(C, align(8))]
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
    /// IP protocol number (the upper-layer protocol after IPv6 extension headers).
    pub proto: u8,
    /// TCP flags byte, 0 for other protocols.
    pub tcp_flags: u8,
    /// Ethernet source.
    pub src_mac: [u8; 6],
    /// Ethernet destination.
    pub dst_mac: [u8; 6],
    /// Offset of the TCP or UDP payload from the start of the frame.
    pub payload_offset: u32,
    /// Length of that payload (0 for other protocols and empty segments).
    pub payload_len: u32,
}

impl Packet {
    /// The packet's flow, canonical, and the direction the packet travels in it.
    #[inline(always)]
    pub fn flow_key(&self) -> (FlowKey, Direction) {
        FlowKey::canonical(
            self.src,
            self.src_port,
            self.dst,
            self.dst_port,
            self.proto,
            self.vlan,
        )
    }

    /// A TCP SYN without ACK: the first packet of a connection.
    #[inline(always)]
    pub fn opens_tcp(&self) -> bool {
        self.proto == proto::TCP
            && self.tcp_flags & (tcp_flags::SYN | tcp_flags::ACK) == tcp_flags::SYN
    }

    /// The source address as the address filter takes it.
    #[inline(always)]
    #[expect(
        clippy::cast_ptr_alignment,
        reason = "the field sits at a 4-aligned offset of an 8-aligned struct"
    )]
    pub fn src_words(&self) -> [u32; 4] {
        // SAFETY: `src` is at offset 0 of an 8-aligned `repr(C)` struct, so it is 4-aligned
        // and 16 bytes long.
        unsafe { *(&raw const self.src).cast::<[u32; 4]>() }
    }

    /// The destination address as the address filter takes it.
    #[inline(always)]
    #[expect(
        clippy::cast_ptr_alignment,
        reason = "the field sits at a 4-aligned offset of an 8-aligned struct"
    )]
    pub fn dst_words(&self) -> [u32; 4] {
        // SAFETY: `dst` is at offset 16 of an 8-aligned `repr(C)` struct, as above.
        unsafe { *(&raw const self.dst).cast::<[u32; 4]>() }
    }
}

/// An IPv4-over-Ethernet ARP packet.
pub struct Arp {
    /// VLAN ids, outer then inner.
    pub vlan: [u16; 2],
    /// 1 request, 2 reply.
    pub op: u16,
    /// Sender MAC.
    pub sender_mac: [u8; 6],
    /// Sender IPv4 address.
    pub sender_ip: [u8; 4],
    /// Target MAC.
    pub target_mac: [u8; 6],
    /// Target IPv4 address.
    pub target_ip: [u8; 4],
}

/// A parsed frame.
pub enum Parsed {
    /// IPv4 or IPv6: the packet handed to [`packet`] holds it.
    Ip,
    /// ARP.
    Arp(Arp),
}

/// The IPv4-over-Ethernet ARP body.
#[repr(C)]
struct ArpBody {
    htype: [u8; 2],
    ptype: [u8; 2],
    hlen: u8,
    plen: u8,
    op: [u8; 2],
    sha: [u8; 6],
    spa: [u8; 4],
    tha: [u8; 6],
    tpa: [u8; 4],
}

/// An untagged IPv4 or IPv6 frame's source and destination addresses, read at their fixed
/// offsets as the four native-order words the rules look up (IPv4-mapped for IPv4), before
/// the headers are walked; `None` for any other frame (tagged, not IP, too short, or an IP
/// header whose version does not match its ethertype). Used only to decide a drop by
/// address early: the walk still judges the packet if it passes.
#[inline(always)]
#[expect(
    clippy::cast_ptr_alignment,
    reason = "packet words are loaded as the verifier models them (see `word`)"
)]
pub fn fixed_addresses(ctx: &XdpContext) -> Option<([u32; 4], [u32; 4])> {
    const ETH: usize = size_of::<EthHdr>();
    const MAPPED: u32 = u32::from_ne_bytes([0, 0, 0xff, 0xff]);
    let (start, end) = (ctx.data(), ctx.data_end());
    if start + ETH + size_of::<Ipv4Hdr>() > end {
        return None;
    }
    let p = start as *const u8;
    let word = |offset: usize| {
        // SAFETY: every offset read below lies within the bounds checked before it. The
        // load is one BPF word load (an unaligned read would be four byte loads and six
        // shifts): the verifier checks packet loads against `NET_IP_ALIGN` where an
        // architecture needs aligned loads, and every address offset here is aligned in
        // that model; x86-64 and arm64 load misaligned words natively.
        unsafe { *p.add(offset).cast::<u32>() }
    };
    // SAFETY: the Ethernet header and the first IP byte were checked to lie in the packet;
    // the type is loaded as the words are.
    let (ether_type, version) = unsafe { (u16::from_be(*p.add(12).cast::<u16>()), *p.add(ETH)) };
    match ether_type {
        // Version 4, a header of at least five words.
        ETH_P_IPV4 if version >> 4 == 4 && version & 0x0f >= 5 => Some((
            [0, 0, MAPPED, word(ETH + 12)],
            [0, 0, MAPPED, word(ETH + 16)],
        )),
        ETH_P_IPV6 if version >> 4 == 6 => {
            if start + ETH + size_of::<Ipv6Hdr>() > end {
                return None;
            }
            Some((
                [
                    word(ETH + 8),
                    word(ETH + 12),
                    word(ETH + 16),
                    word(ETH + 20),
                ],
                [
                    word(ETH + 24),
                    word(ETH + 28),
                    word(ETH + 32),
                    word(ETH + 36),
                ],
            ))
        }
        _ => None,
    }
}

/// Walks the headers of the frame under `cursor`; an IP packet is written to `packet`.
#[inline(always)]
pub fn packet(cursor: &mut Cursor, packet: &mut Packet, tally: &Tally) -> Result<Parsed, Counter> {
    let eth = cursor.read::<EthHdr>().ok_or(Counter::TruncatedEthernet)?;
    // SAFETY: `read` checked that the header lies within the packet.
    let (dst_mac, src_mac, mut ether_type) = unsafe {
        (
            (*eth).dst_addr,
            (*eth).src_addr,
            u16::from_be((*eth).ether_type),
        )
    };
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
        tally.add(Counter::Vlan, 1);
    }
    if ether_type == ETH_P_8021Q || ether_type == ETH_P_8021AD {
        return Err(Counter::VlanTooDeep);
    }

    *packet = Packet {
        src: [0; 16],
        dst: [0; 16],
        src_port: 0,
        dst_port: 0,
        vlan,
        proto: 0,
        tcp_flags: 0,
        src_mac,
        dst_mac,
        payload_offset: 0,
        payload_len: 0,
    };
    let (has_ports, ip_end) = match ether_type {
        ETH_P_IPV4 => ipv4(cursor, packet, tally)?,
        ETH_P_IPV6 => ipv6(cursor, packet, tally)?,
        ETH_P_ARP => return arp(cursor, vlan),
        _ => return Err(Counter::NonIp),
    };
    if has_ports {
        transport(cursor, packet, ip_end, tally)?;
    } else if !matches!(
        packet.proto,
        proto::TCP | proto::UDP | proto::ICMP | proto::ICMPV6
    ) {
        tally.add(Counter::OtherProtocol, 1);
    }
    Ok(Parsed::Ip)
}

#[inline(always)]
fn arp(cursor: &mut Cursor, vlan: [u16; 2]) -> Result<Parsed, Counter> {
    let body = cursor.read::<ArpBody>().ok_or(Counter::TruncatedArp)?;
    // SAFETY: `read` checked the body lies within the packet.
    let b = unsafe { &*body };
    if u16::from_be_bytes(b.htype) != 1
        || u16::from_be_bytes(b.ptype) != ETH_P_IPV4
        || b.hlen != 6
        || b.plen != 4
    {
        return Err(Counter::NonIp);
    }
    Ok(Parsed::Arp(Arp {
        vlan,
        op: u16::from_be_bytes(b.op),
        sender_mac: b.sha,
        sender_ip: b.spa,
        target_mac: b.tha,
        target_ip: b.tpa,
    }))
}

/// Parses an IPv4 header and its options. Returns whether a transport header follows, and
/// where the IP packet ends (its total length, which excludes Ethernet padding).
#[inline(always)]
fn ipv4(cursor: &mut Cursor, packet: &mut Packet, tally: &Tally) -> Result<(bool, usize), Counter> {
    let start = cursor.pos;
    let ip = cursor.read::<Ipv4Hdr>().ok_or(Counter::TruncatedIpv4)?;
    // SAFETY: `read` checked that the fixed header lies within the packet.
    let (vihl, tot_len, frags, proto, src, dst) = unsafe {
        (
            (*ip).vihl,
            (*ip).tot_len,
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
    tally.add(Counter::Ipv4, 1);
    packet.src[10] = 0xff;
    packet.src[11] = 0xff;
    packet.src[12..].copy_from_slice(&src);
    packet.dst[10] = 0xff;
    packet.dst[11] = 0xff;
    packet.dst[12..].copy_from_slice(&dst);
    packet.proto = proto;
    let ip_end = start + usize::from(u16::from_be_bytes(tot_len));
    let fragment_offset = u16::from_be_bytes(frags) & 0x1fff;
    if fragment_offset != 0 {
        // The ports are in the first fragment only; what follows here is payload.
        tally.add(Counter::Ipv4Fragment, 1);
        return Ok((false, ip_end));
    }
    Ok((is_transport(proto), ip_end))
}

/// Parses an IPv6 header and walks its extension headers. Returns whether a transport
/// header follows, and where the IP packet ends.
#[inline(always)]
fn ipv6(cursor: &mut Cursor, packet: &mut Packet, tally: &Tally) -> Result<(bool, usize), Counter> {
    let ip = cursor.read::<Ipv6Hdr>().ok_or(Counter::TruncatedIpv6)?;
    // SAFETY: `read` checked that the header lies within the packet.
    let (payload_len, mut next, src, dst) = unsafe {
        (
            (*ip).payload_len,
            (*ip).next_hdr,
            (*ip).src_addr,
            (*ip).dst_addr,
        )
    };
    tally.add(Counter::Ipv6, 1);
    packet.src = src;
    packet.dst = dst;
    let ip_end = cursor.pos + usize::from(u16::from_be_bytes(payload_len));
    let mut walked = false;
    for _ in 0..IPV6_EXT_MAX_CHAIN {
        let ext_start = cursor.pos;
        let len = match next {
            proto::HOPOPT | proto::ROUTING | proto::DSTOPTS | proto::MOBILITY => {
                let hdr = cursor
                    .read::<[u8; 2]>()
                    .ok_or(Counter::TruncatedIpv6Extension)?;
                // SAFETY: `read` checked both bytes.
                let [n, l] = unsafe { *hdr };
                next = n;
                (usize::from(l) + 1) * 8
            }
            proto::AH => {
                let hdr = cursor
                    .read::<[u8; 2]>()
                    .ok_or(Counter::TruncatedIpv6Extension)?;
                // SAFETY: as above.
                let [n, l] = unsafe { *hdr };
                next = n;
                (usize::from(l) + 2) * 4
            }
            proto::FRAGMENT => {
                let hdr = cursor
                    .read::<[u8; 8]>()
                    .ok_or(Counter::TruncatedIpv6Extension)?;
                // SAFETY: `read` checked all eight bytes.
                let h = unsafe { *hdr };
                next = h[0];
                if u16::from_be_bytes([h[2], h[3]]) >> 3 != 0 {
                    tally.add(Counter::Ipv6ExtensionHeader, 1);
                    tally.add(Counter::Ipv6Fragment, 1);
                    packet.proto = next;
                    return Ok((false, ip_end));
                }
                8
            }
            _ => {
                if walked {
                    tally.add(Counter::Ipv6ExtensionHeader, 1);
                }
                packet.proto = next;
                return Ok((is_transport(next), ip_end));
            }
        };
        walked = true;
        cursor
            .seek(ext_start, len)
            .ok_or(Counter::TruncatedIpv6Extension)?;
    }
    // Still an extension header after the last one followed.
    tally.add(Counter::Ipv6ExtensionHeader, 1);
    packet.proto = next;
    if matches!(
        next,
        proto::HOPOPT
            | proto::ROUTING
            | proto::DSTOPTS
            | proto::MOBILITY
            | proto::AH
            | proto::FRAGMENT
    ) {
        tally.add(Counter::Ipv6ExtensionChainTooLong, 1);
        return Ok((false, ip_end));
    }
    Ok((is_transport(next), ip_end))
}

#[inline(always)]
fn is_transport(proto: u8) -> bool {
    matches!(proto, proto::TCP | proto::UDP | proto::ICMP | proto::ICMPV6)
}

/// Reads the ports (and TCP flags) of a TCP, UDP or ICMP header, and locates the payload.
#[inline(always)]
fn transport(
    cursor: &mut Cursor,
    packet: &mut Packet,
    ip_end: usize,
    tally: &Tally,
) -> Result<(), Counter> {
    let l4_start = cursor.pos;
    match packet.proto {
        proto::TCP => {
            let tcp = cursor.read::<TcpHdr>().ok_or(Counter::TruncatedL4)?;
            // SAFETY: `read` checked all 20 bytes of the fixed header; data offset and flags
            // are bytes 12 and 13.
            let (source, dest, doff, flags) = unsafe {
                let bytes = tcp.cast::<u8>();
                (
                    (*tcp).source,
                    (*tcp).dest,
                    *bytes.add(12) >> 4,
                    *bytes.add(13),
                )
            };
            packet.src_port = u16::from_be_bytes(source);
            packet.dst_port = u16::from_be_bytes(dest);
            packet.tcp_flags = flags;
            if doff < 5 {
                return Err(Counter::BadTcpHeader);
            }
            cursor
                .seek(l4_start, usize::from(doff) * 4)
                .ok_or(Counter::BadTcpHeader)?;
            tally.add(Counter::Tcp, 1);
        }
        proto::UDP => {
            let udp = cursor.read::<UdpHdr>().ok_or(Counter::TruncatedL4)?;
            // SAFETY: `read` checked the header.
            let (src, dst) = unsafe { ((*udp).src, (*udp).dst) };
            packet.src_port = u16::from_be_bytes(src);
            packet.dst_port = u16::from_be_bytes(dst);
            tally.add(Counter::Udp, 1);
        }
        _ => {
            // ICMP and ICMPv6 share type, code and checksum. The type and its counterpart
            // (or the code) stand in for ports, as in the Community ID spec.
            let hdr = cursor.read::<[u8; 4]>().ok_or(Counter::TruncatedL4)?;
            // SAFETY: `read` checked the four bytes.
            let [icmp_type, code, _, _] = unsafe { *hdr };
            let (src, dst, _) = icmp_ports(packet.proto, icmp_type, code);
            packet.src_port = src;
            packet.dst_port = dst;
            tally.add(Counter::Icmp, 1);
            return Ok(());
        }
    }
    // Offsets from the frame's start, not pointers (see `Cursor::frame_len`).
    let ip_end = ip_end - cursor.start;
    let end = if ip_end < cursor.frame_len {
        ip_end
    } else {
        cursor.frame_len
    };
    let offset = cursor.offset();
    if end > offset {
        packet.payload_offset = offset as u32;
        packet.payload_len = (end - offset) as u32;
    }
    Ok(())
}
