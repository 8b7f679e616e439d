//! An action's life after it is taken: a pending one approved (its clock starts then), an
//! active one extended to a new total duration, an expired or cleared one reactivated for
//! its duration anew. Every change goes into the action's audit log with who made it.

use chrono::Utc;

use super::{Action, ActionState, Responder, ResponseError, responder::kernel_expiry};

impl Responder {
    fn load(&mut self, id: i64) -> Result<Action, ResponseError> {
        self.store().action(id)?.ok_or_else(|| {
            ResponseError::NotFound(format!("no action {id} (see `sensor actions`)"))
        })
    }

    /// Approves a pending action: its rules go into the kernel now, for its duration.
    pub fn approve(&mut self, id: i64, who: &str) -> Result<Action, ResponseError> {
        let mut action = self.load(id)?;
        if action.state != ActionState::Pending {
            return Err(ResponseError::Invalid(format!(
                "action {id} is {}, not pending",
                action.state
            )));
        }
        self.check_unowned(&action.targets)?;
        self.enforce(&mut action, Utc::now())?;
        self.store()
            .audit(id, who, "approved", &super::responder::describe(&action))?;
        if let Some(device) = action.device_id {
            self.store().log_device_event(
                device,
                Utc::now(),
                "action",
                Some(id),
                &format!("approved by {who}: {}", super::responder::describe(&action)),
            )?;
        }
        tracing::info!(
            action = id,
            who,
            "approved: {}",
            super::responder::describe(&action)
        );
        Ok(action)
    }

    /// Sets an active action's total duration (from when it became active) to `total_s`.
    pub fn extend(&mut self, id: i64, total_s: u64, who: &str) -> Result<Action, ResponseError> {
        let mut action = self.load(id)?;
        if action.state != ActionState::Active {
            return Err(ResponseError::Invalid(format!(
                "action {id} is {}; only an active action can be extended (reactivate an \
                 ended one)",
                action.state
            )));
        }
        let start = action.activated.unwrap_or(action.created);
        let until =
            start + chrono::Duration::seconds(total_s.min(super::responder::TEN_YEARS_S) as i64);
        if until <= Utc::now() {
            return Err(ResponseError::Invalid(format!(
                "a total of {} from {} has already passed; clear the action to end it",
                humantime::format_duration(std::time::Duration::from_secs(total_s)),
                start.format("%Y-%m-%d %H:%M:%S UTC")
            )));
        }
        action.duration_s = Some(total_s);
        action.until = Some(until);
        // Rewriting the rules resets their counters: keep what they counted so far.
        action.hits += self.hits_of(id)?;
        self.store().update_action(&action)?;
        let expires = kernel_expiry(action.until)?;
        for t in &action.targets {
            self.rules_mut().insert(t, id as u64, expires)?;
        }
        self.store().audit(
            id,
            who,
            "extended",
            &format!("until {}", until.format("%Y-%m-%d %H:%M:%S UTC")),
        )?;
        Ok(action)
    }

    /// Enforces an expired or cleared action again, for its duration from now.
    pub fn reactivate(&mut self, id: i64, who: &str) -> Result<Action, ResponseError> {
        let mut action = self.load(id)?;
        if !matches!(action.state, ActionState::Expired | ActionState::Cleared) {
            return Err(ResponseError::Invalid(format!(
                "action {id} is {}; only an expired or cleared action can be reactivated",
                action.state
            )));
        }
        for t in &action.targets {
            self.check_never_block(t)?;
        }
        self.check_unowned(&action.targets)?;
        action.cleared = None;
        self.enforce(&mut action, Utc::now())?;
        self.store()
            .audit(id, who, "reactivated", &super::responder::describe(&action))?;
        Ok(action)
    }
}
