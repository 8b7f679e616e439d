//! Autonomous response: policies that turn EDR alerts, breaches and incidents into
//! actions (at once, after approval, or as a dry run), through the one responder, so every
//! rule a policy writes is owned, audited and cleared like a person's. Runs by cursor after
//! fusion, so each trigger is judged once; triggers older than [`MAX_AGE`] (an import of
//! last month's alerts, a first start on an old database) are recorded by nobody.
//!
//! # Layout
//! - [`config`]: the policy format and the shipped policy.
//! - [`trigger`]: what a policy reacts to, and whether it admits it.
//! - [`plan`]: the actions a policy takes on a trigger.

pub mod config;
pub mod plan;
pub mod trigger;

use std::{net::IpAddr, sync::Mutex};

use chrono::{Duration, Utc};
use tracing::{debug, info, warn};

use crate::{
    export::RecordKind,
    response::{Responder, ResponseError},
    store::{Store, StoreError},
};
use config::Policy;
use trigger::Trigger;

/// Triggers older than this start nothing.
pub const MAX_AGE: Duration = Duration::hours(1);

/// The cursor's name among the store's consumers.
const CURSOR: &str = "(policy)";

/// Rows read per step.
const BATCH: usize = 200;

/// The policies in force.
#[derive(Clone, Debug)]
pub struct Policies {
    list: Vec<Policy>,
    internal: Vec<ipnet::IpNet>,
}

impl Policies {
    /// The shipped policy (unless replaced) and `configured`, for a network whose inside
    /// is `internal`.
    pub fn new(configured: &[Policy], internal: &[ipnet::IpNet]) -> Self {
        Self {
            list: config::in_force(configured),
            internal: internal.to_vec(),
        }
    }

    /// Their names.
    pub fn names(&self) -> Vec<&str> {
        self.list.iter().map(|p| p.name.as_str()).collect()
    }

    /// Judges the alerts, breaches and incidents stored since the last step; returns how
    /// many actions were taken (active, pending or dry run).
    pub fn step(&self, store: &mut Store, responder: &Mutex<Responder>) -> Result<u64, StoreError> {
        self.step_with(store, responder, true)
    }

    /// As [`Policies::step`]; the alerts only if `alerts` (see
    /// [`crate::fusion::Fusion::step_with`]).
    pub fn step_with(
        &self,
        store: &mut Store,
        responder: &Mutex<Responder>,
        alerts: bool,
    ) -> Result<u64, StoreError> {
        let mut taken = 0;
        for kind in [
            RecordKind::EdrAlerts,
            RecordKind::Breaches,
            RecordKind::Incidents,
        ] {
            if kind == RecordKind::EdrAlerts && !alerts {
                continue;
            }
            store.consume(
                CURSOR,
                kind,
                BATCH,
                |s, after, n| {
                    Ok(match kind {
                        RecordKind::EdrAlerts => s
                            .edr_alerts_after(after, n)?
                            .into_iter()
                            .map(|a| (a.id, Trigger::Alert(Box::new(a))))
                            .collect(),
                        RecordKind::Breaches => s
                            .breaches_after(after, n)?
                            .into_iter()
                            .map(|b| (b.id, Trigger::Breach(b)))
                            .collect(),
                        _ => s
                            .incidents_after(after, n)?
                            .into_iter()
                            .map(|i| (i.id, Trigger::Incident(Box::new(i))))
                            .collect(),
                    })
                },
                |store, t| {
                    taken += self.judge(&t, store, responder)?;
                    Ok(())
                },
            )?;
        }
        Ok(taken)
    }

    fn judge(
        &self,
        t: &Trigger,
        store: &mut Store,
        responder: &Mutex<Responder>,
    ) -> Result<u64, StoreError> {
        let Some(device) = t.device() else {
            return Ok(0);
        };
        if t.at() < Utc::now() - MAX_AGE {
            debug!(trigger = %t.describe(), "too old for the response policies");
            return Ok(0);
        }
        let addrs: Vec<IpAddr> = store
            .device(device)?
            .map(|d| d.addresses.iter().map(|a| a.addr).collect())
            .unwrap_or_default();
        let mut taken = 0;
        for p in &self.list {
            if !t.admitted_by(p, &addrs, store)? {
                continue;
            }
            let for_s = duration(p, device, store)?;
            for request in plan::plan(p, t, device, &addrs, &self.internal, for_s, store)? {
                let result = match responder.lock() {
                    Ok(mut r) => r.apply(&request),
                    Err(_) => return Err(StoreError::Task("the responder is poisoned".to_owned())),
                };
                match result {
                    Ok(action) => {
                        taken += 1;
                        info!(policy = %p.name, action = action.id, state = %action.state, trigger = %t.describe(), "policy acted");
                    }
                    Err(ResponseError::Invalid(why)) => {
                        info!(policy = %p.name, trigger = %t.describe(), %why, "policy did not act");
                    }
                    Err(err) => {
                        warn!(policy = %p.name, trigger = %t.describe(), error = %err, "policy failed to act");
                    }
                }
            }
        }
        Ok(taken)
    }
}

/// How long `p` acts on `device` now: its duration, times `repeat_growth` for each time it
/// acted on the device within `repeat_within`, at most `repeat_max`; `None` for until
/// cleared.
fn duration(p: &Policy, device: i64, store: &mut Store) -> Result<Option<u64>, StoreError> {
    let base = p.duration.as_secs();
    if base == 0 {
        return Ok(None);
    }
    let within = Duration::from_std(p.repeat_within).unwrap_or(Duration::MAX);
    let since = Utc::now()
        .checked_sub_signed(within)
        .unwrap_or(chrono::DateTime::<Utc>::MIN_UTC);
    let repeats = store.policy_actions_since(&p.name, device, since)?;
    let grown = base as f64 * p.repeat_growth.max(1.0).powi(repeats.min(64) as i32);
    let capped = grown.min(p.repeat_max.as_secs().max(base) as f64);
    Ok(Some(capped as u64))
}

#[cfg(test)]
mod tests {
    use chrono::Utc;

    use super::{config, duration};
    use crate::{
        ebpf::{Endpoint, Target},
        response::{Action, ActionKind, ActionState},
        store::Store,
    };

    #[test]
    fn tags_select_devices() {
        use super::trigger::Trigger;
        use crate::detect::{Breach, Evidence};

        let mut store = Store::open_in_memory().unwrap();
        let (vip, other) = (
            store.create_device(None, true, 0).unwrap(),
            store.create_device(None, true, 0).unwrap(),
        );
        assert_eq!(store.tag_device(vip, "vip", false).unwrap(), ["vip"]);
        let policy: config::Policy = toml::from_str(
            "name = \"p\"\ndo = \"quarantine\"\n[when]\non = \"breach\"\ntags = [\"vip\"]\n",
        )
        .unwrap();
        let breach = |device| {
            Trigger::Breach(Breach {
                id: 1,
                model: "scan-vertical".into(),
                model_version: 1,
                device_id: Some(device),
                ts: Utc::now(),
                score: 60,
                evidence: Evidence {
                    key: String::new(),
                    summary: String::new(),
                    metrics: Vec::new(),
                    connections: Vec::new(),
                },
            })
        };
        assert!(breach(vip).admitted_by(&policy, &[], &mut store).unwrap());
        assert!(!breach(other).admitted_by(&policy, &[], &mut store).unwrap());
        store.tag_device(vip, "vip", true).unwrap();
        assert!(!breach(vip).admitted_by(&policy, &[], &mut store).unwrap());
    }

    #[test]
    fn repeat_offenders_get_longer_actions_up_to_the_cap() {
        let mut store = Store::open_in_memory().unwrap();
        let device = store.create_device(None, true, 0).unwrap();
        let p = config::shipped();
        assert_eq!(duration(&p, device, &mut store).unwrap(), Some(7200));
        for n in 0..2 {
            store
                .insert_action(&Action {
                    id: 0,
                    kind: ActionKind::Suspend,
                    state: ActionState::Expired,
                    targets: vec![Target::Suspend {
                        endpoint: Endpoint {
                            addr: "203.0.113.66".parse().unwrap(),
                            port: 443 + n,
                            proto: 6,
                        },
                    }],
                    who: "policy:edr-network-evidence".into(),
                    why: "test".into(),
                    created: Utc::now(),
                    until: None,
                    device_id: Some(device),
                    cleared: None,
                    policy: Some(p.name.clone()),
                    duration_s: Some(7200),
                    activated: None,
                    hits: 0,
                })
                .unwrap();
        }
        // Two before: 2h × 2 × 2 = 8h.
        assert_eq!(duration(&p, device, &mut store).unwrap(), Some(8 * 3600));
        let capped = config::Policy {
            repeat_max: std::time::Duration::from_hours(3),
            ..p.clone()
        };
        assert_eq!(
            duration(&capped, device, &mut store).unwrap(),
            Some(3 * 3600)
        );
        // Another device starts from the base.
        let other = store.create_device(None, true, 0).unwrap();
        assert_eq!(duration(&p, other, &mut store).unwrap(), Some(7200));
    }
}
