//! Response rules, checked before the flow table.
//!
//! Two stages. By address, right after the headers are read and before the flow key or the
//! flow cache: quarantine by IP (outgoing, then incoming; peers on the allow list pass),
//! then block by IP, each address looked up only when the address filter says a rule may
//! name it; a drop by address costs the parse, two array reads and one hash lookup. By flow,
//! for packets the flow cache cannot pass: quarantine by MAC, block (exact flow, `ip:port`,
//! CIDR; each on the packet's source and destination), suspend (new connections to an
//! endpoint). The first live rule that matches decides; then, if the packet's source or
//! destination is on the never-block list, it passes anyway. Classes the agent has no rules
//! in are skipped (`Config::active_rules`), so the common path costs one array read. Each
//! class is a fixed number of lookups.
//!
//! A rule is live until its `expires_ns` (0: forever). The kernel checks expiry itself, so a
//! rule stops applying on time even while the agent is down.

use core::intrinsics::{AtomicOrdering, atomic_xadd};

use sensor_common::{
    Counter, EndpointKey, FlowKey, MacKey, RuleValue,
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

/// Whether a quarantine or block by IP drops the packet.
#[inline(always)]
pub fn drop_by_address(run: &Run, packet: &Packet) -> bool {
    let src = maps::addr_filtered(packet.src_words());
    let dst = maps::addr_filtered(packet.dst_words());
    if !src && !dst {
        return false;
    }
    match by_address(run, packet, src, dst) {
        Some(hit) => enforce(run, packet, &hit),
        None => false,
    }
}

/// Whether a rule of the flow stage drops the packet.
#[inline(always)]
pub fn drop_by_flow(run: &Run, packet: &Packet, key: &FlowKey) -> bool {
    match by_flow(run, packet, key) {
        Some(hit) => enforce(run, packet, &hit),
        None => false,
    }
}

/// Drops the packet unless the never-block list covers it: counts the drop and the rule's
/// hit, and paces its event.
#[inline(always)]
fn enforce(run: &Run, packet: &Packet, hit: &Hit) -> bool {
    let now = run.now;
    if run.config.active_rules & active::NEVER_BLOCK != 0
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
        (*hit.rule).last_hit_ns = now;
        if last == 0 || now.wrapping_sub(last) >= run.config.hit_event_interval_ns {
            events::rule_hit(run, packet, hit.counter, &*hit.rule);
        }
    }
    true
}

/// Quarantine by IP, then block by IP; `src` and `dst` say which addresses the filter lets
/// through to the lookups.
#[inline(always)]
fn by_address(run: &Run, packet: &Packet, src: bool, dst: bool) -> Option<Hit> {
    let (now, active) = (run.now, run.config.active_rules);
    if active & active::QUARANTINE_IP != 0 {
        // Outgoing: the device is the source; incoming: the destination.
        let quarantined = if let Some(rule) =
            lookup_if(src, &QUARANTINE_IP, &packet.src).and_then(|r| live(r, now, scope::SRC))
        {
            Some((rule, &packet.dst))
        } else {
            lookup_if(dst, &QUARANTINE_IP, &packet.dst)
                .and_then(|r| live(r, now, scope::DST))
                .map(|rule| (rule, &packet.src))
        };
        if let Some((rule, peer)) = quarantined
            && let Some(hit) = unless_allowed(run, rule, peer)
        {
            return Some(hit);
        }
    }
    if active & active::BLOCK_IP != 0 {
        let rule = lookup_if(src, &BLOCK_IP, &packet.src)
            .and_then(|r| live(r, now, scope::SRC))
            .or_else(|| {
                lookup_if(dst, &BLOCK_IP, &packet.dst).and_then(|r| live(r, now, scope::DST))
            });
        if let Some(rule) = rule {
            return Some(Hit {
                rule,
                counter: Counter::DropBlockIp,
            });
        }
    }
    None
}

/// The rule for `addr` in `map`, looked up only if the filter let the address through.
#[inline(always)]
fn lookup_if(
    filtered: bool,
    map: &aya_ebpf::maps::HashMap<[u8; 16], RuleValue>,
    addr: &[u8; 16],
) -> Option<*mut RuleValue> {
    if filtered {
        map.get_ptr_mut(addr)
    } else {
        None
    }
}

#[inline(always)]
fn by_flow(run: &Run, packet: &Packet, key: &FlowKey) -> Option<Hit> {
    let (now, active) = (run.now, run.config.active_rules);
    if active & active::QUARANTINE_MAC != 0
        && let Some(hit) = quarantine_mac(run, packet)
    {
        return Some(hit);
    }
    if active & active::BLOCK_FLOW != 0 {
        let mut k = *key;
        k.vlan = [0; 2];
        if let Some(rule) = BLOCK_FLOW
            .get_ptr_mut(k)
            .and_then(|r| live(r, now, scope::BOTH))
        {
            return Some(Hit {
                rule,
                counter: Counter::DropBlockFlow,
            });
        }
    }
    if active & active::BLOCK_ENDPOINT != 0 {
        let src = endpoint(&packet.src, packet.src_port, packet.proto);
        let dst = endpoint(&packet.dst, packet.dst_port, packet.proto);
        let rule = BLOCK_ENDPOINT
            .get_ptr_mut(src)
            .and_then(|r| live(r, now, scope::SRC))
            .or_else(|| {
                BLOCK_ENDPOINT
                    .get_ptr_mut(dst)
                    .and_then(|r| live(r, now, scope::DST))
            });
        if let Some(rule) = rule {
            return Some(Hit {
                rule,
                counter: Counter::DropBlockEndpoint,
            });
        }
    }
    if active & active::BLOCK_CIDR != 0 {
        let rule = maps::lpm_lookup(&BLOCK_CIDR, &packet.src)
            .and_then(|r| live(r, now, scope::SRC))
            .or_else(|| {
                maps::lpm_lookup(&BLOCK_CIDR, &packet.dst).and_then(|r| live(r, now, scope::DST))
            });
        if let Some(rule) = rule {
            return Some(Hit {
                rule,
                counter: Counter::DropBlockCidr,
            });
        }
    }
    if active & active::SUSPEND != 0 {
        let dst = endpoint(&packet.dst, packet.dst_port, packet.proto);
        if let Some(rule) = SUSPEND
            .get_ptr_mut(dst)
            .and_then(|r| live(r, now, scope::DST))
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

/// A device quarantined by MAC, unless the peer is on the allow list.
#[inline(always)]
fn quarantine_mac(run: &Run, packet: &Packet) -> Option<Hit> {
    let now = run.now;
    let mac_key = |mac: [u8; 6]| MacKey { mac, _pad: [0; 2] };
    // Outgoing: the device is the source; incoming: the destination.
    let (rule, peer) = if let Some(rule) = QUARANTINE_MAC
        .get_ptr_mut(mac_key(packet.src_mac))
        .and_then(|r| live(r, now, scope::SRC))
    {
        (rule, &packet.dst)
    } else if let Some(rule) = QUARANTINE_MAC
        .get_ptr_mut(mac_key(packet.dst_mac))
        .and_then(|r| live(r, now, scope::DST))
    {
        (rule, &packet.src)
    } else {
        return None;
    };
    unless_allowed(run, rule, peer)
}

/// A quarantine's hit, unless `peer` is on the allow list (counted).
#[inline(always)]
fn unless_allowed(run: &Run, rule: *mut RuleValue, peer: &[u8; 16]) -> Option<Hit> {
    if maps::lpm_lookup(&QUARANTINE_ALLOW, peer).is_some() {
        run.tally.add(Counter::QuarantineAllowed, 1);
        return None;
    }
    Some(Hit {
        rule,
        counter: Counter::DropQuarantine,
    })
}

/// The rule, if it has not expired and applies to this side.
#[inline(always)]
fn live(rule: *mut RuleValue, now: u64, side: u8) -> Option<*mut RuleValue> {
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
        packet.opens_tcp()
    } else {
        FLOWS.get_ptr(key).is_none()
    }
}
