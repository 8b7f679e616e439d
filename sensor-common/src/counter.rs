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
    /// IPv6 packets with at least one extension header (the chain is walked to the ports).
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
    /// Non-first IPv6 fragments: accounted to a flow without ports.
    Ipv6Fragment = 23,
    /// IPv6 extension-header chains longer than the parser follows: accounted without ports.
    Ipv6ExtensionChainTooLong = 24,
    /// IPv6 extension headers cut short by the end of the frame.
    TruncatedIpv6Extension = 25,
    /// TCP headers whose data offset is below 5 or past the end of the frame.
    BadTcpHeader = 26,
    /// New flows not inserted because the CPU's per-second cap was reached (packet passed).
    FlowThrottled = 27,
    /// Events written to the ring buffer.
    EventsSent = 28,
    /// Events lost because the ring buffer was full.
    EventsDropped = 29,
    /// ARP packets seen.
    Arp = 30,
    /// DHCP packets seen.
    Dhcp = 31,
    /// Packets dropped by a quarantine.
    DropQuarantine = 32,
    /// Packets dropped by an exact-flow block.
    DropBlockFlow = 33,
    /// Packets dropped by an IP block.
    DropBlockIp = 34,
    /// Packets dropped by an `ip:port` block.
    DropBlockEndpoint = 35,
    /// Packets dropped by a CIDR block.
    DropBlockCidr = 36,
    /// New-connection packets dropped by a suspend.
    DropSuspend = 37,
    /// Packets a rule would have dropped, passed because an endpoint is never blocked.
    NeverBlockPassed = 38,
    /// Packets of a quarantined device passed because the peer is on the allow list.
    QuarantineAllowed = 39,
    /// ARP packets too short for IPv4-over-Ethernet ARP.
    TruncatedArp = 40,
    /// Packets counted in the per-CPU flow cache without touching the shared flow table.
    FlowCacheHit = 41,
    /// Write-backs of cached deltas to the flow table.
    FlowCacheFlush = 42,
    /// Write-backs that found the table entry evicted and inserted it again.
    FlowCacheReinsert = 43,
}

impl Counter {
    /// Every counter, in slot order, for readers that list them.
    pub const ALL: [Self; 44] = [
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
        Self::Ipv6Fragment,
        Self::Ipv6ExtensionChainTooLong,
        Self::TruncatedIpv6Extension,
        Self::BadTcpHeader,
        Self::FlowThrottled,
        Self::EventsSent,
        Self::EventsDropped,
        Self::Arp,
        Self::Dhcp,
        Self::DropQuarantine,
        Self::DropBlockFlow,
        Self::DropBlockIp,
        Self::DropBlockEndpoint,
        Self::DropBlockCidr,
        Self::DropSuspend,
        Self::NeverBlockPassed,
        Self::QuarantineAllowed,
        Self::TruncatedArp,
        Self::FlowCacheHit,
        Self::FlowCacheFlush,
        Self::FlowCacheReinsert,
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
            Self::Ipv6Fragment => "ipv6_fragment",
            Self::Ipv6ExtensionChainTooLong => "ipv6_extension_chain_too_long",
            Self::TruncatedIpv6Extension => "truncated_ipv6_extension",
            Self::BadTcpHeader => "bad_tcp_header",
            Self::FlowThrottled => "flow_throttled",
            Self::EventsSent => "events_sent",
            Self::EventsDropped => "events_dropped",
            Self::Arp => "arp",
            Self::Dhcp => "dhcp",
            Self::DropQuarantine => "drop_quarantine",
            Self::DropBlockFlow => "drop_block_flow",
            Self::DropBlockIp => "drop_block_ip",
            Self::DropBlockEndpoint => "drop_block_endpoint",
            Self::DropBlockCidr => "drop_block_cidr",
            Self::DropSuspend => "drop_suspend",
            Self::NeverBlockPassed => "never_block_passed",
            Self::QuarantineAllowed => "quarantine_allowed",
            Self::TruncatedArp => "truncated_arp",
            Self::FlowCacheHit => "flow_cache_hit",
            Self::FlowCacheFlush => "flow_cache_flush",
            Self::FlowCacheReinsert => "flow_cache_reinsert",
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
