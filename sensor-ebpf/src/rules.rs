//! Response rules, checked before the flow table.
//!
//! Two stages. By address, before anything else: quarantine by IP (outgoing, then incoming;
//! peers on the allow list pass), then block by IP, each address probed in its table only
//! when the address filter says a rule may name it. For an untagged IPv4 or IPv6 frame this
//! runs before the headers are walked, on the addresses at their fixed offsets, so a drop
//! by address costs a few loads and no parse (`drop_early`); for any other frame, right
//! after the walk (`drop_by_address`). By flow,
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

use aya_ebpf::maps::Array;
use sensor_common::{
    AddrRule, Counter, EndpointKey, FlowKey, MacKey, RuleValue,
    rule::{active, addr_hash, scope},
};

use crate::{
    events,
    maps::{
        self, BLOCK_CIDR, BLOCK_ENDPOINT, BLOCK_FLOW, BLOCK_IP, FLOWS, NEVER_BLOCK,
        QUARANTINE_ALLOW, QUARANTINE_IP, QUARANTINE_MAC, SUSPEND,
    },
    parse::{self, Packet, proto},
    run::Run,
};

/// A rule that matched, and the counter of its class.
struct Hit {
    rule: *mut RuleValue,
    counter: Counter,
}

/// What a rule stage decided.
pub enum Verdict {
    /// A rule dropped the packet (counted).
    Drop,
    /// No rule of the stage drops it (whatever let it pass is counted).
    Pass,
    /// Not decided before the headers were walked: a frame whose addresses are not at
    /// the fixed offsets (tagged, not IP), or a matched rule whose hit event is due (once
    /// per rule per `hit_event_interval_ns`; the event describes the walked packet).
    /// Nothing is counted yet; the stage runs again after the walk.
    Deferred,
}

/// An address of the packet as the IP rules look it up: its words, its hash, and whether
/// the address filter lets it through to the table probes.
#[derive(Clone, Copy)]
pub struct Side {
    words: [u32; 4],
    hash: u32,
    filtered: bool,
}

impl Side {
    /// The address with these words (as the program loads them).
    #[inline(always)]
    pub fn new(words: [u32; 4]) -> Self {
        let hash = addr_hash(words);
        Self {
            words,
            hash,
            filtered: maps::addr_filtered(hash),
        }
    }

    /// The address's bytes, for the LPM lists.
    #[inline(always)]
    fn bytes(&self) -> [u8; 16] {
        // SAFETY: four words are sixteen bytes in the same (native) order they were loaded.
        unsafe { core::mem::transmute::<[u32; 4], [u8; 16]>(self.words) }
    }
}

/// Quarantine and block by IP for a frame whose headers are not walked yet: an untagged
/// IPv4 or IPv6 frame's addresses are read at their fixed offsets. `Deferred` for any other
/// frame, or for a hit whose event is due: the stage then runs after the walk.
#[inline(always)]
pub fn drop_early(run: &Run) -> Verdict {
    match parse::fixed_addresses(run.ctx) {
        Some((src, dst)) => by_address(run, &Side::new(src), &Side::new(dst), None),
        None => Verdict::Deferred,
    }
}

/// Whether a quarantine or block by IP drops the walked packet.
#[inline(always)]
pub fn drop_by_address(run: &Run, packet: &Packet) -> bool {
    let src = Side::new(packet.src_words());
    let dst = Side::new(packet.dst_words());
    matches!(by_address(run, &src, &dst, Some(packet)), Verdict::Drop)
}

/// Whether a rule of the flow stage drops the packet.
#[inline(always)]
pub fn drop_by_flow(run: &Run, packet: &Packet, key: &FlowKey) -> bool {
    match by_flow(run, packet, key) {
        Some(hit) => matches!(
            enforce(run, &packet.src, &packet.dst, Some(packet), &hit),
            Verdict::Drop
        ),
        None => false,
    }
}

/// Drops the packet unless the never-block list covers `src` or `dst`: counts the drop and
/// the rule's hit, and paces its event (which needs the walked `packet`; without it a due
/// event defers the decision).
#[inline(always)]
fn enforce(
    run: &Run,
    src: &[u8; 16],
    dst: &[u8; 16],
    packet: Option<&Packet>,
    hit: &Hit,
) -> Verdict {
    let now = run.now;
    if run.active_rules & active::NEVER_BLOCK != 0
        && (maps::lpm_lookup(&NEVER_BLOCK, src).is_some()
            || maps::lpm_lookup(&NEVER_BLOCK, dst).is_some())
    {
        run.tally.add(Counter::NeverBlockPassed, 1);
        return Verdict::Pass;
    }
    // SAFETY: `hit.rule` points into a live map value; `hits` is an aligned u64 only
    // updated atomically. The other fields are read or stored whole.
    unsafe {
        let last = (*hit.rule).last_hit_ns;
        let due = last == 0 || now.wrapping_sub(last) >= run.config.hit_event_interval_ns;
        if due && packet.is_none() {
            return Verdict::Deferred;
        }
        run.tally.add(hit.counter, 1);
        let _previous =
            atomic_xadd::<u64, u64, { AtomicOrdering::Relaxed }>(&raw mut (*hit.rule).hits, 1);
        (*hit.rule).last_hit_ns = now;
        if due && let Some(packet) = packet {
            events::rule_hit(run, packet, hit.counter, &*hit.rule);
        }
    }
    Verdict::Drop
}

/// Quarantine by IP, then block by IP, for the packet's two addresses.
///
/// Written as plain branches, not `Option` chains: the closures of `or_else` were
/// compiled into a BPF subprogram, whose call cost as much as a probe.
#[inline(always)]
fn by_address(run: &Run, src: &Side, dst: &Side, packet: Option<&Packet>) -> Verdict {
    if !src.filtered && !dst.filtered {
        return Verdict::Pass;
    }
    let active = run.active_rules;
    // A quarantined device's allowed peer is counted once the stage has decided, so a
    // deferred decision does not count it twice.
    let mut allowed = false;
    if active & active::QUARANTINE_IP != 0 {
        // Outgoing: the device is the source; incoming: the destination.
        let mut quarantined = live_rule(run, &QUARANTINE_IP, src, scope::SRC).map(|r| (r, dst));
        if quarantined.is_none() {
            quarantined = live_rule(run, &QUARANTINE_IP, dst, scope::DST).map(|r| (r, src));
        }
        if let Some((rule, peer)) = quarantined {
            if !peer_allowed(&peer.bytes()) {
                let hit = Hit {
                    rule,
                    counter: Counter::DropQuarantine,
                };
                return enforce(run, &src.bytes(), &dst.bytes(), packet, &hit);
            }
            allowed = true;
        }
    }
    let mut verdict = Verdict::Pass;
    if active & active::BLOCK_IP != 0 {
        let mut rule = live_rule(run, &BLOCK_IP, src, scope::SRC);
        if rule.is_none() {
            rule = live_rule(run, &BLOCK_IP, dst, scope::DST);
        }
        if let Some(rule) = rule {
            let hit = Hit {
                rule,
                counter: Counter::DropBlockIp,
            };
            verdict = enforce(run, &src.bytes(), &dst.bytes(), packet, &hit);
        }
    }
    if allowed && !matches!(verdict, Verdict::Deferred) {
        run.tally.add(Counter::QuarantineAllowed, 1);
    }
    verdict
}

/// The live rule for `side` on this side of the packet in an IP rule table, probed only
/// if the filter let the address through.
#[inline(always)]
fn live_rule(run: &Run, table: &Array<AddrRule>, side: &Side, on: u8) -> Option<*mut RuleValue> {
    if !side.filtered {
        return None;
    }
    let rule = maps::addr_rule(table, side.words, side.hash)?;
    live(rule, run.now, on)
}

#[inline(always)]
fn by_flow(run: &Run, packet: &Packet, key: &FlowKey) -> Option<Hit> {
    let (now, active) = (run.now, run.active_rules);
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
    if peer_allowed(peer) {
        run.tally.add(Counter::QuarantineAllowed, 1);
        return None;
    }
    Some(Hit {
        rule,
        counter: Counter::DropQuarantine,
    })
}

/// Whether a quarantined device may still reach `peer`.
#[inline(always)]
fn peer_allowed(peer: &[u8; 16]) -> bool {
    maps::lpm_lookup(&QUARANTINE_ALLOW, peer).is_some()
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
