//! Events the XDP program writes to the `EVENTS` ring buffer.
//!
//! Never one per packet: a flow's opening and end, the first payload bytes of each direction,
//! ARP and DHCP packets (rare, and what device identity is built from), and rule hits paced
//! per rule. Every event starts with an [`EventHeader`]; its `kind` says which struct it is.
//! A full ring is counted (`events_dropped`), never silent.

use crate::FlowKey;

/// Which event follows the header.
#[repr(u8)]
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum EventKind {
    /// [`FlowEvent`]: a flow entered the table.
    FlowOpened = 1,
    /// [`FlowEvent`]: RST seen, or FIN seen both ways.
    FlowEnded = 2,
    /// [`PayloadEvent`]: the first payload bytes of one direction.
    Payload = 3,
    /// [`ArpEvent`].
    Arp = 4,
    /// [`DhcpEvent`].
    Dhcp = 5,
    /// [`RuleHitEvent`].
    RuleHit = 6,
    /// [`FlowBatchEvent`]: flows opened while the CPU was busy opening flows.
    FlowBatch = 7,
}

impl EventKind {
    /// The kind for a header byte, if valid.
    pub const fn from_u8(v: u8) -> Option<Self> {
        match v {
            1 => Some(Self::FlowOpened),
            2 => Some(Self::FlowEnded),
            3 => Some(Self::Payload),
            4 => Some(Self::Arp),
            5 => Some(Self::Dhcp),
            6 => Some(Self::RuleHit),
            7 => Some(Self::FlowBatch),
            _ => None,
        }
    }
}

/// The start of every event.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct EventHeader {
    /// An [`EventKind`].
    pub kind: u8,
    /// Explicit padding.
    pub _pad: [u8; 3],
    /// The interface the packet entered by.
    pub ifindex: u32,
    /// Kernel monotonic ns.
    pub ts_ns: u64,
}

const _: () = assert!(size_of::<EventHeader>() == 16);

/// A flow opened or ended.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct FlowEvent {
    /// Header.
    pub header: EventHeader,
    /// The flow.
    pub key: FlowKey,
    /// The [`crate::Direction`] of the side that opened it.
    pub initiator: u8,
    /// TCP flags of the packet that caused the event.
    pub tcp_flags: u8,
    /// Explicit padding.
    pub _pad: [u8; 2],
}

const _: () = assert!(size_of::<FlowEvent>() == 64);

/// Flow-opened events one [`FlowBatchEvent`] carries.
pub const FLOW_BATCH_LEN: usize = 64;
/// New flows a CPU opens in a second before it batches their events: below this every
/// flow-opened event goes out on its own, at once.
pub const FLOW_BATCH_ABOVE_PER_SEC: u64 = 1_000;
/// The longest a batched event waits for its batch to fill: the next packet on the CPU
/// that misses the flow cache sends a batch this old as it is.
pub const FLOW_BATCH_MAX_AGE_NS: u64 = 10_000_000;

/// Flow-opened events sent together. A ring-buffer record costs more than a flow-table
/// insert does; while a CPU opens flows by the thousand a second (a scan, a flood, a busy
/// gateway) it keeps their events in a per-CPU batch and sends one record for many. Each
/// event keeps its own header (time, interface).
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct FlowBatchEvent {
    /// Header (`FlowBatch`; the time the batch was sent).
    pub header: EventHeader,
    /// How many of `events` are valid.
    pub count: u32,
    /// Explicit padding.
    pub _pad: u32,
    /// When the first event was batched, kernel monotonic ns.
    pub first_ns: u64,
    /// The events, `FlowOpened` each.
    pub events: [FlowEvent; FLOW_BATCH_LEN],
}

const _: () = assert!(size_of::<FlowBatchEvent>() == 32 + 64 * FLOW_BATCH_LEN);

/// Bytes of payload a [`PayloadEvent`] carries at most: an HTTP request's headers up to the
/// user agent in practice, a DNS exchange, an SSH banner, and a whole TLS client hello of
/// the common sizes (browsers pad theirs to 517 bytes), for its server name and JA4.
pub const PAYLOAD_SNIPPET_LEN: usize = 1024;

/// The first payload bytes of one direction of a TCP or UDP flow.
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PayloadEvent {
    /// Header.
    pub header: EventHeader,
    /// The flow.
    pub key: FlowKey,
    /// The [`crate::Direction`] the bytes travelled in.
    pub direction: u8,
    /// Explicit padding.
    pub _pad: u8,
    /// How many bytes of `data` are valid.
    pub len: u16,
    /// The bytes.
    pub data: [u8; PAYLOAD_SNIPPET_LEN],
}

const _: () = assert!(size_of::<PayloadEvent>() == 1088);

/// An ARP packet (IPv4 over Ethernet).
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ArpEvent {
    /// Header.
    pub header: EventHeader,
    /// VLAN ids, outer first.
    pub vlan: [u16; 2],
    /// 1 request, 2 reply.
    pub op: u16,
    /// Sender hardware address.
    pub sender_mac: [u8; 6],
    /// Sender protocol address, network byte order.
    pub sender_ip: [u8; 4],
    /// Target hardware address.
    pub target_mac: [u8; 6],
    /// Target protocol address, network byte order.
    pub target_ip: [u8; 4],
    /// Explicit padding.
    pub _pad: [u8; 6],
}

const _: () = assert!(size_of::<ArpEvent>() == 48);

/// Bytes of a DHCP message a [`DhcpEvent`] carries at most: the fixed part (236 bytes),
/// the magic cookie and the first options (message type, hostname, parameter list, vendor
/// class come early in practice).
pub const DHCP_SNIPPET_LEN: usize = 512;

/// A DHCP (or BOOTP) message, from its `op` field on.
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct DhcpEvent {
    /// Header.
    pub header: EventHeader,
    /// Ethernet source of the frame.
    pub src_mac: [u8; 6],
    /// How many bytes of `data` are valid.
    pub len: u16,
    /// VLAN ids, outer first.
    pub vlan: [u16; 2],
    /// Explicit padding.
    pub _pad: [u8; 4],
    /// The message.
    pub data: [u8; DHCP_SNIPPET_LEN],
}

const _: () = assert!(size_of::<DhcpEvent>() == 544);

/// A rule dropped a packet (at most one event per rule per configured interval).
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct RuleHitEvent {
    /// Header.
    pub header: EventHeader,
    /// The dropped packet's flow.
    pub key: FlowKey,
    /// The [`crate::Direction`] of the dropped packet.
    pub direction: u8,
    /// The [`crate::RuleKind`].
    pub kind: u8,
    /// Which map matched, a [`crate::Counter`] slot of the `drop_*` family.
    pub matched: u8,
    /// Explicit padding.
    pub _pad: u8,
    /// The owning action.
    pub action_id: u64,
    /// The rule's hit count after this packet.
    pub hits: u64,
}

const _: () = assert!(size_of::<RuleHitEvent>() == 80);

#[cfg(feature = "user")]
mod pod {
    // SAFETY: `repr(C)`, `Copy`, integers only, padding explicit.
    unsafe impl aya::Pod for super::EventHeader {}
    // SAFETY: as above.
    unsafe impl aya::Pod for super::FlowEvent {}
    // SAFETY: as above.
    unsafe impl aya::Pod for super::PayloadEvent {}
    // SAFETY: as above.
    unsafe impl aya::Pod for super::ArpEvent {}
    // SAFETY: as above.
    unsafe impl aya::Pod for super::DhcpEvent {}
    // SAFETY: as above.
    unsafe impl aya::Pod for super::RuleHitEvent {}
}
