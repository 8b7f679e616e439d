//! From a trigger to the actions a policy takes: the triggering connections (the records
//! of the device with the remote addresses the alert names, or the records a breach cites;
//! those still open are cut),
//! their remote endpoints, and per remote endpoint one action, so the never-block list or
//! another action's rule refuses only what it must. A remote address without a known port
//! is blocked as an address.

use std::{collections::BTreeSet, net::IpAddr};

use ipnet::IpNet;

use chrono::Utc;

use super::{
    config::{Direction, Do, Policy},
    trigger::{EVIDENCE_WINDOW, Trigger},
};
use crate::{
    capture::ConnRecord,
    ebpf::{Endpoint, Target},
    response::{ActionKind, NewAction},
    store::{Store, StoreError, connections::ConnQuery},
};
use sensor_common::rule::scope;

/// A protocol name's number; TCP for what has none.
fn proto_number(name: &str) -> u8 {
    crate::capture::live_flow::proto_number(name).unwrap_or(6)
}

/// What the device did with whom, as far as the trigger tells.
#[derive(Debug, Default)]
struct Evidence {
    /// Flows: (device side, remote side).
    flows: BTreeSet<(Endpoint, Endpoint)>,
    /// Remote endpoints the device connected to.
    endpoints: BTreeSet<Endpoint>,
    /// Remote addresses with no known port.
    portless: BTreeSet<IpAddr>,
}

impl Evidence {
    /// A connection of the device: cut it if still open, and, when the device opened it
    /// and `suspend` accepts its remote address, suspend that endpoint.
    fn add_record(&mut self, r: &ConnRecord, mine: &[IpAddr], suspend: impl Fn(IpAddr) -> bool) {
        let proto = proto_number(&r.proto);
        let (me, them, outbound) = if mine.contains(&r.orig_h) {
            ((r.orig_h, r.orig_p), (r.resp_h, r.resp_p), true)
        } else {
            ((r.resp_h, r.resp_p), (r.orig_h, r.orig_p), false)
        };
        let ep = |(addr, port): (IpAddr, u16)| Endpoint { addr, port, proto };
        // A connection that ended carries nothing more: a rule for it would only fill the
        // table.
        if !r.ended() {
            self.flows.insert((ep(me), ep(them)));
        }
        if !suspend(them.0) {
            return;
        }
        if outbound {
            self.endpoints.insert(ep(them));
        } else {
            // Someone reached the device: its address, not an ephemeral port.
            self.portless.insert(them.0);
        }
    }

    /// A connection a breach cites. Only those the responder answered count (a scan's
    /// probes of closed ports are not use of a service); an inside peer is not suspended
    /// or blocked for the whole network (a file server, the intranet), only the device's
    /// own open connections to it are cut.
    fn add_cited(&mut self, r: &ConnRecord, mine: &[IpAddr], internal: &[IpNet]) {
        if r.answered() {
            self.add_record(r, mine, |remote| {
                !internal.iter().any(|n| n.contains(&remote))
            });
        }
    }
}

fn gather(
    t: &Trigger,
    mine: &[IpAddr],
    internal: &[IpNet],
    store: &mut Store,
) -> Result<Evidence, StoreError> {
    let mut ev = Evidence::default();
    let at = t.at();
    let records = |store: &mut Store, addr: IpAddr| {
        store.connections(&ConnQuery {
            since: Some(at - EVIDENCE_WINDOW),
            until: Some(Utc::now().max(at) + EVIDENCE_WINDOW),
            addr: Some(addr),
            limit: 500,
        })
    };
    match t {
        Trigger::Alert(a) => {
            // Endpoints the alert names with their ports are the triggering ones; an
            // address without a port is resolved through the device's records with it.
            let named: BTreeSet<Endpoint> = a
                .alert
                .remote_endpoints
                .iter()
                .map(|e| Endpoint {
                    addr: e.addr,
                    port: e.port,
                    proto: proto_number(&e.proto),
                })
                .collect();
            for ip in &a.alert.remote_ips {
                let with_port: Vec<&Endpoint> = named.iter().filter(|e| e.addr == *ip).collect();
                let before = ev.flows.len();
                for r in records(store, *ip)?.iter().filter(|r| {
                    (mine.contains(&r.orig_h) || mine.contains(&r.resp_h))
                        && (with_port.is_empty()
                            || with_port
                                .iter()
                                .any(|e| e.port == r.resp_p || e.port == r.orig_p))
                }) {
                    ev.add_record(r, mine, |_| true);
                }
                if ev.flows.len() == before && with_port.is_empty() {
                    ev.portless.insert(*ip);
                }
            }
            ev.endpoints.extend(named);
            if ev.endpoints.is_empty()
                && ev.portless.is_empty()
                && let Some(device) = a.joined.device_id
            {
                for b in
                    store.breaches_between(device, at - EVIDENCE_WINDOW, at + EVIDENCE_WINDOW)?
                {
                    for r in store.connections_by_uid(&b.evidence.connections)? {
                        ev.add_cited(&r, mine, internal);
                    }
                }
            }
        }
        Trigger::Breach(b) => {
            for r in store.connections_by_uid(&b.evidence.connections)? {
                ev.add_cited(&r, mine, internal);
            }
        }
        Trigger::Incident(_) => {}
    }
    Ok(ev)
}

/// The actions `p` takes on `t` (about a device with addresses `mine`, in a network whose
/// inside is `internal`), each lasting `for_s` seconds (`None`: until cleared).
pub fn plan(
    p: &Policy,
    t: &Trigger,
    device: i64,
    mine: &[IpAddr],
    internal: &[IpNet],
    for_s: Option<u64>,
    store: &mut Store,
) -> Result<Vec<NewAction>, StoreError> {
    let why = t.describe();
    let new = |kind, targets: Vec<Target>| NewAction {
        kind,
        targets,
        device: Some(device.to_string()),
        scope: None,
        for_s,
        who: format!("policy:{}", p.name),
        why: why.clone(),
        mode: p.mode,
        policy: Some(p.name.clone()),
    };
    if p.action == Do::Quarantine {
        return Ok(vec![NewAction {
            device: Some(device.to_string()),
            scope: Some(match p.direction {
                Direction::In => scope::DST,
                Direction::Out => scope::SRC,
                Direction::Both => scope::BOTH,
            }),
            ..new(ActionKind::Quarantine, Vec::new())
        }]);
    }
    if matches!(p.action, Do::BlockOutbound | Do::PatternOfLife) {
        let kind = if p.action == Do::BlockOutbound {
            ActionKind::Egress
        } else {
            ActionKind::PatternOfLife
        };
        return Ok(vec![new(kind, Vec::new())]);
    }
    let ev = gather(t, mine, internal, store)?;
    let block = matches!(p.action, Do::BlockAndSuspend | Do::BlockConnections);
    let suspend = matches!(p.action, Do::BlockAndSuspend | Do::SuspendEndpoint);
    let mut actions = Vec::new();
    let remotes: BTreeSet<IpAddr> = ev
        .endpoints
        .iter()
        .map(|e| e.addr)
        .chain(ev.flows.iter().map(|(_, them)| them.addr))
        .collect();
    for remote in remotes {
        if block {
            let flows: Vec<Target> = ev
                .flows
                .iter()
                .filter(|(_, them)| them.addr == remote)
                .map(|(me, them)| Target::BlockFlow { a: *me, b: *them })
                .collect();
            if !flows.is_empty() {
                actions.push(new(ActionKind::Block, flows));
            }
        }
        if suspend {
            for e in ev.endpoints.iter().filter(|e| e.addr == remote) {
                actions.push(new(
                    ActionKind::Suspend,
                    vec![Target::Suspend { endpoint: *e }],
                ));
            }
        }
    }
    for addr in ev.portless {
        actions.push(new(
            ActionKind::Block,
            vec![Target::BlockIp {
                addr,
                scope: scope::BOTH,
            }],
        ));
    }
    Ok(actions)
}
