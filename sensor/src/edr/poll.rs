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

use super::{EdrAlert, Vendor, host::HostContext, join};
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

impl FetchError {
    /// A failed request (the URL left out: it may carry a vendor's query secrets).
    pub fn transport(e: reqwest::Error) -> Self {
        Self::Transport(crate::http_client::chain(&e.without_url()))
    }

    /// An error status, with the wait the vendor asked for (`Retry-After`, or Falcon's
    /// `X-Ratelimit-RetryAfter`) if it gave one in seconds.
    pub fn status(r: &reqwest::Response) -> Self {
        let header = |name: &str| {
            r.headers()
                .get(name)
                .and_then(|v| v.to_str().ok())
                .and_then(|v| v.trim().parse::<u64>().ok())
        };
        Self::Status {
            code: r.status().as_u16(),
            retry_after: header("retry-after")
                .or_else(|| header("x-ratelimit-retryafter"))
                .map(Duration::from_secs),
        }
    }

    /// The JSON body of a successful answer, or the error status.
    pub async fn json(r: reqwest::Response) -> Result<Value, Self> {
        if !r.status().is_success() {
            return Err(Self::status(&r));
        }
        let bytes = r.bytes().await.map_err(Self::transport)?;
        serde_json::from_slice(&bytes).map_err(|e| Self::Body(e.to_string()))
    }
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
    /// Whether pages come oldest update first, so that the cursor may move after each
    /// page. If not, it moves once the last page is stored: a poll cut short starts over
    /// from the old cursor (what is fetched twice updates in place).
    fn ordered(&self) -> bool {
        true
    }
    /// What the vendor knows of these devices (its device ids): OS, vulnerabilities. `None`
    /// if it offers nothing.
    fn hosts<'a>(&'a self, _device_ids: &'a [String]) -> Option<HostsFuture<'a>> {
        None
    }
}

/// Host context being fetched.
pub type HostsFuture<'a> =
    std::pin::Pin<Box<dyn Future<Output = Result<Vec<HostContext>, FetchError>> + Send + 'a>>;

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
        let ordered = self.source.ordered();
        let mut cursor: Option<String> = None;
        let mut latest: Option<DateTime<Utc>> = None;
        loop {
            let page = self
                .fetch(since.as_deref(), cursor.as_deref(), &mut stats)
                .await?;
            stats.pages += 1;
            let mut alerts: Vec<EdrAlert> = Vec::new();
            for item in &page.items {
                match self.source.map(item).and_then(|a| {
                    super::fields::check(&a)
                        .map(|()| a)
                        .map_err(|e| e.to_string())
                }) {
                    Ok(a) => alerts.push(a),
                    Err(err) => {
                        stats.invalid += 1;
                        warn!(connector = %self.name, error = %err, "invalid EDR record");
                    }
                }
            }
            latest = latest.max(alerts.iter().map(|a| a.updated).max());
            let next = page.next.filter(|_| !page.items.is_empty());
            // Unordered pages: the cursor moves only once the last page is stored.
            let move_to = latest.filter(|_| ordered || next.is_none());
            let (db, name) = (self.db_path.clone(), self.name.clone());
            let (stored, updated) = blocking(move || {
                let mut store = Store::open(&db)?;
                let (mut stored, mut updated) = (0, 0);
                for a in &alerts {
                    if join::store(&mut store, a)?.1 {
                        stored += 1;
                    } else {
                        updated += 1;
                    }
                }
                if let Some(t) = move_to {
                    store.set_edr_cursor(&name, &t.to_rfc3339_opts(SecondsFormat::Millis, true))?;
                }
                Ok((stored, updated))
            })
            .await?;
            stats.stored += stored;
            stats.updated += updated;
            match next {
                Some(next) => cursor = Some(next),
                None => break,
            }
        }
        if stats.stored > 0 {
            info!(connector = %self.name, stored = stats.stored, updated = stats.updated, "EDR alerts polled");
        }
        Ok(stats)
    }

    /// Asks the vendor about the devices its alerts name that were not asked about within
    /// `every` (at most [`HOSTS_PER_REFRESH`] of them); returns how many it knew.
    pub async fn refresh_hosts(&self, every: Duration) -> Result<usize, PollError> {
        let vendor = self.source.vendor();
        let db = self.db_path.clone();
        let stale = Utc::now() - chrono::Duration::from_std(every).unwrap_or(chrono::Duration::MAX);
        let due =
            blocking(move || Store::open(&db)?.edr_hosts_due(vendor, stale, HOSTS_PER_REFRESH))
                .await?;
        if due.is_empty() {
            return Ok(0);
        }
        let Some(asked) = self.source.hosts(&due) else {
            return Ok(0);
        };
        let found = asked.await.map_err(|source| PollError::Fetch {
            vendor: vendor.as_str(),
            source,
        })?;
        let known = found.len();
        let db = self.db_path.clone();
        blocking(move || {
            let mut store = Store::open(&db)?;
            let now = Utc::now();
            for id in &due {
                // Unknown ones too, so that they are not asked about again too soon.
                let host = found
                    .iter()
                    .find(|h| &h.vendor_device_id == id)
                    .cloned()
                    .unwrap_or_else(|| HostContext::unknown(vendor, id, now));
                store.upsert_edr_host(&host)?;
            }
            Ok(())
        })
        .await?;
        info!(connector = %self.name, known, "EDR host context refreshed");
        Ok(known)
    }
}

/// Devices asked about in one host refresh.
pub const HOSTS_PER_REFRESH: usize = 100;

async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> Result<T, StoreError> + Send + 'static,
) -> Result<T, StoreError> {
    tokio::task::spawn_blocking(f)
        .await
        .unwrap_or_else(|e| Err(StoreError::Task(e.to_string())))
}
