//! Response rules: keys of the rule maps and the value every rule carries.
//!
//! The XDP program checks rules before the flow table, each class a bounded number of
//! lookups, in this order: quarantine of a device (by IP and by MAC, with an allow list of
//! peers it may still reach), block (exact flow, IP, endpoint `ip:port`, CIDR), suspend
//! (new connections to an endpoint). Quarantine and block by IP come first of all, behind
//! the [`addr_filter`] and in the [`addr_table`]s: for an untagged IPv4 or IPv6 frame
//! before its headers are walked, for any other right after. So a packet that matches both
//! an IP rule and a MAC quarantine or exact-flow block is counted on the IP rule. A packet a rule would drop is passed instead when its
//! source or destination is on the never-block list. Addresses are IPv4-mapped IPv6, so
//! one map (and one LPM trie) serves both families.

/// What a rule does.
#[repr(u8)]
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum RuleKind {
    /// Drop every matching packet.
    Block = 1,
    /// Drop packets that would open a new connection to the endpoint.
    Suspend = 2,
    /// Cut a device off, except for its allow list.
    Quarantine = 3,
}

impl RuleKind {
    /// The kind for a stored byte, if valid.
    pub const fn from_u8(v: u8) -> Option<Self> {
        match v {
            1 => Some(Self::Block),
            2 => Some(Self::Suspend),
            3 => Some(Self::Quarantine),
            _ => None,
        }
    }
}

/// Which side of a packet a rule's address must be on ([`RuleValue::scope`]).
///
/// For a quarantine these read as directions: the device as source is its outgoing
/// traffic, as destination its incoming traffic.
pub mod scope {
    /// The rule's address (or MAC) is the packet's source: outgoing from a device.
    pub const SRC: u8 = 1;
    /// The rule's address (or MAC) is the packet's destination: incoming to a device.
    pub const DST: u8 = 2;
    /// Either side.
    pub const BOTH: u8 = SRC | DST;
}

/// The value of every rule.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct RuleValue {
    /// When the rule stops applying, kernel `CLOCK_MONOTONIC` ns; 0 for never. The kernel
    /// ignores expired rules by itself, so expiry holds while the agent is down.
    pub expires_ns: u64,
    /// The action (in the agent's store) that owns this rule.
    pub action_id: u64,
    /// Packets this rule dropped (atomic adds).
    pub hits: u64,
    /// When it last dropped one, kernel monotonic ns; also paces rule-hit events.
    pub last_hit_ns: u64,
    /// A [`RuleKind`].
    pub kind: u8,
    /// [`scope`] bits: which side of the packet must match.
    pub scope: u8,
    /// Explicit padding.
    pub _pad: [u8; 6],
}

const _: () = assert!(size_of::<RuleValue>() == 40);

/// An endpoint: address, port and protocol (for `ip:port` blocks and suspends).
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct EndpointKey {
    /// Address, IPv4-mapped for IPv4, network byte order.
    pub addr: [u8; 16],
    /// Port, host byte order (0 for ICMP).
    pub port: u16,
    /// IP protocol number.
    pub proto: u8,
    /// Explicit padding.
    pub _pad: u8,
}

const _: () = assert!(size_of::<EndpointKey>() == 20);

/// A MAC address as a map key.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct MacKey {
    /// The address.
    pub mac: [u8; 6],
    /// Explicit padding.
    pub _pad: [u8; 2],
}

const _: () = assert!(size_of::<MacKey>() == 8);

/// Bits of [`crate::Config::active_rules`]: which rule maps hold entries. The program skips
/// the lookups of empty classes, so a sensor without rules pays one array read for them.
pub mod active {
    /// `NEVER_BLOCK` has entries.
    pub const NEVER_BLOCK: u32 = 1 << 0;
    /// `QUARANTINE_IP` has entries.
    pub const QUARANTINE_IP: u32 = 1 << 1;
    /// `BLOCK_FLOW` has entries.
    pub const BLOCK_FLOW: u32 = 1 << 2;
    /// `BLOCK_IP` has entries.
    pub const BLOCK_IP: u32 = 1 << 3;
    /// `BLOCK_ENDPOINT` has entries.
    pub const BLOCK_ENDPOINT: u32 = 1 << 4;
    /// `BLOCK_CIDR` has entries.
    pub const BLOCK_CIDR: u32 = 1 << 5;
    /// `SUSPEND` has entries.
    pub const SUSPEND: u32 = 1 << 6;
    /// `QUARANTINE_MAC` has entries.
    pub const QUARANTINE_MAC: u32 = 1 << 7;
    /// The classes decided from the addresses alone, before the flow key and the flow
    /// cache: quarantine and block by IP (behind [`super::addr_filter`]).
    pub const BY_ADDRESS: u32 = QUARANTINE_IP | BLOCK_IP;
    /// The classes checked after the flow key, for packets the flow cache cannot pass.
    pub const BY_FLOW: u32 = QUARANTINE_MAC | BLOCK_FLOW | BLOCK_ENDPOINT | BLOCK_CIDR | SUSPEND;
}

/// The hash of an address that both the [`addr_filter`] and the [`addr_table`] index by:
/// the top 16 bits of a Fibonacci hash of its four 32-bit words folded into one (the words
/// as the program loads them, native byte order; see [`addr_words`]).
#[inline(always)]
pub const fn addr_hash(words: [u32; 4]) -> u32 {
    let folded = words[0] ^ words[1] ^ words[2] ^ words[3];
    // Fibonacci hashing: the top bits of the product spread neighbouring addresses.
    folded.wrapping_mul(0x9E37_79B1) >> 16
}

/// An address's 32-bit words as the program loads them (native byte order).
pub fn addr_words(addr: &[u8; 16]) -> [u32; 4] {
    let w = |i: usize| u32::from_ne_bytes([addr[i], addr[i + 1], addr[i + 2], addr[i + 3]]);
    [w(0), w(4), w(8), w(12)]
}

/// The address filter: a bitmap with one bit per [`addr_hash`] of every address a
/// quarantine or IP block names, kept by the agent beside those tables. Most packets name
/// no such address, and one read of a small, cache-resident array tells the program so;
/// only an address whose bit is set costs the table probes (a shared bit costs a probe in
/// vain, never a missed rule).
pub mod addr_filter {
    /// 64-bit words in the filter: 65,536 bits, one per hash.
    pub const WORDS: u32 = 1024;

    /// The word index and bit mask of an address hash.
    #[inline(always)]
    pub const fn position(hash: u32) -> (u32, u64) {
        (hash >> 6, 1u64 << (hash & 63))
    }
}

/// The IP rule tables (`QUARANTINE_IP`, `BLOCK_IP`): arrays of [`AddrRule`] cells,
/// open-addressed. An address lives in one of the [`PROBES`] cells from its home cell (its
/// [`super::addr_hash`]) on, wrapping at the end; the program reads those cells in order
/// and stops at the one holding the address. Array reads are inlined by the verifier, so
/// an IP rule costs a few loads instead of a hash-map call: this is what lets a drop by
/// address cost about half of what a general-purpose filter pays.
///
/// The agent writes cells through a shared mapping of the array (`BPF_F_MMAPABLE`): a new
/// rule's address is stored last, so the program never matches a half-written rule; a
/// removal clears the scope first, so the rule stops applying before its cell is emptied.
pub mod addr_table {
    /// Cells per table; a power of two, one per address hash.
    pub const CELLS: u32 = 1 << 16;
    /// Cells an address may be placed in from its home cell on: an insert fails only
    /// when all of them hold other addresses (rare until a table is well over half full).
    pub const PROBES: u32 = 8;
    /// The flag that makes an array mappable into the agent (`BPF_F_MMAPABLE`).
    pub const MAP_FLAGS: u32 = 1 << 10;

    /// The cell index `probe` steps from `home`.
    #[inline(always)]
    pub const fn cell(home: u32, probe: u32) -> u32 {
        (home + probe) & (CELLS - 1)
    }
}

/// A cell of an IP rule table: the address (all zero in an empty cell) and its rule.
#[repr(C, align(8))]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct AddrRule {
    /// The address, IPv4-mapped for IPv4, network byte order; the program compares it as
    /// four native-order words.
    pub addr: [u8; 16],
    /// The rule (`kind` 0 in an empty cell).
    pub rule: RuleValue,
    /// Explicit padding: one cell, one cache line.
    pub _pad: [u8; 8],
}

const _: () = assert!(size_of::<AddrRule>() == 64);

#[cfg(feature = "user")]
mod pod {
    // SAFETY: `repr(C)`, `Copy`, integers only, padding explicit.
    unsafe impl aya::Pod for super::RuleValue {}
    // SAFETY: as above.
    unsafe impl aya::Pod for super::EndpointKey {}
    // SAFETY: as above.
    unsafe impl aya::Pod for super::MacKey {}
    // SAFETY: as above.
    unsafe impl aya::Pod for super::AddrRule {}
}
