//! Response rules, checked before the flow table.
//!
//! Order: quarantine (device by IP, then by MAC; outgoing and incoming; peers on the allow
//! list pass), block (exact flow, IP, `ip:port`, CIDR; each on the packet's source and
//! destination), suspend (new connections to an endpoint). The first live rule that matches
//! decides; then, if the packet's source or destination is on the never-block list, it
//! passes anyway. Classes the agent has no rules in are skipped (`Config::active_rules`),
//! so the common path costs one array read. Each class is a fixed number of lookups.
//!
//! A rule is live until its `expires_ns` (0: forever). The kernel checks expiry itself, so a
//! rule stops applying on time even while the agent is down.

use core::intrinsics::{AtomicOrdering, atomic_xadd};

use sensor_common::{
    Counter, Direction, EndpointKey, FlowKey, MacKey, RuleValue,
    flow::tcp_flags,
    rule::{active, scope},
};

use crate::{
    events,
    maps::{
        self, BLOCK_CIDR, BLOCK_ENDPOINT, BLOCK_FLOW, BLOCK_IP, FLOWS, NEVER_BLOCK,
        QUARANTINE_ALLOW, QUARANTINE_IP, QUARANTINE_MAC, SUSPEND,
    },
    parse::{Packet, proto},
    run::Run,
};

/// A rule that matched, and the counter of its class.
struct Hit {
    rule: *mut RuleValue,
    counter: Counter,
}

/// Whether the packet must be dropped. Counts the drop, the rule's hit, and paces its event.
#[inline(always)]
pub fn drop_packet(run: &Run, packet: &Packet, key: &FlowKey, dir: Direction) -> bool {
    let (now, active) = (run.now, run.config.active_rules);
    let Some(hit) = find(run, packet, key, active) else {
        return false;
    };
    if active & active::NEVER_BLOCK != 0
        && (maps::lpm_lookup(&NEVER_BLOCK, &packet.src).is_some()
            || maps::lpm_lookup(&NEVER_BLOCK, &packet.dst).is_some())
    {
        run.tally.add(Counter::NeverBlockPassed, 1);
        return false;
    }
    run.tally.add(hit.counter, 1);
    // SAFETY: `hit.rule` points into a live map value; `hits` is an aligned u64 only
    // updated atomically. The other fields are read or stored whole.
    unsafe {
        let _previous =
            atomic_xadd::<u64, u64, { AtomicOrdering::Relaxed }>(&raw mut (*hit.rule).hits, 1);
        let last = (*hit.rule).last_hit_ns;
        if last == 0 || now.wrapping_sub(last) >= run.config.hit_event_interval_ns {
            (*hit.rule).last_hit_ns = now;
            events::rule_hit(run, key, dir as u8, hit.counter, &*hit.rule);
        } else {
            (*hit.rule).last_hit_ns = now;
        }
    }
    true
}

#[inline(always)]
fn find(run: &Run, packet: &Packet, key: &FlowKey, active: u32) -> Option<Hit> {
    let now = run.now;
    if active & active::QUARANTINE != 0
        && let Some(hit) = quarantine(run, packet)
    {
        return Some(hit);
    }
    if active & active::BLOCK_FLOW != 0 {
        let mut k = *key;
        k.vlan = [0; 2];
        if let Some(rule) = live(BLOCK_FLOW.get_ptr_mut(k), now, scope::BOTH) {
            return Some(Hit {
                rule,
                counter: Counter::DropBlockFlow,
            });
        }
    }
    if active & active::BLOCK_IP != 0 {
        let rule = live(BLOCK_IP.get_ptr_mut(packet.src), now, scope::SRC)
            .or_else(|| live(BLOCK_IP.get_ptr_mut(packet.dst), now, scope::DST));
        if let Some(rule) = rule {
            return Some(Hit {
                rule,
                counter: Counter::DropBlockIp,
            });
        }
    }
    if active & active::BLOCK_ENDPOINT != 0 {
        let src = endpoint(&packet.src, packet.src_port, packet.proto);
        let dst = endpoint(&packet.dst, packet.dst_port, packet.proto);
        let rule = live(BLOCK_ENDPOINT.get_ptr_mut(src), now, scope::SRC)
            .or_else(|| live(BLOCK_ENDPOINT.get_ptr_mut(dst), now, scope::DST));
        if let Some(rule) = rule {
            return Some(Hit {
                rule,
                counter: Counter::DropBlockEndpoint,
            });
        }
    }
    if active & active::BLOCK_CIDR != 0 {
        let rule = live(maps::lpm_lookup(&BLOCK_CIDR, &packet.src), now, scope::SRC)
            .or_else(|| live(maps::lpm_lookup(&BLOCK_CIDR, &packet.dst), now, scope::DST));
        if let Some(rule) = rule {
            return Some(Hit {
                rule,
                counter: Counter::DropBlockCidr,
            });
        }
    }
    if active & active::SUSPEND != 0 {
        let dst = endpoint(&packet.dst, packet.dst_port, packet.proto);
        if let Some(rule) = live(SUSPEND.get_ptr_mut(dst), now, scope::DST)
            && opens_connection(packet, key)
        {
            return Some(Hit {
                rule,
                counter: Counter::DropSuspend,
            });
        }
    }
    None
}

/// A quarantined device's traffic, unless the peer is on the allow list.
#[inline(always)]
fn quarantine(run: &Run, packet: &Packet) -> Option<Hit> {
    let now = run.now;
    let src_mac = MacKey {
        mac: packet.src_mac,
        _pad: [0; 2],
    };
    let dst_mac = MacKey {
        mac: packet.dst_mac,
        _pad: [0; 2],
    };
    // Outgoing: the device is the source; incoming: the destination.
    let (rule, peer) = if let Some(rule) =
        live(QUARANTINE_IP.get_ptr_mut(packet.src), now, scope::SRC)
            .or_else(|| live(QUARANTINE_MAC.get_ptr_mut(src_mac), now, scope::SRC))
    {
        (rule, &packet.dst)
    } else if let Some(rule) = live(QUARANTINE_IP.get_ptr_mut(packet.dst), now, scope::DST)
        .or_else(|| live(QUARANTINE_MAC.get_ptr_mut(dst_mac), now, scope::DST))
    {
        (rule, &packet.src)
    } else {
        return None;
    };
    if maps::lpm_lookup(&QUARANTINE_ALLOW, peer).is_some() {
        run.tally.add(Counter::QuarantineAllowed, 1);
        return None;
    }
    Some(Hit {
        rule,
        counter: Counter::DropQuarantine,
    })
}

/// The rule, if there is one, it has not expired, and it applies to this side.
#[inline(always)]
fn live(rule: Option<*mut RuleValue>, now: u64, side: u8) -> Option<*mut RuleValue> {
    let rule = rule?;
    // SAFETY: a pointer from a map lookup, valid for this run of the program.
    let (expires, rule_scope) = unsafe { ((*rule).expires_ns, (*rule).scope) };
    if (expires != 0 && now >= expires) || rule_scope & side == 0 {
        return None;
    }
    Some(rule)
}

#[inline(always)]
fn endpoint(addr: &[u8; 16], port: u16, proto: u8) -> EndpointKey {
    EndpointKey {
        addr: *addr,
        port,
        proto,
        _pad: 0,
    }
}

/// Whether the packet would open a new connection: a TCP SYN without ACK, or any other
/// packet of a flow the table does not hold yet.
#[inline(always)]
fn opens_connection(packet: &Packet, key: &FlowKey) -> bool {
    if packet.proto == proto::TCP {
        packet.tcp_flags & (tcp_flags::SYN | tcp_flags::ACK) == tcp_flags::SYN
    } else {
        FLOWS.get_ptr(key).is_none()
    }
}
