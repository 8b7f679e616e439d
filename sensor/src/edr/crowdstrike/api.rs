//! Falcon's alerts API: an `OAuth2` client-credentials token (`POST <base>/oauth2/token`,
//! 30 minutes, renewed a minute before it runs out and at once on a 401), alert ids by FQL
//! (`GET /alerts/queries/alerts/v2?filter=updated_timestamp:>='<cursor>'
//! &sort=updated_timestamp|asc&limit=N[&after=...]`), then the alerts themselves
//! (`POST /alerts/entities/alerts/v2` with `{"composite_ids": [...]}`). The base URL picks
//! the region (`https://api.crowdstrike.com`, `https://api.eu-1.crowdstrike.com`, ...).

use std::{
    path::Path,
    sync::Mutex,
    time::{Duration, Instant},
};

use serde_json::{Value, json};

use crate::edr::{
    EdrAlert, Vendor,
    poll::{FetchError, Page, PageFuture, Source},
};

/// A token and when to stop using it.
struct Token {
    value: String,
    renew_at: Instant,
}

/// A client of one Falcon region.
pub struct Api {
    base: String,
    client_id: String,
    secret: String,
    client: reqwest::Client,
    token: Mutex<Option<Token>>,
    page_size: u32,
}

impl std::fmt::Debug for Api {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Never the secret or the token.
        f.debug_struct("Api")
            .field("base", &self.base)
            .finish_non_exhaustive()
    }
}

fn transport(e: reqwest::Error) -> FetchError {
    FetchError::Transport(crate::http_client::chain(&e.without_url()))
}

fn status_error(r: &reqwest::Response) -> FetchError {
    let header = |name: &str| {
        r.headers()
            .get(name)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.trim().parse::<u64>().ok())
    };
    FetchError::Status {
        code: r.status().as_u16(),
        retry_after: header("retry-after")
            .or_else(|| header("x-ratelimit-retryafter"))
            .map(Duration::from_secs),
    }
}

impl Api {
    /// A client of the region at `base` with these API client credentials.
    pub fn new(
        base: &str,
        client_id: &str,
        secret: &str,
        ca_file: Option<&Path>,
    ) -> Result<Self, String> {
        Ok(Self {
            base: base.trim_end_matches('/').to_owned(),
            client_id: client_id.trim().to_owned(),
            secret: secret.trim().to_owned(),
            client: crate::http_client::build(ca_file, Duration::from_mins(1))?,
            token: Mutex::new(None),
            page_size: 100,
        })
    }

    /// A token, asking for a new one if there is none or it is about to run out.
    async fn token(&self, renew: bool) -> Result<String, FetchError> {
        if !renew
            && let Ok(guard) = self.token.lock()
            && let Some(t) = guard.as_ref()
            && Instant::now() < t.renew_at
        {
            return Ok(t.value.clone());
        }
        let r = self
            .client
            .post(format!("{}/oauth2/token", self.base))
            .form(&[
                ("client_id", &self.client_id),
                ("client_secret", &self.secret),
            ])
            .send()
            .await
            .map_err(transport)?;
        if !r.status().is_success() {
            return Err(status_error(&r));
        }
        let body: Value = serde_json::from_slice(&r.bytes().await.map_err(transport)?)
            .map_err(|e| FetchError::Body(e.to_string()))?;
        let value = body["access_token"]
            .as_str()
            .ok_or_else(|| FetchError::Body("no access_token in the token answer".to_owned()))?
            .to_owned();
        let lifetime = body["expires_in"].as_u64().unwrap_or(1799);
        if let Ok(mut guard) = self.token.lock() {
            *guard = Some(Token {
                value: value.clone(),
                renew_at: Instant::now() + Duration::from_secs(lifetime.saturating_sub(60)),
            });
        }
        Ok(value)
    }

    /// Sends `request` (built with a token) and renews the token once on a 401.
    async fn send(
        &self,
        build: impl Fn(&str) -> reqwest::RequestBuilder,
    ) -> Result<Value, FetchError> {
        let mut renewed = false;
        loop {
            let token = self.token(renewed).await?;
            let r = build(&token).send().await.map_err(transport)?;
            if r.status() == reqwest::StatusCode::UNAUTHORIZED && !renewed {
                renewed = true;
                continue;
            }
            if !r.status().is_success() {
                return Err(status_error(&r));
            }
            let bytes = r.bytes().await.map_err(transport)?;
            return serde_json::from_slice(&bytes).map_err(|e| FetchError::Body(e.to_string()));
        }
    }

    async fn fetch(&self, since: Option<&str>, after: Option<&str>) -> Result<Page, FetchError> {
        let mut query: Vec<(&str, String)> = vec![
            ("sort", "updated_timestamp|asc".to_owned()),
            ("limit", self.page_size.to_string()),
        ];
        if let Some(s) = since {
            query.push(("filter", format!("updated_timestamp:>='{s}'")));
        }
        if let Some(a) = after {
            query.push(("after", a.to_owned()));
        }
        let url = format!("{}/alerts/queries/alerts/v2", self.base);
        let ids = self
            .send(|t| self.client.get(&url).query(&query).bearer_auth(t))
            .await?;
        let list: Vec<Value> = ids["resources"].as_array().cloned().unwrap_or_default();
        let next = ids["meta"]["pagination"]["after"]
            .as_str()
            .filter(|a| !a.is_empty())
            .map(str::to_owned);
        if list.is_empty() {
            return Ok(Page {
                items: Vec::new(),
                next: None,
            });
        }
        let url = format!("{}/alerts/entities/alerts/v2", self.base);
        let body = serde_json::to_vec(&json!({ "composite_ids": list }))
            .map_err(|e| FetchError::Body(e.to_string()))?;
        let entities = self
            .send(|t| {
                self.client
                    .post(&url)
                    .header(reqwest::header::CONTENT_TYPE, "application/json")
                    .body(body.clone())
                    .bearer_auth(t)
            })
            .await?;
        let items = entities["resources"]
            .as_array()
            .cloned()
            .ok_or_else(|| FetchError::Body("no `resources` array in the answer".to_owned()))?;
        Ok(Page { items, next })
    }
}

impl Source for Api {
    fn vendor(&self) -> Vendor {
        Vendor::Crowdstrike
    }

    fn page<'a>(&'a self, since: Option<&'a str>, cursor: Option<&'a str>) -> PageFuture<'a> {
        Box::pin(self.fetch(since, cursor))
    }

    fn map(&self, item: &Value) -> Result<EdrAlert, String> {
        super::map::map(item).map_err(|e| e.to_string())
    }
}
