//! The fusion stage in the agent: a step every interval, on its own connection, beside the
//! record writer and the EDR connectors: alerts scored and combined models matched, then
//! the investigations they and the breaches call for.

use std::{path::PathBuf, sync::Arc, time::Duration};

use tokio::task::JoinHandle;
use tracing::warn;

use super::Fusion;
use crate::{
    investigate::triggers::Triggers,
    store::{Store, StoreError},
};

/// Runs `fusion`, then `triggers`, over the database at `db` every `every`.
pub fn spawn(fusion: Fusion, triggers: Triggers, db: PathBuf, every: Duration) -> JoinHandle<()> {
    let fusion = Arc::new(fusion);
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(every);
        let mut last_error: Option<String> = None;
        loop {
            tick.tick().await;
            let (fusion, db) = (Arc::clone(&fusion), db.clone());
            let result = tokio::task::spawn_blocking(move || {
                let mut store = Store::open(&db)?;
                fusion.step(&mut store)?;
                triggers.step(&mut store)
            })
            .await
            .unwrap_or_else(|e| Err(StoreError::Task(e.to_string())));
            match result {
                Ok(_) => last_error = None,
                Err(err) => {
                    let text = crate::http_client::chain(&err);
                    if last_error.as_deref() != Some(text.as_str()) {
                        warn!(error = %text, "EDR fusion failed; retrying next interval");
                    }
                    last_error = Some(text);
                }
            }
        }
    })
}
