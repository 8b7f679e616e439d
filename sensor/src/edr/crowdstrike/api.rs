//! Falcon's alerts API: an `OAuth2` client-credentials token (`POST <base>/oauth2/token`,
//! 30 minutes, renewed a minute before it runs out and at once on a 401), alert ids by FQL
//! (`GET /alerts/queries/alerts/v2?filter=updated_timestamp:>='<cursor>'
//! &sort=updated_timestamp|asc&limit=N[&after=...]`), then the alerts themselves
//! (`POST /alerts/entities/alerts/v2` with `{"composite_ids": [...]}`). The base URL picks
//! the region (`https://api.crowdstrike.com`, `https://api.eu-1.crowdstrike.com`, ...).

use std::{path::Path, time::Duration};

use serde_json::{Value, json};

use crate::edr::{
    EdrAlert, Vendor,
    oauth::ClientCredentials,
    poll::{FetchError, Page, PageFuture, Source},
};

/// A client of one Falcon region.
pub struct Api {
    base: String,
    client: reqwest::Client,
    auth: ClientCredentials,
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

impl Api {
    /// A client of the region at `base` with these API client credentials.
    pub fn new(
        base: &str,
        client_id: &str,
        secret: &str,
        ca_file: Option<&Path>,
    ) -> Result<Self, String> {
        let base = base.trim_end_matches('/').to_owned();
        Ok(Self {
            auth: super::auth::credentials(&base, client_id, secret),
            base,
            client: crate::http_client::build(ca_file, Duration::from_mins(1))?,
            page_size: 100,
        })
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
            .auth
            .send(&self.client, |t| {
                self.client.get(&url).query(&query).bearer_auth(t)
            })
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
            .auth
            .send(&self.client, |t| {
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
