//! One poll of a vendor: pages fetched from the stored cursor, each retried on 429 and 5xx
//! (honouring `Retry-After`), its alerts mapped, joined and stored, and the cursor moved to
//! the page's latest update time once the page is stored. A poll that stops half way
//! (an error, a crash) resumes from the last stored page: nothing is missed, and what is
//! fetched twice updates in place.

use std::{path::PathBuf, time::Duration};

use chrono::{DateTime, SecondsFormat, Utc};
use serde::Serialize;
use serde_json::Value;
use tracing::{info, warn};

use super::{EdrAlert, Vendor, join};
use crate::store::{Store, StoreError};

/// One page of vendor objects.
#[derive(Debug, Default)]
pub struct Page {
    /// The objects.
    pub items: Vec<Value>,
    /// The next page's cursor, if any.
    pub next: Option<String>,
}

/// Why a page could not be fetched.
#[derive(Debug, thiserror::Error)]
pub enum FetchError {
    /// The vendor answered with an error status.
    #[error("HTTP {code}")]
    Status {
        /// The status.
        code: u16,
        /// How long the vendor asked us to wait.
        retry_after: Option<Duration>,
    },
    /// The request did not complete.
    #[error("{0}")]
    Transport(String),
    /// The answer was not what the API documents.
    #[error("unreadable answer: {0}")]
    Body(String),
}

/// A page being fetched.
pub type PageFuture<'a> =
    std::pin::Pin<Box<dyn Future<Output = Result<Page, FetchError>> + Send + 'a>>;

/// A vendor's alert API, as the poller sees it: pages of raw objects from a cursor, and
/// the mapping of one object. One implementation per vendor, in the vendor's folder.
pub trait Source: Send + Sync {
    /// The vendor.
    fn vendor(&self) -> Vendor;
    /// One page of objects updated at or after `since`, from the page cursor `cursor`.
    fn page<'a>(&'a self, since: Option<&'a str>, cursor: Option<&'a str>) -> PageFuture<'a>;
    /// One object as a normalized alert, or why not.
    fn map(&self, item: &Value) -> Result<EdrAlert, String>;
}

/// Why a poll stopped.
#[derive(Debug, thiserror::Error)]
pub enum PollError {
    /// Fetching failed after its retries.
    #[error("failed to fetch from {vendor}: {source}")]
    Fetch {
        /// Which vendor.
        vendor: &'static str,
        /// The last failure.
        #[source]
        source: FetchError,
    },
    /// The store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// What one poll did.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize)]
pub struct PollStats {
    /// Pages fetched.
    pub pages: u64,
    /// New alerts stored.
    pub stored: u64,
    /// Alerts updated in place.
    pub updated: u64,
    /// Records that could not be mapped.
    pub invalid: u64,
    /// Requests retried after 429 or 5xx.
    pub retries: u64,
}

/// Attempts per page.
const ATTEMPTS: u32 = 4;

/// A poller of one connector.
pub struct Poller {
    /// The connector's name (keys its cursor).
    pub name: String,
    /// The vendor's API.
    pub source: Box<dyn Source>,
    /// The database.
    pub db_path: PathBuf,
    /// The first wait after a 429 or 5xx without `Retry-After`; doubled each time.
    pub backoff: Duration,
}

impl std::fmt::Debug for Poller {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Poller")
            .field("name", &self.name)
            .field("vendor", &self.source.vendor())
            .finish_non_exhaustive()
    }
}

impl Poller {
    async fn fetch(
        &self,
        since: Option<&str>,
        cursor: Option<&str>,
        stats: &mut PollStats,
    ) -> Result<Page, PollError> {
        let mut wait = self.backoff;
        let mut attempt = 1;
        loop {
            match self.source.page(since, cursor).await {
                Ok(page) => return Ok(page),
                Err(FetchError::Status { code, retry_after })
                    if (code == 429 || code >= 500) && attempt < ATTEMPTS =>
                {
                    let pause = retry_after.unwrap_or(wait);
                    warn!(connector = %self.name, code, wait_s = pause.as_secs_f64(), "EDR API asked to slow down; retrying");
                    tokio::time::sleep(pause).await;
                    wait *= 2;
                    attempt += 1;
                    stats.retries += 1;
                }
                Err(FetchError::Transport(reason)) if attempt < ATTEMPTS => {
                    warn!(connector = %self.name, %reason, "EDR API unreachable; retrying");
                    tokio::time::sleep(wait).await;
                    wait *= 2;
                    attempt += 1;
                    stats.retries += 1;
                }
                Err(source) => {
                    return Err(PollError::Fetch {
                        vendor: self.source.vendor().as_str(),
                        source,
                    });
                }
            }
        }
    }

    /// Polls until the vendor has nothing newer.
    pub async fn poll(&self) -> Result<PollStats, PollError> {
        let mut stats = PollStats::default();
        let (db, name) = (self.db_path.clone(), self.name.clone());
        let since = blocking(move || Store::open(&db)?.edr_cursor(&name)).await?;
        let mut cursor: Option<String> = None;
        loop {
            let page = self
                .fetch(since.as_deref(), cursor.as_deref(), &mut stats)
                .await?;
            stats.pages += 1;
            let mut alerts: Vec<EdrAlert> = Vec::new();
            for item in &page.items {
                match self.source.map(item) {
                    Ok(a) => alerts.push(a),
                    Err(err) => {
                        stats.invalid += 1;
                        warn!(connector = %self.name, error = %err, "invalid EDR record");
                    }
                }
            }
            let latest: Option<DateTime<Utc>> = alerts.iter().map(|a| a.updated).max();
            let (db, name) = (self.db_path.clone(), self.name.clone());
            let (stored, updated) = blocking(move || {
                let mut store = Store::open(&db)?;
                let (mut stored, mut updated) = (0, 0);
                for a in &alerts {
                    let joined = join::join(&mut store, a)?;
                    if store.upsert_edr_alert(a, &joined)? {
                        stored += 1;
                    } else {
                        updated += 1;
                    }
                }
                if let Some(t) = latest {
                    store.set_edr_cursor(&name, &t.to_rfc3339_opts(SecondsFormat::Millis, true))?;
                }
                Ok((stored, updated))
            })
            .await?;
            stats.stored += stored;
            stats.updated += updated;
            match page.next {
                Some(next) if !page.items.is_empty() => cursor = Some(next),
                _ => break,
            }
        }
        if stats.stored > 0 {
            info!(connector = %self.name, stored = stats.stored, updated = stats.updated, "EDR alerts polled");
        }
        Ok(stats)
    }
}

async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> Result<T, StoreError> + Send + 'static,
) -> Result<T, StoreError> {
    tokio::task::spawn_blocking(f)
        .await
        .unwrap_or_else(|e| Err(StoreError::Task(e.to_string())))
}
