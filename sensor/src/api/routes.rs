//! The endpoints. Database and map work runs on the blocking pool: `SQLite` and the bpf
//! syscalls block, and the agent's loop shares this runtime.

use std::{
    path::PathBuf,
    sync::{Arc, Mutex},
};

use axum::{
    Json, Router,
    extract::{Path, Query, State},
    http::{StatusCode, header},
    response::{IntoResponse, Response},
    routing::{get, post},
};

use super::{ConnsQuery, ErrorBody, FlowsQuery, ListQuery, Status, metrics};
use crate::{
    capture::LiveFlow,
    clock::Clock,
    ebpf::{Counters, FlowTable},
    response::{Responder, ResponseError},
    store::{Store, connections::ConnQuery},
    telemetry::AgentStats,
};

/// Where the agent keeps what the read endpoints read.
#[derive(Clone, Debug)]
pub struct Paths {
    /// The database (read with connections of the handlers' own).
    pub db_path: PathBuf,
    /// The pinned maps.
    pub pin_dir: PathBuf,
    /// The agent's runtime directory (its counters).
    pub run_dir: PathBuf,
}

/// What the handlers share.
#[derive(Clone, Debug)]
pub struct ApiState {
    /// The one writer of kernel rules.
    pub responder: Arc<Mutex<Responder>>,
    /// What the read endpoints read.
    pub paths: Paths,
    /// The EDR connectors' state.
    pub edr: crate::edr::connectors::Statuses,
}

/// An error answer: a status and a message that says what to do.
#[derive(Debug)]
pub struct ApiError {
    status: StatusCode,
    message: String,
}

impl ApiError {
    pub(super) fn new(status: StatusCode, message: impl Into<String>) -> Self {
        Self {
            status,
            message: message.into(),
        }
    }

    fn internal(err: &dyn std::error::Error) -> Self {
        let mut message = err.to_string();
        let mut source = err.source();
        while let Some(s) = source {
            message = format!("{message}: {s}");
            source = s.source();
        }
        Self::new(StatusCode::INTERNAL_SERVER_ERROR, message)
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        (
            self.status,
            Json(ErrorBody {
                error: self.message,
            }),
        )
            .into_response()
    }
}

impl From<ResponseError> for ApiError {
    fn from(err: ResponseError) -> Self {
        match err {
            ResponseError::Invalid(m) => Self::new(StatusCode::BAD_REQUEST, m),
            ResponseError::NotFound(m) => Self::new(StatusCode::NOT_FOUND, m),
            other => Self::internal(&other),
        }
    }
}

macro_rules! internal_from {
    ($($ty:ty),*) => {$(
        impl From<$ty> for ApiError {
            fn from(err: $ty) -> Self {
                Self::internal(&err)
            }
        }
    )*};
}
internal_from!(crate::store::StoreError, crate::ebpf::MapsError, nix::Error);

type Answer<T> = Result<Json<T>, ApiError>;

/// Runs `f` on the blocking pool.
async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> Result<T, ApiError> + Send + 'static,
) -> Result<T, ApiError> {
    tokio::task::spawn_blocking(f)
        .await
        .map_err(|e| ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, e.to_string()))?
}

/// Runs `f` with the responder, on the blocking pool.
pub(super) async fn with_responder<T: Send + 'static>(
    state: &ApiState,
    f: impl FnOnce(&mut Responder) -> Result<T, ApiError> + Send + 'static,
) -> Result<T, ApiError> {
    let responder = Arc::clone(&state.responder);
    blocking(move || {
        let mut guard = responder
            .lock()
            .map_err(|_| ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, "responder poisoned"))?;
        f(&mut guard)
    })
    .await
}

/// Runs `f` with a read connection on the database.
pub(super) async fn with_store<T: Send + 'static>(
    state: &ApiState,
    f: impl FnOnce(&mut Store) -> Result<T, ApiError> + Send + 'static,
) -> Result<T, ApiError> {
    let path = state.paths.db_path.clone();
    blocking(move || f(&mut Store::open(&path)?)).await
}

/// The router.
pub fn router(state: ApiState) -> Router {
    Router::new()
        .route("/v1/status", get(status))
        .route("/v1/flows", get(flows))
        .route("/v1/conns", get(conns))
        .route("/v1/devices", get(devices))
        .route("/v1/devices/{who}", get(device))
        .route("/v1/devices/{who}/log", get(device_log))
        .route("/v1/devices/{who}/tags", post(device_tags))
        .route("/v1/rules", get(rules))
        .route(
            "/v1/actions",
            get(super::actions::list).post(super::actions::create),
        )
        .route("/v1/actions/{id}", get(super::actions::one))
        .route("/v1/actions/{id}/clear", post(super::actions::clear))
        .route("/v1/actions/{id}/lift", post(super::actions::clear))
        .route("/v1/actions/{id}/approve", post(super::actions::approve))
        .route("/v1/actions/{id}/extend", post(super::actions::extend))
        .route(
            "/v1/actions/{id}/reactivate",
            post(super::actions::reactivate),
        )
        .route("/v1/breaches", get(breaches))
        .route("/v1/incidents", get(super::incidents::list))
        .route("/v1/incidents/{id}", get(super::incidents::one))
        .route("/v1/investigations", post(super::incidents::investigate))
        .route("/v1/edr_alerts", get(edr_alerts))
        .route("/v1/edr/status", get(edr_status))
        .route("/metrics", get(prometheus))
        .with_state(state)
}

/// A router with `/metrics` alone, for a TCP address.
pub fn metrics_router(paths: Paths) -> Router {
    Router::new().route(
        "/metrics",
        get(move || {
            let paths = paths.clone();
            async move { metrics_answer(paths).await }
        }),
    )
}

fn read_status(paths: &Paths) -> Result<Status, ApiError> {
    let counters = Counters::open_pinned(&paths.pin_dir)?.all()?;
    let flows = FlowTable::open_pinned(&paths.pin_dir)?.entries()?.len();
    let active_actions = Store::open(&paths.db_path)?.active_actions()?.len();
    Ok(Status {
        pin_dir: paths.pin_dir.display().to_string(),
        flows,
        counters: counters
            .iter()
            .map(|(c, v)| (c.name().to_owned(), *v))
            .collect(),
        agent: AgentStats::read(&paths.run_dir),
        active_actions,
    })
}

async fn status(State(state): State<ApiState>) -> Answer<Status> {
    Ok(Json(blocking(move || read_status(&state.paths)).await?))
}

async fn prometheus(State(state): State<ApiState>) -> Result<Response, ApiError> {
    metrics_answer(state.paths).await
}

async fn metrics_answer(paths: Paths) -> Result<Response, ApiError> {
    let status = blocking(move || read_status(&paths)).await?;
    Ok((
        [(header::CONTENT_TYPE, metrics::CONTENT_TYPE)],
        metrics::render(&status),
    )
        .into_response())
}

async fn flows(
    State(state): State<ApiState>,
    Query(q): Query<FlowsQuery>,
) -> Answer<Vec<LiveFlow>> {
    let flows = blocking(move || {
        let table = FlowTable::open_pinned(&state.paths.pin_dir)?;
        let clock = Clock::new()?;
        let q = FlowsQuery {
            proto: q.proto.as_deref().map(str::to_ascii_lowercase),
            ..q
        };
        let mut flows: Vec<LiveFlow> = table
            .entries()?
            .iter()
            .map(|(key, stats)| LiveFlow::from_kernel(key, stats, &clock))
            .filter(|f| q.matches(f))
            .collect();
        flows.sort_by_key(|f| std::cmp::Reverse(f.last_seen));
        Ok(flows)
    })
    .await?;
    Ok(Json(flows))
}

async fn conns(
    State(state): State<ApiState>,
    Query(q): Query<ConnsQuery>,
) -> Answer<Vec<crate::capture::ConnRecord>> {
    let query = ConnQuery {
        since: q.since,
        until: q.until,
        addr: q.addr,
        limit: q.limit.unwrap_or(50),
    };
    Ok(Json(
        with_store(&state, move |s| Ok(s.connections(&query)?)).await?,
    ))
}

async fn devices(State(state): State<ApiState>) -> Answer<Vec<crate::store::devices::Device>> {
    Ok(Json(with_store(&state, |s| Ok(s.devices()?)).await?))
}

fn find(store: &mut Store, who: &str) -> Result<i64, ApiError> {
    let now = chrono::Utc::now().timestamp_nanos_opt().unwrap_or(i64::MAX);
    store.find_device(who, now)?.ok_or_else(|| {
        ApiError::new(
            StatusCode::NOT_FOUND,
            format!("no device known as {who} (see `sensor devices`)"),
        )
    })
}

async fn device(
    State(state): State<ApiState>,
    Path(who): Path<String>,
) -> Answer<crate::store::timeline::DeviceSummary> {
    Ok(Json(
        with_store(&state, move |s| {
            let id = find(s, &who)?;
            s.device_summary(id)?
                .ok_or_else(|| ApiError::new(StatusCode::NOT_FOUND, format!("device {id} is gone")))
        })
        .await?,
    ))
}

async fn device_tags(
    State(state): State<ApiState>,
    Path(who): Path<String>,
    Json(req): Json<super::TagRequest>,
) -> Answer<Vec<String>> {
    let tag = req.tag.trim().to_owned();
    if tag.is_empty() || tag.len() > 64 || tag.chars().any(char::is_control) {
        return Err(ApiError::new(
            StatusCode::BAD_REQUEST,
            "a tag is 1 to 64 characters, none of them control characters",
        ));
    }
    Ok(Json(
        with_store(&state, move |s| {
            let id = find(s, &who)?;
            Ok(s.tag_device(id, &tag, req.remove)?)
        })
        .await?,
    ))
}

async fn device_log(
    State(state): State<ApiState>,
    Path(who): Path<String>,
    Query(q): Query<ListQuery>,
) -> Answer<Vec<crate::store::timeline::LogEntry>> {
    Ok(Json(
        with_store(&state, move |s| {
            let id = find(s, &who)?;
            Ok(s.device_log(id, q.limit.unwrap_or(100))?)
        })
        .await?,
    ))
}

async fn rules(State(state): State<ApiState>) -> Answer<Vec<crate::response::RuleView>> {
    Ok(Json(with_responder(&state, |r| Ok(r.rules()?)).await?))
}

async fn breaches(
    State(state): State<ApiState>,
    Query(q): Query<super::BreachesQuery>,
) -> Answer<Vec<crate::detect::Breach>> {
    Ok(Json(
        with_store(&state, move |s| {
            q.run(s)
                .map_err(|e| ApiError::new(StatusCode::BAD_REQUEST, format!("{e:#}")))
        })
        .await?,
    ))
}

async fn edr_alerts(
    State(state): State<ApiState>,
    Query(q): Query<super::EdrQuery>,
) -> Answer<Vec<crate::store::edr::StoredAlert>> {
    Ok(Json(
        with_store(&state, move |s| {
            q.run(s)
                .map_err(|e| ApiError::new(StatusCode::NOT_FOUND, format!("{e:#}")))
        })
        .await?,
    ))
}

async fn edr_status(
    State(state): State<ApiState>,
) -> Answer<std::collections::BTreeMap<String, crate::edr::connectors::ConnectorStatus>> {
    let mut all = state
        .edr
        .lock()
        .map(|s| s.clone())
        .map_err(|_| ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, "status poisoned"))?;
    let names: Vec<String> = all.keys().cloned().collect();
    let cursors = with_store(&state, move |s| {
        names
            .into_iter()
            .map(|n| Ok((s.edr_cursor(&n)?, n)))
            .collect::<Result<Vec<_>, ApiError>>()
    })
    .await?;
    for (cursor, name) in cursors {
        if let Some(s) = all.get_mut(&name) {
            s.cursor = cursor;
        }
    }
    Ok(Json(all))
}
