//! The incident endpoints: `GET /v1/incidents`, `GET /v1/incidents/{id}`, and
//! `POST /v1/investigations` (an analyst's investigation of a device at a time).

use axum::{
    Json,
    extract::{Path, Query, State},
    http::StatusCode,
};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::{
    ListQuery,
    routes::{ApiError, ApiState, with_store},
};
use crate::investigate::{self, Window, incident::Incident};

/// An analyst's request to investigate.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct InvestigateRequest {
    /// The device: an address it held at `at`, a MAC, a host name or an id.
    pub device: String,
    /// Around when (default now).
    pub at: Option<DateTime<Utc>>,
    /// Who asks.
    pub who: String,
}

/// What an investigation gave: the incident, and whether it was stored (it concluded
/// something).
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Investigation {
    /// The result (stored, or as it stood if nothing was concluded).
    pub incident: Incident,
    /// Whether it was stored (new or merged).
    pub stored: bool,
}

/// Runs an investigation on `store`: the CLI offline and the API share it.
pub fn run(
    store: &mut crate::store::Store,
    req: &InvestigateRequest,
) -> anyhow::Result<Investigation> {
    let at = req.at.unwrap_or_else(Utc::now);
    let when = at.timestamp_nanos_opt().unwrap_or(i64::MAX);
    let device = store.find_device(&req.device, when)?.ok_or_else(|| {
        anyhow::anyhow!(
            "no device known as {} at {} (see `sensor devices`)",
            req.device,
            at.format("%Y-%m-%d %H:%M:%S UTC")
        )
    })?;
    let window = Window::default();
    let found = investigate::investigate(
        store,
        device,
        at,
        &format!("analyst {} asked", req.who),
        window,
    )?;
    Ok(match investigate::record(store, found.clone(), window)? {
        Some(incident) => Investigation {
            incident,
            stored: true,
        },
        None => Investigation {
            incident: found,
            stored: false,
        },
    })
}

type Answer<T> = Result<Json<T>, ApiError>;

pub(super) async fn list(
    State(state): State<ApiState>,
    Query(q): Query<ListQuery>,
) -> Answer<Vec<Incident>> {
    let limit = q.limit.unwrap_or(50);
    Ok(Json(
        with_store(&state, move |s| Ok(s.incidents(limit)?)).await?,
    ))
}

pub(super) async fn one(State(state): State<ApiState>, Path(id): Path<i64>) -> Answer<Incident> {
    Ok(Json(
        with_store(&state, move |s| {
            s.incident(id)?.ok_or_else(|| {
                ApiError::new(
                    StatusCode::NOT_FOUND,
                    format!("no incident {id} (see `sensor incidents`)"),
                )
            })
        })
        .await?,
    ))
}

pub(super) async fn investigate(
    State(state): State<ApiState>,
    Json(req): Json<InvestigateRequest>,
) -> Answer<Investigation> {
    Ok(Json(
        with_store(&state, move |s| {
            run(s, &req).map_err(|e| ApiError::new(StatusCode::NOT_FOUND, format!("{e:#}")))
        })
        .await?,
    ))
}
