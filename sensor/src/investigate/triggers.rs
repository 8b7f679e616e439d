//! What starts an investigation in the agent: a breach at or over a score, and an EDR
//! alert (every one, or only those unusual for their device). Read by cursor after fusion
//! has scored the alerts; a record an incident already holds starts nothing.

use serde::{Deserialize, Serialize};
use tracing::info;

use super::{Window, investigate, record};
use crate::store::{Store, StoreError};

/// The cursor's name among the store's consumers.
const CURSOR: &str = "(investigate)";

/// Rows read per step.
const BATCH: usize = 200;

/// Which EDR alerts start an investigation.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "snake_case")]
pub enum EdrTrigger {
    /// Every alert joined to a device.
    All,
    /// Alerts unusual for their device.
    #[default]
    Unusual,
    /// None.
    None,
}

/// The triggers.
#[derive(Clone, Copy, Debug)]
pub struct Triggers {
    /// Breaches at or over this score.
    pub breach_score: u8,
    /// Which EDR alerts.
    pub edr: EdrTrigger,
    /// How far around the trigger to look.
    pub window: Window,
}

impl Default for Triggers {
    fn default() -> Self {
        Self {
            breach_score: 60,
            edr: EdrTrigger::Unusual,
            window: Window::default(),
        }
    }
}

impl Triggers {
    /// Investigates what the breaches and alerts stored since the last step call for;
    /// returns how many incidents were opened or grown.
    pub fn step(&self, store: &mut Store) -> Result<u64, StoreError> {
        self.step_with(store, true)
    }

    /// As [`Triggers::step`]; the alerts only if `alerts` (see
    /// [`crate::fusion::Fusion::step_with`]).
    pub fn step_with(&self, store: &mut Store, alerts: bool) -> Result<u64, StoreError> {
        let mut changed = 0;
        store.consume_breaches(CURSOR, BATCH, |store, b| {
            let Some(device) = b.device_id else {
                return Ok(());
            };
            if b.score < self.breach_score || store.incident_holds("breaches", b.id)? {
                return Ok(());
            }
            let why = format!("breach #{} {} ({})", b.id, b.model, b.score);
            changed += self.run(store, device, b.ts, &why)?;
            Ok(())
        })?;
        if !alerts {
            return Ok(changed);
        }
        store.consume_edr_alerts(CURSOR, BATCH, |store, a| {
            let Some(device) = a.joined.device_id else {
                return Ok(());
            };
            let wanted = match self.edr {
                EdrTrigger::All => true,
                EdrTrigger::Unusual => a.rarity.as_ref().is_some_and(|r| r.surfaced),
                EdrTrigger::None => false,
            };
            if !wanted || store.incident_holds("edr_alerts", a.id)? {
                return Ok(());
            }
            let why = format!(
                "{} alert #{} \"{}\"",
                a.alert.vendor.as_str(),
                a.id,
                a.alert.title
            );
            changed += self.run(store, device, a.alert.detected, &why)?;
            Ok(())
        })?;
        Ok(changed)
    }

    fn run(
        &self,
        store: &mut Store,
        device: i64,
        at: chrono::DateTime<chrono::Utc>,
        why: &str,
    ) -> Result<u64, StoreError> {
        let found = investigate(store, device, at, why, self.window)?;
        Ok(match record(store, found, self.window)? {
            Some(i) => {
                info!(incident = i.id, score = i.score, title = %i.title, trigger = why, "incident");
                1
            }
            None => 0,
        })
    }
}
