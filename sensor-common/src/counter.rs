//! Per-reason counters, in the style of katran's counter offsets and xdp-filter's
//! `xdp_stats_record_action`: every packet the XDP program sees is counted once in
//! [`Counter::Packets`], once under its verdict, and under each reason that applies to it.
//! A malformed or truncated packet has its own named reason and is passed to the stack,
//! never aborted.

/// A slot in the per-CPU counters array (the discriminant is the array index).
///
/// Slots are never renumbered: a new counter takes the next free number, so an agent can
/// read the map of an older program.
#[repr(u32)]
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Counter {
    /// Every packet the program saw.
    Packets = 0,
    /// Bytes of every packet the program saw (frame length, Ethernet header included).
    Bytes = 1,
    /// Packets passed to the network stack.
    VerdictPass = 2,
    /// Packets dropped by a rule.
    VerdictDrop = 3,
    /// Frames too short for an Ethernet header.
    TruncatedEthernet = 4,
    /// Frames with a VLAN tag that ends before the frame does.
    TruncatedVlan = 5,
    /// Frames with more VLAN tags than the parser follows.
    VlanTooDeep = 6,
    /// Frames that are neither IPv4 nor IPv6 (ARP, LLDP, ...), passed without a flow.
    NonIp = 7,
    /// IPv4 packets shorter than their fixed header.
    TruncatedIpv4 = 8,
    /// IPv4 headers whose IHL is below 5 or whose version is not 4.
    BadIpv4Header = 9,
    /// IPv6 packets shorter than their fixed header.
    TruncatedIpv6 = 10,
    /// TCP, UDP or ICMP headers cut short by the end of the frame.
    TruncatedL4 = 11,
    /// Non-first IPv4 fragments: accounted to a flow without ports.
    Ipv4Fragment = 12,
    /// IPv6 packets whose next header is an extension header, accounted without ports.
    Ipv6ExtensionHeader = 13,
    /// IPv4 packets seen.
    Ipv4 = 14,
    /// IPv6 packets seen.
    Ipv6 = 15,
    /// TCP packets seen.
    Tcp = 16,
    /// UDP packets seen.
    Udp = 17,
    /// ICMP and `ICMPv6` packets seen.
    Icmp = 18,
    /// Packets of any other IP protocol, accounted by protocol number.
    OtherProtocol = 19,
    /// Packets carrying at least one VLAN tag.
    Vlan = 20,
    /// Flows inserted into the flow table.
    FlowNew = 21,
    /// Flow inserts the kernel refused (the packet still passes).
    FlowInsertFailed = 22,
}

impl Counter {
    /// Every counter, in slot order, for readers that list them.
    pub const ALL: [Self; 23] = [
        Self::Packets,
        Self::Bytes,
        Self::VerdictPass,
        Self::VerdictDrop,
        Self::TruncatedEthernet,
        Self::TruncatedVlan,
        Self::VlanTooDeep,
        Self::NonIp,
        Self::TruncatedIpv4,
        Self::BadIpv4Header,
        Self::TruncatedIpv6,
        Self::TruncatedL4,
        Self::Ipv4Fragment,
        Self::Ipv6ExtensionHeader,
        Self::Ipv4,
        Self::Ipv6,
        Self::Tcp,
        Self::Udp,
        Self::Icmp,
        Self::OtherProtocol,
        Self::Vlan,
        Self::FlowNew,
        Self::FlowInsertFailed,
    ];

    /// The counter's index in the counters array.
    #[inline(always)]
    pub const fn slot(self) -> u32 {
        self as u32
    }

    /// A stable `snake_case` name, used in `sensor status` and in metrics.
    pub const fn name(self) -> &'static str {
        match self {
            Self::Packets => "packets",
            Self::Bytes => "bytes",
            Self::VerdictPass => "verdict_pass",
            Self::VerdictDrop => "verdict_drop",
            Self::TruncatedEthernet => "truncated_ethernet",
            Self::TruncatedVlan => "truncated_vlan",
            Self::VlanTooDeep => "vlan_too_deep",
            Self::NonIp => "non_ip",
            Self::TruncatedIpv4 => "truncated_ipv4",
            Self::BadIpv4Header => "bad_ipv4_header",
            Self::TruncatedIpv6 => "truncated_ipv6",
            Self::TruncatedL4 => "truncated_l4",
            Self::Ipv4Fragment => "ipv4_fragment",
            Self::Ipv6ExtensionHeader => "ipv6_extension_header",
            Self::Ipv4 => "ipv4",
            Self::Ipv6 => "ipv6",
            Self::Tcp => "tcp",
            Self::Udp => "udp",
            Self::Icmp => "icmp",
            Self::OtherProtocol => "other_protocol",
            Self::Vlan => "vlan",
            Self::FlowNew => "flow_new",
            Self::FlowInsertFailed => "flow_insert_failed",
        }
    }
}

const _: () = assert!(Counter::ALL.len() as u32 <= crate::COUNTER_SLOTS);

#[cfg(test)]
mod tests {
    use super::Counter;

    #[test]
    fn all_lists_every_slot_in_order() {
        for (i, c) in Counter::ALL.iter().enumerate() {
            assert_eq!(c.slot() as usize, i, "{} is out of order", c.name());
        }
    }
}
