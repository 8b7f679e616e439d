//! Byte-level packet builder for `BPF_PROG_TEST_RUN` tables.
//!
//! Malformed packets are the point of those tables, so this builds bytes directly, with
//! knobs for the fields a parser can trip on (IHL, fragment offset, extra VLAN tags,
//! truncation). Checksums are left zero: XDP does not check them.

/// Source MAC of built frames.
pub const SRC_MAC: [u8; 6] = [0x02, 0, 0, 0, 0, 0x01];
/// Destination MAC of built frames.
pub const DST_MAC: [u8; 6] = [0x02, 0, 0, 0, 0, 0x02];

/// `EtherType` values.
pub mod ethertype {
    /// IPv4.
    pub const IPV4: u16 = 0x0800;
    /// IPv6.
    pub const IPV6: u16 = 0x86DD;
    /// ARP.
    pub const ARP: u16 = 0x0806;
    /// 802.1Q.
    pub const VLAN: u16 = 0x8100;
    /// 802.1ad (`QinQ` outer tag).
    pub const QINQ: u16 = 0x88A8;
}

/// An Ethernet frame with optional VLAN tags: `tags` are `(tpid, vid)` pairs, outermost first.
pub fn ethernet(tags: &[(u16, u16)], ether_type: u16, payload: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(14 + 4 * tags.len() + payload.len());
    out.extend_from_slice(&DST_MAC);
    out.extend_from_slice(&SRC_MAC);
    for &(tpid, vid) in tags {
        out.extend_from_slice(&tpid.to_be_bytes());
        out.extend_from_slice(&(vid & 0x0fff).to_be_bytes());
    }
    out.extend_from_slice(&ether_type.to_be_bytes());
    out.extend_from_slice(payload);
    out
}

/// IPv4 header fields a test may vary.
#[derive(Clone, Debug)]
pub struct Ipv4 {
    /// Source address.
    pub src: [u8; 4],
    /// Destination address.
    pub dst: [u8; 4],
    /// Protocol number.
    pub proto: u8,
    /// IHL in 32-bit words as written into the header (5 without options).
    pub ihl: u8,
    /// Option bytes placed after the fixed header (`ihl` is not adjusted for them).
    pub options: Vec<u8>,
    /// Fragment offset in 8-byte units.
    pub fragment_offset: u16,
    /// More-fragments flag.
    pub more_fragments: bool,
}

impl Ipv4 {
    /// A plain header from `src` to `dst` carrying `proto`.
    pub fn new(src: [u8; 4], dst: [u8; 4], proto: u8) -> Self {
        Self {
            src,
            dst,
            proto,
            ihl: 5,
            options: Vec::new(),
            fragment_offset: 0,
            more_fragments: false,
        }
    }

    /// The header followed by `payload`.
    pub fn packet(&self, payload: &[u8]) -> Vec<u8> {
        let total = 20 + self.options.len() + payload.len();
        let mut out = Vec::with_capacity(total);
        out.push(0x40 | (self.ihl & 0x0f));
        out.push(0);
        out.extend_from_slice(&(total as u16).to_be_bytes());
        out.extend_from_slice(&0x1234u16.to_be_bytes());
        let flags = if self.more_fragments { 0x2000 } else { 0 };
        out.extend_from_slice(&(flags | (self.fragment_offset & 0x1fff)).to_be_bytes());
        out.push(64);
        out.push(self.proto);
        out.extend_from_slice(&[0, 0]);
        out.extend_from_slice(&self.src);
        out.extend_from_slice(&self.dst);
        out.extend_from_slice(&self.options);
        out.extend_from_slice(payload);
        out
    }
}

/// An IPv6 header from `src` to `dst` with next header `next`, followed by `payload`.
pub fn ipv6(src: [u8; 16], dst: [u8; 16], next: u8, payload: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(40 + payload.len());
    out.extend_from_slice(&[0x60, 0, 0, 0]);
    out.extend_from_slice(&(payload.len() as u16).to_be_bytes());
    out.push(next);
    out.push(64);
    out.extend_from_slice(&src);
    out.extend_from_slice(&dst);
    out.extend_from_slice(payload);
    out
}

/// A 20-byte TCP header with `flags`, followed by `payload`.
pub fn tcp(src_port: u16, dst_port: u16, flags: u8, payload: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(20 + payload.len());
    out.extend_from_slice(&src_port.to_be_bytes());
    out.extend_from_slice(&dst_port.to_be_bytes());
    out.extend_from_slice(&1u32.to_be_bytes());
    out.extend_from_slice(&0u32.to_be_bytes());
    out.push(5 << 4);
    out.push(flags);
    out.extend_from_slice(&0xffffu16.to_be_bytes());
    out.extend_from_slice(&[0, 0, 0, 0]);
    out.extend_from_slice(payload);
    out
}

/// A UDP header followed by `payload`.
pub fn udp(src_port: u16, dst_port: u16, payload: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(8 + payload.len());
    out.extend_from_slice(&src_port.to_be_bytes());
    out.extend_from_slice(&dst_port.to_be_bytes());
    out.extend_from_slice(&((8 + payload.len()) as u16).to_be_bytes());
    out.extend_from_slice(&[0, 0]);
    out.extend_from_slice(payload);
    out
}

/// An ICMP echo request header with `id` and `seq`.
pub fn icmp_echo(id: u16, seq: u16) -> Vec<u8> {
    let mut out = vec![8, 0, 0, 0];
    out.extend_from_slice(&id.to_be_bytes());
    out.extend_from_slice(&seq.to_be_bytes());
    out
}

/// IPv4 mapped into IPv6, as the flow key stores it.
pub fn mapped(a: [u8; 4]) -> [u8; 16] {
    let mut out = [0u8; 16];
    out[10] = 0xff;
    out[11] = 0xff;
    out[12..].copy_from_slice(&a);
    out
}

/// An IPv4-over-Ethernet ARP body: `op` 1 request, 2 reply.
pub fn arp(op: u16, sender_ip: [u8; 4], target_ip: [u8; 4]) -> Vec<u8> {
    let mut out = vec![0, 1, 0x08, 0x00, 6, 4];
    out.extend_from_slice(&op.to_be_bytes());
    out.extend_from_slice(&SRC_MAC);
    out.extend_from_slice(&sender_ip);
    out.extend_from_slice(&[0; 6]);
    out.extend_from_slice(&target_ip);
    out
}
