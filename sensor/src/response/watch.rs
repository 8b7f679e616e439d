//! Egress and pattern-of-life actions: they hold no rule when taken; while they are
//! active, each new connection their device opens is judged as the event ring reports it,
//! and the ones they forbid are cut by a flow rule the action owns (so it is listed,
//! audited, counted and cleared with the action). A connection's first packets pass before
//! the cut: the ring is drained every 100 ms.

use std::net::IpAddr;

use chrono::Utc;
use tracing::info;

use super::{ActionKind, ActionState, Responder, ResponseError, responder::kernel_expiry};
use crate::ebpf::{Endpoint, Target};

/// An active egress or pattern-of-life action, as the pipeline checks new flows against it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Watch {
    /// The action.
    pub action_id: i64,
    /// Egress or pattern of life.
    pub kind: ActionKind,
    /// The device.
    pub device_id: i64,
    /// The device's current addresses.
    pub addrs: Vec<IpAddr>,
}

impl Responder {
    /// The active egress and pattern-of-life actions.
    pub fn watches(&mut self) -> Result<Vec<Watch>, ResponseError> {
        let now = Utc::now().timestamp_nanos_opt().unwrap_or(i64::MAX);
        let mut out = Vec::new();
        for a in self.store().active_actions()? {
            if !matches!(a.kind, ActionKind::Egress | ActionKind::PatternOfLife) {
                continue;
            }
            let Some(device) = a.device_id else { continue };
            let addrs = self
                .store()
                .device(device)?
                .map(|d| {
                    d.addresses
                        .iter()
                        .filter(|x| {
                            x.until
                                .is_none_or(|u| u.timestamp_nanos_opt().unwrap_or(0) > now)
                        })
                        .map(|x| x.addr)
                        .collect()
                })
                .unwrap_or_default();
            out.push(Watch {
                action_id: a.id,
                kind: a.kind,
                device_id: device,
                addrs,
            });
        }
        Ok(out)
    }

    /// Cuts the connection from `from` to `to` for action `id`: a flow rule it owns, until
    /// it ends. Returns whether a rule was written (not if the action ended, the flow is
    /// already cut, or the never-block list holds an end).
    pub fn cut(
        &mut self,
        id: i64,
        from: Endpoint,
        to: Endpoint,
        why: &str,
    ) -> Result<bool, ResponseError> {
        let Some(mut action) = self.store().action(id)? else {
            return Ok(false);
        };
        let target = Target::BlockFlow { a: from, b: to }.canonical();
        if action.state != ActionState::Active || action.targets.contains(&target) {
            return Ok(false);
        }
        if self.check_never_block(&target).is_err() {
            return Ok(false);
        }
        let expires = kernel_expiry(action.until)?;
        self.rules_mut().insert(&target, id as u64, expires)?;
        action.targets.push(target.clone());
        self.store().update_action(&action)?;
        let who = action
            .policy
            .as_deref()
            .map_or_else(|| action.who.clone(), |p| format!("policy:{p}"));
        self.store()
            .audit(id, &who, "cut", &format!("{target} ({why})"))?;
        info!(action = id, %target, why, "connection cut");
        Ok(true)
    }
}

/// What the pipeline keeps to judge new connections: the responder, the watches in force
/// (refreshed every second), and the inside networks.
pub struct Watcher {
    responder: std::sync::Arc<std::sync::Mutex<Responder>>,
    watches: Vec<Watch>,
    inside: Vec<ipnet::IpNet>,
}

impl std::fmt::Debug for Watcher {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Watcher")
            .field("watches", &self.watches)
            .finish_non_exhaustive()
    }
}

impl Watcher {
    /// A watcher writing through `responder`, with `inside` as the inside networks.
    pub fn new(
        responder: std::sync::Arc<std::sync::Mutex<Responder>>,
        inside: Vec<ipnet::IpNet>,
    ) -> Self {
        Self {
            responder,
            watches: Vec::new(),
            inside,
        }
    }

    /// Reads the watches in force again.
    pub fn refresh(&mut self) {
        let got = self.responder.lock().map(|mut r| r.watches());
        match got {
            Ok(Ok(w)) => self.watches = w,
            Ok(Err(err)) => {
                tracing::warn!(error = %err, "failed to read the egress and pattern-of-life actions");
            }
            Err(_) => tracing::warn!("the responder is poisoned"),
        }
    }

    /// Judges a connection from `from` to `to` (the side that opened it first); `usual`
    /// says whether a device's pattern of life holds a peer and port. Cuts what a watch
    /// forbids.
    pub fn judge(
        &self,
        from: Endpoint,
        to: Endpoint,
        usual: impl Fn(i64, IpAddr, u16, u8, bool) -> bool,
    ) {
        if self.watches.is_empty() {
            return;
        }
        let inside = self.inside.iter().any(|n| n.contains(&to.addr));
        for w in self.watches.iter().filter(|w| w.addrs.contains(&from.addr)) {
            let why = match w.kind {
                ActionKind::Egress if !inside => "out of the inside networks",
                ActionKind::PatternOfLife
                    if !usual(w.device_id, to.addr, to.port, to.proto, inside) =>
                {
                    "not in the device's pattern of life"
                }
                _ => continue,
            };
            let result = self
                .responder
                .lock()
                .map(|mut r| r.cut(w.action_id, from, to, why));
            if let Ok(Err(err)) = result {
                tracing::warn!(action = w.action_id, error = %err, "failed to cut a connection");
            }
        }
    }
}
