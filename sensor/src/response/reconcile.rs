//! Making the kernel and the store agree, when the agent starts (after a crash, a restart,
//! or a kernel that kept enforcing while no agent ran).
//!
//! The store is the truth: an active action's rules are restored if missing, an expired
//! one is marked so and its rules removed, and a kernel rule no active action owns (an
//! orphan) is removed. The configured lists are set to exactly what the settings say.
//! Every change is logged and returned.

use std::collections::HashSet;

use chrono::Utc;
use serde::Serialize;
use tracing::{info, warn};

use super::{Responder, ResponseError, responder::kernel_expiry};
use crate::ebpf::Target;

/// What reconciling changed.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct Reconciled {
    /// Actions found expired.
    pub expired: Vec<i64>,
    /// Kernel rules no active action owned, removed.
    pub removed: Vec<String>,
    /// Rules of active actions missing from the kernel, written back.
    pub restored: Vec<String>,
    /// Rules the kernel and the store agreed on.
    pub kept: usize,
}

impl Responder {
    /// Reconciles the kernel's rules with the store's actions; see the module docs.
    pub fn reconcile(&mut self) -> Result<Reconciled, ResponseError> {
        let mut out = Reconciled {
            expired: self.expire_due(Utc::now())?,
            ..Reconciled::default()
        };
        let (rules, store, lists) = self.parts();
        let active = store.active_actions()?;
        // What should be in the kernel: (target, owner).
        let mut wanted: HashSet<(Target, u64)> = active
            .iter()
            .flat_map(|a| a.targets.iter().map(|t| (t.canonical(), a.id as u64)))
            .collect();
        wanted.extend(lists.targets().into_iter().map(|t| (t, 0)));
        let mut present = HashSet::new();
        for rule in rules.list()? {
            let key = (rule.target.canonical(), rule.value.action_id);
            if wanted.contains(&key) {
                out.kept += 1;
                present.insert(key);
                continue;
            }
            warn!(rule = %rule.target, action = rule.value.action_id,
                "removing a kernel rule no active action owns");
            rules.remove(&rule.target)?;
            out.removed.push(rule.target.to_string());
        }
        for action in &active {
            let expires = kernel_expiry(action.until)?;
            for t in &action.targets {
                let key = (t.canonical(), action.id as u64);
                if present.contains(&key) {
                    continue;
                }
                info!(action = action.id, rule = %t, "restoring a rule the kernel lost");
                rules.insert(t, action.id as u64, expires)?;
                out.restored.push(t.to_string());
            }
        }
        for t in lists.targets() {
            if !present.contains(&(t.clone(), 0)) {
                rules.insert(&t, 0, 0)?;
                out.restored.push(t.to_string());
            }
        }
        // The settings were just written afresh: say again which rule classes hold entries.
        // (The address filter needs nothing here: loading the program rebuilt it over the
        // pinned maps, and every insert and removal above kept it.)
        rules.refresh_active()?;
        if out != Reconciled::default() {
            info!(
                expired = out.expired.len(),
                removed = out.removed.len(),
                restored = out.restored.len(),
                kept = out.kept,
                active = active.len(),
                "reconciled kernel rules with the store"
            );
        }
        Ok(out)
    }
}
