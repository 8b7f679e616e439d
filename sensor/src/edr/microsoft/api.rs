//! Graph's alerts API: `GET <graph>/v1.0/security/alerts_v2?$top=N&$filter=
//! lastUpdateDateTime ge <cursor>`, then `@odata.nextLink` until it is absent. Graph
//! documents no ordering for this list, so the cursor moves once a whole poll is stored.
//! A next link must stay on the configured Graph: the bearer token goes nowhere else.

use std::{path::Path, time::Duration};

use serde_json::Value;

use crate::edr::{
    EdrAlert, Vendor,
    host::HostContext,
    oauth::ClientCredentials,
    poll::{FetchError, HostsFuture, Page, PageFuture, Source},
};

/// Where a tenant's Graph and its authority are, and how to reach them.
#[derive(Clone, Debug)]
pub struct Endpoints {
    /// Graph's base URL (`https://graph.microsoft.com`, or a national cloud's).
    pub graph: String,
    /// The Entra ID authority (`https://login.microsoftonline.com`).
    pub login: String,
    /// The tenant id.
    pub tenant: String,
}

/// A client of one tenant's Graph.
pub struct Api {
    pub(super) graph: String,
    pub(super) client: reqwest::Client,
    pub(super) auth: ClientCredentials,
    pub(super) hunting: Option<super::hunting::Hunting>,
    page_size: u32,
}

impl std::fmt::Debug for Api {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Never the secret or the token.
        f.debug_struct("Api")
            .field("graph", &self.graph)
            .finish_non_exhaustive()
    }
}

impl Api {
    /// A client of the tenant at `at` for the app `client_id`; host enrichment by Advanced
    /// Hunting at most `hunting_per_minute` queries a minute (0: none).
    pub fn new(
        at: &Endpoints,
        client_id: &str,
        secret: &str,
        ca_file: Option<&Path>,
        hunting_per_minute: u32,
    ) -> Result<Self, String> {
        let graph = at.graph.trim_end_matches('/').to_owned();
        Ok(Self {
            auth: super::auth::credentials(&at.login, &at.tenant, &graph, client_id, secret),
            graph,
            client: crate::http_client::build(ca_file, Duration::from_mins(1))?,
            hunting: super::hunting::Hunting::per_minute(hunting_per_minute),
            page_size: 50,
        })
    }

    async fn fetch(&self, since: Option<&str>, next: Option<&str>) -> Result<Page, FetchError> {
        let body = if let Some(link) = next {
            if !link.starts_with(&format!("{}/", self.graph)) {
                return Err(FetchError::Body(
                    "@odata.nextLink points outside the configured Graph".to_owned(),
                ));
            }
            self.auth
                .send(&self.client, |t| self.client.get(link).bearer_auth(t))
                .await?
        } else {
            let mut query = vec![("$top", self.page_size.to_string())];
            if let Some(s) = since {
                query.push(("$filter", format!("lastUpdateDateTime ge {s}")));
            }
            let url = format!("{}/v1.0/security/alerts_v2", self.graph);
            self.auth
                .send(&self.client, |t| {
                    self.client.get(&url).query(&query).bearer_auth(t)
                })
                .await?
        };
        let items = body["value"]
            .as_array()
            .cloned()
            .ok_or_else(|| FetchError::Body("no `value` array in the answer".to_owned()))?;
        Ok(Page {
            items,
            next: body["@odata.nextLink"].as_str().map(str::to_owned),
        })
    }
}

impl Source for Api {
    fn vendor(&self) -> Vendor {
        Vendor::Microsoft
    }

    fn page<'a>(&'a self, since: Option<&'a str>, cursor: Option<&'a str>) -> PageFuture<'a> {
        Box::pin(self.fetch(since, cursor))
    }

    fn map(&self, item: &Value) -> Result<EdrAlert, String> {
        super::map::map(item).map_err(|e| e.to_string())
    }

    fn ordered(&self) -> bool {
        false
    }

    fn hosts<'a>(&'a self, device_ids: &'a [String]) -> Option<HostsFuture<'a>> {
        let hunting = self.hunting.as_ref()?;
        Some(Box::pin(async move {
            let found: Vec<HostContext> = hunting.hosts(self, device_ids).await?;
            Ok(found)
        }))
    }
}
