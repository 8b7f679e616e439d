//! SentinelOne's threats API: `GET <console>/web/api/v2.1/threats?limit=N&sortBy=updatedAt
//! &sortOrder=asc&updatedAt__gte=<cursor>[&cursor=<nextCursor>]` with `Authorization:
//! ApiToken <token>`. Tokens are console service-user tokens: there is no refresh, a 401
//! means the token must be replaced.

use std::{path::Path, time::Duration};

use serde_json::Value;

use crate::edr::{
    EdrAlert, Vendor,
    poll::{FetchError, Page, PageFuture, Source},
};

/// A client of one console.
pub struct Api {
    console: String,
    auth: reqwest::header::HeaderValue,
    client: reqwest::Client,
    page_size: u32,
}

impl std::fmt::Debug for Api {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Never the token.
        f.debug_struct("Api")
            .field("console", &self.console)
            .finish_non_exhaustive()
    }
}

impl Api {
    /// A client of `console` (its base URL) with `token`, trusting `ca_file` too.
    pub fn new(console: &str, token: &str, ca_file: Option<&Path>) -> Result<Self, String> {
        Ok(Self {
            console: console.trim_end_matches('/').to_owned(),
            auth: super::auth::header(token)?,
            client: crate::http_client::build(ca_file, Duration::from_mins(1))?,
            page_size: 100,
        })
    }

    /// One page of threats updated at or after `since`, from `cursor` on.
    async fn fetch(&self, since: Option<&str>, cursor: Option<&str>) -> Result<Page, FetchError> {
        let mut query: Vec<(&str, String)> = vec![
            ("limit", self.page_size.to_string()),
            ("sortBy", "updatedAt".to_owned()),
            ("sortOrder", "asc".to_owned()),
        ];
        if let Some(s) = since {
            query.push(("updatedAt__gte", s.to_owned()));
        }
        if let Some(c) = cursor {
            query.push(("cursor", c.to_owned()));
        }
        let response = self
            .client
            .get(format!("{}/web/api/v2.1/threats", self.console))
            .query(&query)
            .header(reqwest::header::AUTHORIZATION, self.auth.clone())
            .send()
            .await
            .map_err(FetchError::transport)?;
        let body = FetchError::json(response).await?;
        let items = body["data"]
            .as_array()
            .cloned()
            .ok_or_else(|| FetchError::Body("no `data` array in the answer".to_owned()))?;
        Ok(Page {
            items,
            next: body["pagination"]["nextCursor"].as_str().map(str::to_owned),
        })
    }
}

impl Source for Api {
    fn vendor(&self) -> Vendor {
        Vendor::Sentinelone
    }

    fn page<'a>(&'a self, since: Option<&'a str>, cursor: Option<&'a str>) -> PageFuture<'a> {
        Box::pin(self.fetch(since, cursor))
    }

    fn map(&self, item: &Value) -> Result<EdrAlert, String> {
        super::map::map(item, Some(&self.console)).map_err(|e| e.to_string())
    }
}
