//! The flow table's key and value.
//!
//! A flow is keyed canonically, so both directions of a conversation share one entry: the
//! endpoint with the lower (address, port) pair is `lo`, the other `hi`. Counts are kept per
//! direction, and the side that opened the flow is recorded, so userspace can name the
//! originator and responder the way Zeek's `conn.log` does.

/// Direction of a packet relative to the canonical key.
#[repr(u8)]
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Direction {
    /// From the `lo` endpoint to the `hi` endpoint.
    LoToHi = 0,
    /// From the `hi` endpoint to the `lo` endpoint.
    HiToLo = 1,
}

impl Direction {
    /// The index of this direction in [`FlowStats`]' per-direction arrays.
    #[inline(always)]
    pub const fn index(self) -> usize {
        self as usize
    }

    /// The other direction.
    #[inline(always)]
    #[must_use]
    pub const fn reverse(self) -> Self {
        match self {
            Self::LoToHi => Self::HiToLo,
            Self::HiToLo => Self::LoToHi,
        }
    }
}

/// Canonical flow key: (address, port) pairs ordered low to high, the IP protocol, and the
/// VLAN ids.
///
/// IPv4 addresses are stored IPv4-mapped (`::ffff:a.b.c.d`) so one key type serves both
/// families. Protocols without ports (ICMP, fragments, other protocols) have zero ports.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct FlowKey {
    /// Address of the lower endpoint, network byte order.
    pub addr_lo: [u8; 16],
    /// Address of the higher endpoint, network byte order.
    pub addr_hi: [u8; 16],
    /// Port of the lower endpoint, host byte order.
    pub port_lo: u16,
    /// Port of the higher endpoint, host byte order.
    pub port_hi: u16,
    /// VLAN ids, outer then inner, host byte order; 0 where there is no tag. Part of the
    /// key because the same addresses on two VLANs are two different networks.
    pub vlan: [u16; 2],
    /// IP protocol number (6 TCP, 17 UDP, 1 ICMP, 58 `ICMPv6`, ...).
    pub proto: u8,
    /// Explicit padding, always zero so keys hash alike.
    pub _pad: [u8; 3],
}

const _: () = assert!(size_of::<FlowKey>() == 44);

impl FlowKey {
    /// Builds the canonical key of a packet from `src` to `dst` and tells which direction
    /// the packet travels in.
    #[inline(always)]
    pub fn canonical(
        src: [u8; 16],
        src_port: u16,
        dst: [u8; 16],
        dst_port: u16,
        proto: u8,
        vlan: [u16; 2],
    ) -> (Self, Direction) {
        let s = u128::from_be_bytes(src);
        let d = u128::from_be_bytes(dst);
        let src_is_lo = s < d || (s == d && src_port <= dst_port);
        let (addr_lo, port_lo, addr_hi, port_hi, dir) = if src_is_lo {
            (src, src_port, dst, dst_port, Direction::LoToHi)
        } else {
            (dst, dst_port, src, src_port, Direction::HiToLo)
        };
        let key = Self {
            addr_lo,
            addr_hi,
            port_lo,
            port_hi,
            vlan,
            proto,
            _pad: [0; 3],
        };
        (key, dir)
    }
}

/// Per-flow statistics, updated in place by the XDP program.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct FlowStats {
    /// Packets per [`Direction`].
    pub packets: [u64; 2],
    /// Bytes per [`Direction`]: frame length as XDP sees it (Ethernet header included,
    /// FCS excluded), so the figures match the interface counters.
    pub bytes: [u64; 2],
    /// When the first packet was seen, kernel `CLOCK_MONOTONIC` (coarse) in ns.
    pub first_seen_ns: u64,
    /// When the latest packet was seen, kernel `CLOCK_MONOTONIC` (coarse) in ns.
    pub last_seen_ns: u64,
    /// TCP flags seen per [`Direction`], OR-ed together (0 for other protocols).
    pub tcp_flags: [u8; 2],
    /// The [`Direction`] of the side that opened the flow: the sender of the first packet,
    /// or of the SYN when the first packet seen was a SYN-ACK.
    pub initiator: u8,
    /// [`event_flags`] bits: which one-off events this flow has had, so each is sent once.
    pub event_flags: u8,
    /// Payload snippets sent per [`Direction`] (see [`payload_snippets`]).
    pub snippets: [u8; 2],
    /// Explicit padding.
    pub _pad: [u8; 2],
    /// Bursts after the first: payload packets that came after at least [`BURST_GAP_NS`]
    /// without payload either way (pure ACKs and TCP keep-alives do not break a silence).
    /// A beacon that keeps one connection open (HTTP keep-alive, a raw TCP implant) shows
    /// its rhythm here, where no new connection shows it.
    pub bursts: u32,
    /// Explicit padding.
    pub _pad2: u32,
    /// The latest packet with payload, kernel monotonic ns (0: none yet).
    pub last_payload_ns: u64,
    /// The silences before the latest bursts, ms, a ring indexed by `bursts % BURST_GAPS`.
    pub burst_gaps_ms: [u32; BURST_GAPS],
}

/// Silence on a flow after which a packet starts a new burst.
pub const BURST_GAP_NS: u64 = 1_000_000_000;
/// Silences kept per flow.
pub const BURST_GAPS: usize = 8;

/// How many payload snippets a direction of a flow sends: one (its first payload) for most,
/// [`DEEP_SNIPPETS`] towards the services whose first message is only a greeting and whose
/// later client messages say what is done: SMB (445, 139: the share connected, the pipe
/// opened: `C$`, `ADMIN$`, `svcctl`, `atsvc`, `samr`), the FTP control channel (21: the
/// files stored and retrieved), SMTP (25, 587: authentication and the envelope) and IRC
/// (6660-6669: channels joined, DCC file sends). Their client messages are small and few.
#[inline(always)]
pub const fn payload_snippets(dst_port: u16) -> u8 {
    match dst_port {
        445 | 139 | 21 | 25 | 587 | 6660..=6669 => DEEP_SNIPPETS,
        _ => 1,
    }
}

/// Payload snippets sent towards the services [`payload_snippets`] names.
pub const DEEP_SNIPPETS: u8 = 32;

/// Bits of [`FlowStats::event_flags`].
pub mod event_flags {
    /// The first payload of the lo→hi direction was sent.
    pub const PAYLOAD_LO_TO_HI: u8 = 1 << 0;
    /// The first payload of the hi→lo direction was sent.
    pub const PAYLOAD_HI_TO_LO: u8 = 1 << 1;
    /// The flow-ended event was sent.
    pub const ENDED: u8 = 1 << 2;
}

const _: () = assert!(size_of::<FlowStats>() == 104);

/// One slot of the per-CPU flow cache (`FLOW_CACHE`), a write-back cache in front of the
/// shared flow table.
///
/// A packet of the flow a slot holds, that brings nothing new (no first payload, no FIN or
/// RST, no new TCP flag), is counted here with plain adds on this CPU's memory instead of
/// a shared hash lookup and two atomic adds. The deltas are written back to the flow table
/// at least every [`FLOW_CACHE_FLUSH_NS`], and when another flow takes the slot; readers add
/// the pending deltas of every CPU's slots to the table's entries.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct FlowCacheSlot {
    /// The flow the slot holds.
    pub key: FlowKey,
    /// The rules generation (`Config::rules_generation`) under which the flow passed the
    /// rules; packets of the flow skip the rule lookups while it is current.
    pub rules_generation: u32,
    /// 1 when the slot holds a flow.
    pub valid: u8,
    /// TCP flags the table already has for each [`Direction`].
    pub tcp_flags: [u8; 2],
    /// The table entry's `event_flags` when the slot was filled.
    pub event_flags: u8,
    /// Directions (bit 1 << [`Direction`]) whose packets passed the rules under
    /// `rules_generation`: rules can be one-sided, so a verdict holds for one direction.
    pub passed: u8,
    /// Explicit padding.
    pub _pad: [u8; 3],
    /// Packets not yet written back, per [`Direction`].
    pub packets: [u64; 2],
    /// Bytes not yet written back, per [`Direction`].
    pub bytes: [u64; 2],
    /// Latest packet counted here, kernel monotonic ns.
    pub last_seen_ns: u64,
    /// When the deltas were last written back (or the slot filled), kernel monotonic ns.
    pub flushed_ns: u64,
    /// Latest packet with payload counted here or known to the table, kernel monotonic ns.
    pub last_payload_ns: u64,
}

const _: () = assert!(size_of::<FlowCacheSlot>() == 112);

/// Slots in each CPU's flow cache (a power of two: the slot is a masked hash).
pub const FLOW_CACHE_SLOTS: u32 = 4096;
/// Longest time deltas stay in a cache slot of a busy flow before they are written back.
pub const FLOW_CACHE_FLUSH_NS: u64 = 1_000_000_000;

impl FlowKey {
    /// The flow cache slot of this key: a cheap mix of the addresses' last words and the
    /// ports, masked to [`FLOW_CACHE_SLOTS`].
    #[inline(always)]
    pub fn cache_slot(&self) -> u32 {
        let word = |a: &[u8; 16]| u32::from_ne_bytes([a[12], a[13], a[14], a[15]]);
        let mut h = word(&self.addr_lo) ^ word(&self.addr_hi).rotate_left(16);
        h ^= (u32::from(self.port_lo) << 16) | u32::from(self.port_hi);
        h ^= u32::from(self.proto) << 8;
        h = h.wrapping_mul(0x9e37_79b1);
        (h >> 16) & (FLOW_CACHE_SLOTS - 1)
    }
}

/// The "ports" of an ICMP or `ICMPv6` message, as the Community ID spec defines them: the
/// message type, and the type of its counterpart (echo request ↔ reply, …) or, for types
/// without one, the code. Both directions of an exchange so get one flow key; the second
/// value says whether the type has a counterpart.
#[inline(always)]
pub const fn icmp_ports(proto: u8, icmp_type: u8, code: u8) -> (u16, u16, bool) {
    let counterpart = if proto == 1 {
        match icmp_type {
            8 => Some(0),
            0 => Some(8),
            13 => Some(14),
            14 => Some(13),
            15 => Some(16),
            16 => Some(15),
            10 => Some(9),
            9 => Some(10),
            17 => Some(18),
            18 => Some(17),
            _ => None,
        }
    } else {
        match icmp_type {
            128 => Some(129),
            129 => Some(128),
            133 => Some(134),
            134 => Some(133),
            135 => Some(136),
            136 => Some(135),
            130 => Some(131),
            131 => Some(130),
            139 => Some(140),
            140 => Some(139),
            144 => Some(145),
            145 => Some(144),
            _ => None,
        }
    };
    match counterpart {
        Some(c) => (icmp_type as u16, c as u16, true),
        None => (icmp_type as u16, code as u16, false),
    }
}

/// TCP flag bits as they appear in the header's flags byte.
pub mod tcp_flags {
    /// No more data from sender.
    pub const FIN: u8 = 0x01;
    /// Synchronize sequence numbers.
    pub const SYN: u8 = 0x02;
    /// Reset the connection.
    pub const RST: u8 = 0x04;
    /// Push function.
    pub const PSH: u8 = 0x08;
    /// Acknowledgment field significant.
    pub const ACK: u8 = 0x10;
    /// Urgent pointer field significant.
    pub const URG: u8 = 0x20;
}

#[cfg(feature = "user")]
mod pod {
    // SAFETY: both types are `repr(C)`, `Copy`, contain only integers and have their
    // padding spelled out, so every bit pattern is valid.
    unsafe impl aya::Pod for super::FlowKey {}
    // SAFETY: as above.
    unsafe impl aya::Pod for super::FlowStats {}
    // SAFETY: as above.
    unsafe impl aya::Pod for super::FlowCacheSlot {}
}

#[cfg(test)]
mod tests {
    use super::{Direction, FlowKey};

    fn v4(a: [u8; 4]) -> [u8; 16] {
        let mut out = [0u8; 16];
        out[10] = 0xff;
        out[11] = 0xff;
        out[12..].copy_from_slice(&a);
        out
    }

    #[test]
    fn both_directions_share_a_key() {
        let a = v4([10, 0, 0, 2]);
        let b = v4([10, 0, 0, 1]);
        let (k1, d1) = FlowKey::canonical(a, 40000, b, 80, 6, [0, 0]);
        let (k2, d2) = FlowKey::canonical(b, 80, a, 40000, 6, [0, 0]);
        assert_eq!(k1, k2);
        assert_eq!(d1, Direction::HiToLo);
        assert_eq!(d2, Direction::LoToHi);
        assert_eq!(k1.addr_lo, b);
        assert_eq!(k1.port_lo, 80);
    }

    #[test]
    fn same_address_orders_by_port() {
        let a = v4([127, 0, 0, 1]);
        let (k, d) = FlowKey::canonical(a, 9000, a, 22, 6, [0, 0]);
        assert_eq!((k.port_lo, k.port_hi), (22, 9000));
        assert_eq!(d, Direction::HiToLo);
    }

    #[test]
    fn vlans_separate_flows() {
        let a = v4([10, 0, 0, 1]);
        let b = v4([10, 0, 0, 2]);
        let (k1, _) = FlowKey::canonical(a, 1, b, 2, 17, [10, 0]);
        let (k2, _) = FlowKey::canonical(a, 1, b, 2, 17, [20, 0]);
        assert_ne!(k1, k2);
    }
}
