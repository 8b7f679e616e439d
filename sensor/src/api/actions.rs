//! The action endpoints: list (with the blocked attempts so far), one with its audit log,
//! take, clear, approve, extend, reactivate. All changes go through the one responder.

use axum::{
    Json,
    extract::{Path, Query, State},
    http::StatusCode,
};
use serde::{Deserialize, Serialize};

use super::{
    ClearRequest, ExtendRequest, ListQuery,
    routes::{ApiError, ApiState, with_responder},
};
use crate::{
    response::{Action, ActionState, NewAction, Responder},
    store::actions::AuditEntry,
};

type Answer<T> = Result<Json<T>, ApiError>;

/// An action and its audit log.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ActionDetail {
    /// The action, with its blocked attempts so far.
    pub action: Action,
    /// Every change, oldest first.
    pub audit: Vec<AuditEntry>,
}

/// Adds the kernel's current hits to the active ones among `actions`.
fn with_hits(r: &mut Responder, mut actions: Vec<Action>) -> Result<Vec<Action>, ApiError> {
    let rules = r.rules()?;
    for a in actions
        .iter_mut()
        .filter(|a| a.state == ActionState::Active)
    {
        a.hits += rules
            .iter()
            .filter(|v| v.action_id == a.id as u64)
            .map(|v| v.hits)
            .sum::<u64>();
    }
    Ok(actions)
}

pub(super) async fn list(
    State(state): State<ApiState>,
    Query(q): Query<ListQuery>,
) -> Answer<Vec<Action>> {
    let filter = q
        .state
        .as_deref()
        .map(str::parse::<ActionState>)
        .transpose()
        .map_err(|e| ApiError::new(StatusCode::BAD_REQUEST, e))?;
    Ok(Json(
        with_responder(&state, move |r| {
            let actions = r.store().actions(filter, q.limit.unwrap_or(0))?;
            with_hits(r, actions)
        })
        .await?,
    ))
}

pub(super) async fn one(
    State(state): State<ApiState>,
    Path(id): Path<i64>,
) -> Answer<ActionDetail> {
    Ok(Json(
        with_responder(&state, move |r| {
            let action = r.store().action(id)?.ok_or_else(|| {
                ApiError::new(
                    StatusCode::NOT_FOUND,
                    format!("no action {id} (see `sensor actions`)"),
                )
            })?;
            let action = with_hits(r, vec![action])?.remove(0);
            let audit = r.store().audit_log(id)?;
            Ok(ActionDetail { action, audit })
        })
        .await?,
    ))
}

pub(super) async fn create(
    State(state): State<ApiState>,
    Json(request): Json<NewAction>,
) -> Result<(StatusCode, Json<Action>), ApiError> {
    let action = with_responder(&state, move |r| Ok(r.apply(&request)?)).await?;
    Ok((StatusCode::CREATED, Json(action)))
}

pub(super) async fn clear(
    State(state): State<ApiState>,
    Path(id): Path<i64>,
    Json(request): Json<ClearRequest>,
) -> Answer<Action> {
    Ok(Json(
        with_responder(&state, move |r| Ok(r.clear(id, &request.who)?)).await?,
    ))
}

pub(super) async fn approve(
    State(state): State<ApiState>,
    Path(id): Path<i64>,
    Json(request): Json<ClearRequest>,
) -> Answer<Action> {
    Ok(Json(
        with_responder(&state, move |r| Ok(r.approve(id, &request.who)?)).await?,
    ))
}

pub(super) async fn extend(
    State(state): State<ApiState>,
    Path(id): Path<i64>,
    Json(request): Json<ExtendRequest>,
) -> Answer<Action> {
    Ok(Json(
        with_responder(&state, move |r| {
            Ok(r.extend(id, request.total_s, &request.who)?)
        })
        .await?,
    ))
}

pub(super) async fn reactivate(
    State(state): State<ApiState>,
    Path(id): Path<i64>,
    Json(request): Json<ClearRequest>,
) -> Answer<Action> {
    Ok(Json(
        with_responder(&state, move |r| Ok(r.reactivate(id, &request.who)?)).await?,
    ))
}
