//! The stages after the record writer, in the agent: EDR alerts scored and combined models
//! matched, the response policies, the investigations, and the policies again for the
//! incidents. On their own connection, beside the writer and the EDR connectors; run when
//! woken (an alert or a breach was stored) or every interval.

use std::{
    path::PathBuf,
    sync::{
        Arc, Mutex,
        atomic::{AtomicUsize, Ordering},
    },
    time::Duration,
};

use tokio::{sync::Notify, task::JoinHandle};
use tracing::warn;

use super::Fusion;
use crate::{
    investigate::triggers::Triggers,
    policy::Policies,
    response::Responder,
    store::{Store, StoreError},
};

/// What runs, in order.
pub struct Stages {
    /// Rarity and combined models.
    pub fusion: Fusion,
    /// What starts investigations.
    pub triggers: Triggers,
    /// The response policies.
    pub policies: Policies,
    /// The one writer of kernel rules.
    pub responder: Arc<Mutex<Responder>>,
    /// EDR polls under way: alerts wait until none is (their history must be stored
    /// before they are judged; a poll rings `wake` when it ends).
    pub polling: Arc<AtomicUsize>,
}

impl Stages {
    fn step(&self, store: &mut Store) -> Result<(), StoreError> {
        let alerts = self.polling.load(Ordering::SeqCst) == 0;
        self.fusion.step_with(store, alerts)?;
        self.policies.step_with(store, &self.responder, alerts)?;
        if self.triggers.step_with(store, alerts)? > 0 {
            self.policies.step_with(store, &self.responder, alerts)?;
        }
        Ok(())
    }
}

/// Runs `stages` over the database at `db` when `wake` rings, and at least every `every`.
pub fn spawn(stages: Stages, db: PathBuf, every: Duration, wake: Arc<Notify>) -> JoinHandle<()> {
    let stages = Arc::new(stages);
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(every);
        let mut last_error: Option<String> = None;
        loop {
            tokio::select! {
                _ = tick.tick() => {}
                () = wake.notified() => {}
            }
            let (stages, db) = (Arc::clone(&stages), db.clone());
            let result = tokio::task::spawn_blocking(move || {
                let mut store = Store::open(&db)?;
                stages.step(&mut store)
            })
            .await
            .unwrap_or_else(|e| Err(StoreError::Task(e.to_string())));
            match result {
                Ok(()) => last_error = None,
                Err(err) => {
                    let text = crate::http_client::chain(&err);
                    if last_error.as_deref() != Some(text.as_str()) {
                        warn!(error = %text, "EDR fusion, investigations or policies failed; retrying");
                    }
                    last_error = Some(text);
                }
            }
        }
    })
}
