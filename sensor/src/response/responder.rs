//! Applying, clearing and expiring actions: the only writer of kernel rules.
//!
//! The store is written first and the kernel second when an action starts (a crash between
//! the two leaves an action whose rules reconcile restores), and the kernel first and the
//! store second when one ends (a crash between leaves an action that reconcile expires or
//! clears again). Either way the kernel never enforces a rule nobody can see.

use std::net::IpAddr;

use chrono::{DateTime, Utc};
use ipnet::IpNet;
use sensor_common::rule::scope;
use serde::{Deserialize, Serialize};
use tracing::{info, warn};

use super::{Action, ActionKind, ActionState, Cleared, Mode, NewAction};
use crate::{
    clock::Clock,
    ebpf::{MapsError, RuleError, Rules, Target},
    store::{Store, StoreError},
};

/// Why an action could not be taken.
#[derive(Debug, thiserror::Error)]
pub enum ResponseError {
    /// The request makes no sense; the message says what to change.
    #[error("{0}")]
    Invalid(String),
    /// No such action, or no such device.
    #[error("{0}")]
    NotFound(String),
    /// The store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// A kernel map failed (boxed: the error is large and rare).
    #[error(transparent)]
    Rule(Box<RuleError>),
    /// A kernel map could not be read.
    #[error(transparent)]
    Maps(#[from] MapsError),
    /// The clocks could not be read.
    #[error("failed to read the clock")]
    Clock(#[from] nix::Error),
}

impl From<RuleError> for ResponseError {
    fn from(err: RuleError) -> Self {
        Self::Rule(Box::new(err))
    }
}

/// The lists the agent's settings own: addresses no rule may drop, and peers quarantined
/// devices may still reach (a DNS server, the SOC's jump host).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ConfigLists {
    /// Never dropped.
    pub never_block: Vec<IpNet>,
    /// Reachable from quarantine.
    pub quarantine_allow: Vec<IpNet>,
}

impl ConfigLists {
    /// The lists as kernel targets.
    pub fn targets(&self) -> Vec<Target> {
        self.never_block
            .iter()
            .map(|net| Target::NeverBlock { net: *net })
            .chain(
                self.quarantine_allow
                    .iter()
                    .map(|net| Target::QuarantineAllow { net: *net }),
            )
            .map(|t| t.canonical())
            .collect()
    }
}

/// A kernel rule as people read it: the target, its hits, and the action that owns it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct RuleView {
    /// The rule in words.
    pub rule: String,
    /// The rule.
    pub target: Target,
    /// The owning action's id (0 for the configured lists).
    pub action_id: u64,
    /// Packets it dropped (for suspends: new connections refused).
    pub hits: u64,
    /// Seconds until it expires; `None` for never.
    pub expires_in_s: Option<f64>,
    /// The owning action, if the store knows it.
    pub action: Option<Action>,
}

impl RuleView {
    /// A kernel rule as seen at kernel monotonic time `now_ns`, with its owner if known.
    pub fn of(rule: crate::ebpf::Rule, now_ns: u64, action: Option<Action>) -> Self {
        Self {
            rule: rule.target.to_string(),
            expires_in_s: (rule.value.expires_ns != 0)
                .then(|| (rule.value.expires_ns as f64 - now_ns as f64) / 1e9),
            target: rule.target,
            action_id: rule.value.action_id,
            hits: rule.value.hits,
            action,
        }
    }
}

/// Applies and clears actions; owns a handle on the rule maps and a store connection.
pub struct Responder {
    rules: Rules,
    store: Store,
    lists: ConfigLists,
}

impl std::fmt::Debug for Responder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Responder")
            .field("lists", &self.lists)
            .finish_non_exhaustive()
    }
}

/// The longest duration an action may be given, in seconds.
pub(super) const TEN_YEARS_S: u64 = 10 * 365 * 86_400;

/// Kernel monotonic expiry for a UTC end: 0 (never) for none, at least 1 ns from now.
pub(crate) fn kernel_expiry(until: Option<DateTime<Utc>>) -> Result<u64, nix::Error> {
    let Some(until) = until else {
        return Ok(0);
    };
    let left = (until - Utc::now()).num_nanoseconds().unwrap_or(i64::MAX);
    Ok(Clock::monotonic_now()?.saturating_add(u64::try_from(left).unwrap_or(0).max(1)))
}

impl Responder {
    /// A responder on these maps and this store, keeping the configured lists.
    pub fn new(rules: Rules, store: Store, lists: ConfigLists) -> Self {
        Self {
            rules,
            store,
            lists,
        }
    }

    pub(super) fn parts(&mut self) -> (&mut Rules, &mut Store, &ConfigLists) {
        (&mut self.rules, &mut self.store, &self.lists)
    }

    /// The kernel's rule maps.
    pub(super) fn rules_mut(&mut self) -> &mut Rules {
        &mut self.rules
    }

    /// The store connection the responder writes with.
    pub fn store(&mut self) -> &mut Store {
        &mut self.store
    }

    /// Takes an action: checks it, records it, and (in autonomous mode) writes its rules;
    /// in confirm mode it waits as pending, in dry-run mode it is only recorded.
    pub fn apply(&mut self, request: &NewAction) -> Result<Action, ResponseError> {
        let now = Utc::now();
        let now_ns = now.timestamp_nanos_opt().unwrap_or(i64::MAX);
        let (targets, device_id) = match request.kind {
            ActionKind::Quarantine => self.quarantine_targets(request, now_ns)?,
            // Their rules come as the device opens connections (see `cut`).
            ActionKind::Egress | ActionKind::PatternOfLife => {
                let who = request.device.as_deref().ok_or_else(|| {
                    ResponseError::Invalid(format!("a {} needs a device", request.kind))
                })?;
                let id = self.store.find_device(who, now_ns)?.ok_or_else(|| {
                    ResponseError::NotFound(format!(
                        "no device known as {who} (see `sensor devices`)"
                    ))
                })?;
                (Vec::new(), Some(id))
            }
            ActionKind::Block | ActionKind::Suspend => {
                if request.targets.is_empty() {
                    return Err(ResponseError::Invalid(format!(
                        "a {} needs at least one target",
                        request.kind
                    )));
                }
                for t in &request.targets {
                    check_kind(request.kind, t)?;
                }
                // The device it is about: the one named (a policy names the device its
                // trigger was about), else whoever holds the first target's address.
                let device = match (&request.device, request.targets[0].addresses().first()) {
                    (Some(who), _) => self.store.find_device(who, now_ns)?,
                    (None, Some(addr)) => self.store.device_at(*addr, now_ns)?,
                    (None, None) => None,
                };
                (request.targets.clone(), device)
            }
        };
        for t in &targets {
            self.check_never_block(t)?;
        }
        let targets: Vec<Target> = targets.iter().map(Target::canonical).collect();
        if request.mode == Mode::Autonomous {
            self.check_unowned(&targets)?;
        }
        if request.who.trim().is_empty() {
            return Err(ResponseError::Invalid(
                "say who asks for the action".to_owned(),
            ));
        }
        if request.for_s == Some(0) {
            return Err(ResponseError::Invalid(
                "a duration of 0 would end the action at once; leave it out for \
                 \"until cleared\""
                    .to_owned(),
            ));
        }
        // Capped at ten years: longer is "until cleared" in all but name.
        let duration_s = request.for_s.map(|s| s.min(TEN_YEARS_S));
        let mut action = Action {
            id: 0,
            kind: request.kind,
            state: match request.mode {
                Mode::Autonomous => ActionState::Active,
                Mode::Confirm => ActionState::Pending,
                Mode::DryRun => ActionState::DryRun,
            },
            targets,
            who: request.who.clone(),
            why: request.why.clone(),
            created: now,
            until: None,
            device_id,
            cleared: None,
            policy: request.policy.clone(),
            duration_s,
            activated: None,
            hits: 0,
        };
        action.id = self.store.insert_action(&action)?;
        let what = match action.state {
            ActionState::Active => {
                if let Err(err) = self.enforce(&mut action, now) {
                    action.state = ActionState::Cleared;
                    self.store.update_action(&action)?;
                    self.store.audit(
                        action.id,
                        &action.who,
                        "failed",
                        &format!("the kernel refused its rules: {err}"),
                    )?;
                    return Err(err);
                }
                "action"
            }
            ActionState::Pending => "action_pending",
            _ => "action_dry_run",
        };
        let summary = describe(&action);
        self.store.audit(
            action.id,
            &action.who,
            action.state.as_str(),
            &format!("{summary}; evidence: {}", action.why),
        )?;
        if let Some(device) = device_id {
            self.store
                .log_device_event(device, now, what, Some(action.id), &summary)?;
        }
        info!(action = action.id, state = %action.state, who = %action.who, why = %action.why, "{summary}");
        Ok(action)
    }

    /// Makes `action` active from `now` for its duration: state and end in the store first,
    /// then its rules in the kernel (undone if one fails).
    pub(super) fn enforce(
        &mut self,
        action: &mut Action,
        now: DateTime<Utc>,
    ) -> Result<(), ResponseError> {
        action.state = ActionState::Active;
        action.activated = Some(now);
        action.until = action
            .duration_s
            .map(|s| now + chrono::Duration::seconds(s as i64));
        self.store.update_action(action)?;
        let expires = kernel_expiry(action.until)?;
        for (i, t) in action.targets.iter().enumerate() {
            if let Err(err) = self.rules.insert(t, action.id as u64, expires) {
                for done in &action.targets[..i] {
                    let _ = self.rules.remove(done);
                }
                return Err(err.into());
            }
        }
        Ok(())
    }

    /// Ends an active action as `state`: its hits are kept, its rules leave the kernel,
    /// then the store says so.
    pub(super) fn end(
        &mut self,
        action: &mut Action,
        state: ActionState,
        who: &str,
        now: DateTime<Utc>,
    ) -> Result<(), ResponseError> {
        action.hits += self.hits_of(action.id)?;
        self.remove_rules(action)?;
        action.state = state;
        if state == ActionState::Cleared {
            action.cleared = Some(Cleared {
                who: who.to_owned(),
                at: now,
            });
        }
        self.store.update_action(action)?;
        self.store.audit(
            action.id,
            who,
            state.as_str(),
            &format!("{} blocked attempts", action.hits),
        )?;
        if let Some(device) = action.device_id {
            let (kind, words) = if state == ActionState::Cleared {
                ("action_cleared", format!("cleared by {who}"))
            } else {
                ("action_expired", "expired".to_owned())
            };
            self.store.log_device_event(
                device,
                now,
                kind,
                Some(action.id),
                &format!("{words}: {}", describe(action)),
            )?;
        }
        info!(
            action = action.id,
            who,
            hits = action.hits,
            "{}: {}",
            state,
            describe(action)
        );
        Ok(())
    }

    /// The kernel's hits on action `id`'s rules.
    pub(super) fn hits_of(&self, id: i64) -> Result<u64, ResponseError> {
        Ok(self
            .rules
            .list()?
            .iter()
            .filter(|r| r.value.action_id == id as u64)
            .map(|r| r.value.hits)
            .sum())
    }

    /// Clears an action: an active one's rules leave the kernel; a pending one is refused.
    pub fn clear(&mut self, id: i64, who: &str) -> Result<Action, ResponseError> {
        let Some(mut action) = self.store.action(id)? else {
            return Err(ResponseError::NotFound(format!(
                "no action {id} (see `sensor actions`)"
            )));
        };
        match action.state {
            ActionState::Active => self.end(&mut action, ActionState::Cleared, who, Utc::now())?,
            ActionState::Pending => {
                action.state = ActionState::Cleared;
                action.cleared = Some(Cleared {
                    who: who.to_owned(),
                    at: Utc::now(),
                });
                self.store.update_action(&action)?;
                self.store
                    .audit(id, who, "cleared", "refused while pending")?;
            }
            other => {
                return Err(ResponseError::Invalid(format!(
                    "action {id} is already {other}"
                )));
            }
        }
        Ok(action)
    }

    /// Ends the active actions whose time is up: their rules leave the kernel (which already
    /// ignores them) and they are marked expired. Returns their ids.
    pub fn expire_due(&mut self, now: DateTime<Utc>) -> Result<Vec<i64>, ResponseError> {
        let mut expired = Vec::new();
        for mut action in self.store.active_actions()? {
            if action.until.is_some_and(|u| u <= now) {
                self.end(&mut action, ActionState::Expired, "clock", now)?;
                expired.push(action.id);
            }
        }
        Ok(expired)
    }

    /// The kernel's rules with their owners.
    pub fn rules(&mut self) -> Result<Vec<RuleView>, ResponseError> {
        let now = Clock::monotonic_now()?;
        let mut views = Vec::new();
        for rule in self.rules.list()? {
            let action = if rule.value.action_id == 0 {
                None
            } else {
                self.store.action(rule.value.action_id as i64)?
            };
            views.push(RuleView::of(rule, now, action));
        }
        Ok(views)
    }

    fn remove_rules(&mut self, action: &Action) -> Result<(), ResponseError> {
        for t in &action.targets {
            if !self.rules.remove(t)? {
                warn!(action = action.id, rule = %t, "rule was already gone from the kernel");
            }
        }
        Ok(())
    }

    pub(super) fn check_never_block(&self, target: &Target) -> Result<(), ResponseError> {
        for addr in target.addresses() {
            if let Some(net) = self.lists.never_block.iter().find(|n| n.contains(&addr)) {
                return Err(ResponseError::Invalid(format!(
                    "{addr} is on the never-block list ({net}); the kernel would not drop it. \
                     Remove it from --never-block first if you mean it"
                )));
            }
        }
        Ok(())
    }

    /// The rules that quarantine a device: its MAC if known, and every address it holds.
    fn quarantine_targets(
        &mut self,
        request: &NewAction,
        now_ns: i64,
    ) -> Result<(Vec<Target>, Option<i64>), ResponseError> {
        let Some(who) = request.device.as_deref() else {
            return Err(ResponseError::Invalid(
                "a quarantine needs a device (address, MAC or host name)".to_owned(),
            ));
        };
        let dirs = request.scope.unwrap_or(scope::BOTH);
        if dirs == 0 || dirs & !scope::BOTH != 0 {
            return Err(ResponseError::Invalid(format!(
                "bad quarantine direction bits {dirs}"
            )));
        }
        let Some(id) = self.store.find_device(who, now_ns)? else {
            // An address nobody has been seen with can still be quarantined by address.
            if let Ok(addr) = who.parse::<IpAddr>() {
                return Ok((vec![Target::QuarantineIp { addr, scope: dirs }], None));
            }
            return Err(ResponseError::NotFound(format!(
                "no device known as {who} (see `sensor devices`)"
            )));
        };
        let device = self
            .store
            .device(id)?
            .ok_or_else(|| ResponseError::NotFound(format!("device {id} is gone")))?;
        let mut targets = Vec::new();
        if let Some(mac) = device.mac.as_deref().and_then(parse_mac) {
            targets.push(Target::QuarantineMac { mac, scope: dirs });
        }
        for a in device.addresses.iter().filter(|a| a.until.is_none()) {
            targets.push(Target::QuarantineIp {
                addr: a.addr,
                scope: dirs,
            });
        }
        if let Ok(addr) = who.parse::<IpAddr>()
            && !targets.contains(&Target::QuarantineIp { addr, scope: dirs })
        {
            targets.push(Target::QuarantineIp { addr, scope: dirs });
        }
        if targets.is_empty() {
            return Err(ResponseError::Invalid(format!(
                "device {id} has neither a MAC nor a current address to quarantine"
            )));
        }
        Ok((targets, Some(id)))
    }
}

/// Checks that a target fits the action's kind.
fn check_kind(kind: ActionKind, target: &Target) -> Result<(), ResponseError> {
    let ok = match kind {
        ActionKind::Block => matches!(
            target,
            Target::BlockIp { .. }
                | Target::BlockEndpoint { .. }
                | Target::BlockCidr { .. }
                | Target::BlockFlow { .. }
        ),
        ActionKind::Suspend => matches!(target, Target::Suspend { .. }),
        ActionKind::Egress | ActionKind::PatternOfLife => {
            matches!(target, Target::BlockFlow { .. })
        }
        ActionKind::Quarantine => matches!(
            target,
            Target::QuarantineIp { .. } | Target::QuarantineMac { .. }
        ),
    };
    if ok {
        Ok(())
    } else {
        Err(ResponseError::Invalid(format!(
            "`{target}` is not a {kind} rule"
        )))
    }
}

/// `aa:bb:cc:dd:ee:ff` to bytes.
pub fn parse_mac(s: &str) -> Option<[u8; 6]> {
    let mut mac = [0u8; 6];
    let mut parts = s.split([':', '-']);
    for b in &mut mac {
        *b = u8::from_str_radix(parts.next()?, 16).ok()?;
    }
    parts.next().is_none().then_some(mac)
}

/// One line for logs and the device timeline.
pub fn describe(action: &Action) -> String {
    let rules = action
        .targets
        .iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join(", ");
    let until = match (action.until, action.duration_s) {
        (Some(u), _) => format!("until {}", u.format("%Y-%m-%d %H:%M:%S UTC")),
        (None, Some(s)) => format!(
            "for {}",
            humantime::format_duration(std::time::Duration::from_secs(s))
        ),
        (None, None) => "until cleared".to_owned(),
    };
    let why = if action.why.is_empty() {
        String::new()
    } else {
        format!(" ({})", action.why)
    };
    format!("{} by {}: {rules} {until}{why}", action.kind, action.who)
}

#[cfg(test)]
mod tests {
    use super::parse_mac;

    #[test]
    fn macs_parse_with_colons_or_dashes() {
        assert_eq!(parse_mac("02:00:0a:0B:0c:01"), Some([2, 0, 10, 11, 12, 1]));
        assert_eq!(parse_mac("02-00-0a-0b-0c-01"), Some([2, 0, 10, 11, 12, 1]));
        assert_eq!(parse_mac("02:00:0a:0b:0c"), None);
        assert_eq!(parse_mac("02:00:0a:0b:0c:01:02"), None);
    }
}
