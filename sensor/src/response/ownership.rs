//! One owner per kernel rule: a new action's targets are refused when another active
//! action holds their slot, rather than one action silently taking over another's rule.
//!
//! A hash-keyed rule names its owner in the kernel, so the check is one lookup per target
//! however many actions are active; prefix-keyed rules (CIDR blocks, the lists) are
//! checked against the active actions in the store.

use super::{
    Action, ActionState,
    responder::{Responder, ResponseError, describe},
};
use crate::ebpf::{Target, rules::Owner};

impl Responder {
    /// Refuses targets another active action owns.
    pub(super) fn check_unowned(&mut self, targets: &[Target]) -> Result<(), ResponseError> {
        let (rules, store, _) = self.parts();
        let mut by_prefix = Vec::new();
        for t in targets {
            match rules.owner(t)? {
                Owner::Action(id) if id != 0 => {
                    if let Some(held) = store.action(id as i64)?
                        && held.state == ActionState::Active
                    {
                        return Err(owned(t, &held));
                    }
                }
                Owner::Action(_) | Owner::Free => {}
                Owner::Unknown => by_prefix.push(t),
            }
        }
        if by_prefix.is_empty() {
            return Ok(());
        }
        for held in store.active_actions()? {
            if let Some(t) = by_prefix
                .iter()
                .find(|t| held.targets.iter().any(|h| h.slot() == t.slot()))
            {
                return Err(owned(t, &held));
            }
        }
        Ok(())
    }
}

/// The refusal of `t`, which `held` enforces.
fn owned(t: &Target, held: &Action) -> ResponseError {
    ResponseError::Invalid(format!(
        "`{t}` is already enforced by action {} ({}); clear it first to change it",
        held.id,
        describe(held)
    ))
}
