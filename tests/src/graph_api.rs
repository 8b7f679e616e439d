//! A Microsoft Graph stand-in: Entra ID client credentials, `alerts_v2` with `$filter`
//! and `$top`/`$skip` paging (next links on the stand-in's own host), Advanced Hunting.
//! Alerts are served newest update first (Graph promises no order). For the tests and
//! for the demo's Defender tenant (`edr-standin`).

#![expect(
    clippy::unwrap_used,
    reason = "a stand-in fails loudly on what a test got wrong"
)]

use std::{
    collections::HashMap,
    sync::{
        Arc, Mutex,
        atomic::{AtomicBool, AtomicU32, AtomicU64, Ordering},
    },
    time::Instant,
};

use axum::{
    Form, Json, Router,
    extract::{Path, Query, State},
    http::{HeaderMap, StatusCode},
    response::{IntoResponse, Response},
    routing::{get, post},
};
use serde_json::{Value, json};

use crate::fixtures::shared_dir;

/// The tenant the stand-in answers for.
pub const TENANT: &str = "5f2e7c1a-0b7d-4c55-9a51-2f1d6c8e9a10";
/// The app registration (client id) it accepts.
pub const CLIENT: &str = "graph-app";
/// The app's secret.
pub const SECRET: &str = "graph-secret-b71e";

/// The tenant's state, and what the tests make it do.
#[derive(Default)]
pub struct Stub {
    /// The alerts served; the demo adds to them as its story goes on.
    pub alerts: Mutex<Vec<Value>>,
    /// `DeviceInfo` rows.
    pub device_info: Vec<Value>,
    /// `DeviceTvmSoftwareVulnerabilities` rows.
    pub vulnerabilities: Vec<Value>,
    /// Tokens issued, and the one that works.
    pub issued: AtomicU32,
    /// The token that works.
    pub valid: Mutex<Option<String>>,
    /// The lifetime of the tokens issued, in seconds.
    pub lifetime: AtomicU64,
    /// 401s answered.
    pub refused: AtomicU32,
    /// Answer this many alert requests with 429 (Retry-After: 1) first.
    pub throttle: AtomicU32,
    /// Answer this many paged requests (with `$skip`) with 503 first.
    pub fail_pages: AtomicU32,
    /// Send next links to another host.
    pub evil_next: AtomicBool,
    /// Answers to send, one per alert request, before the real ones.
    pub malformed: Mutex<Vec<Vec<u8>>>,
    /// Hunting queries, and when they came.
    pub hunts: Mutex<Vec<(Instant, String)>>,
}

async fn token(
    State(stub): State<Arc<Stub>>,
    Path(tenant): Path<String>,
    headers: HeaderMap,
    Form(form): Form<HashMap<String, String>>,
) -> Response {
    let host = headers["host"].to_str().unwrap().to_owned();
    let field = |k: &str| form.get(k).map(String::as_str);
    if tenant != TENANT
        || field("grant_type") != Some("client_credentials")
        || field("client_id") != Some(CLIENT)
        || field("client_secret") != Some(SECRET)
        || field("scope") != Some(&format!("https://{host}/.default"))
    {
        return (
            StatusCode::UNAUTHORIZED,
            Json(json!({"error": "invalid_client", "error_description": "AADSTS7000215"})),
        )
            .into_response();
    }
    let n = stub.issued.fetch_add(1, Ordering::SeqCst) + 1;
    let t = format!("graph-tok-{n}");
    *stub.valid.lock().unwrap() = Some(t.clone());
    let lifetime = match stub.lifetime.load(Ordering::SeqCst) {
        0 => 3599,
        l => l,
    };
    Json(json!({ "token_type": "Bearer", "expires_in": lifetime, "ext_expires_in": lifetime, "access_token": t }))
        .into_response()
}

fn refused(stub: &Stub, headers: &HeaderMap) -> Option<Response> {
    let want = stub.valid.lock().unwrap().clone();
    let ok = want.is_some_and(|t| {
        headers.get("authorization").and_then(|v| v.to_str().ok()) == Some(&format!("Bearer {t}"))
    });
    (!ok).then(|| {
        stub.refused.fetch_add(1, Ordering::SeqCst);
        (
            StatusCode::UNAUTHORIZED,
            Json(json!({"error": {"code": "InvalidAuthenticationToken"}})),
        )
            .into_response()
    })
}

fn take(counter: &AtomicU32) -> bool {
    counter
        .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1))
        .is_ok()
}

async fn alerts(
    State(stub): State<Arc<Stub>>,
    headers: HeaderMap,
    Query(q): Query<HashMap<String, String>>,
) -> Response {
    if let Some(r) = refused(&stub, &headers) {
        return r;
    }
    if let Some(body) = stub.malformed.lock().unwrap().pop() {
        return ([("content-type", "application/json")], body).into_response();
    }
    if take(&stub.throttle) {
        return (StatusCode::TOO_MANY_REQUESTS, [("retry-after", "1")], "{}").into_response();
    }
    if q.contains_key("$skip") && take(&stub.fail_pages) {
        return (StatusCode::SERVICE_UNAVAILABLE, "{}").into_response();
    }
    let filter = q.get("$filter").cloned().unwrap_or_default();
    let since = filter
        .strip_prefix("lastUpdateDateTime ge ")
        .map(|s| chrono::DateTime::parse_from_rfc3339(s).unwrap());
    assert!(filter.is_empty() || since.is_some(), "filter {filter:?}");
    let top: usize = q.get("$top").and_then(|t| t.parse().ok()).unwrap_or(100);
    let skip: usize = q.get("$skip").and_then(|t| t.parse().ok()).unwrap_or(0);
    let alerts = stub.alerts.lock().unwrap().clone();
    let matching: Vec<&Value> = alerts
        .iter()
        .filter(|a| {
            since.is_none_or(|s| {
                chrono::DateTime::parse_from_rfc3339(a["lastUpdateDateTime"].as_str().unwrap())
                    .unwrap()
                    >= s
            })
        })
        .collect();
    let page: Vec<&Value> = matching.iter().skip(skip).take(top).copied().collect();
    let mut body = json!({
        "@odata.context": "https://graph.microsoft.com/v1.0/$metadata#security/alerts_v2",
        "value": page,
    });
    if skip + top < matching.len() {
        let host = if stub.evil_next.load(Ordering::SeqCst) {
            "graph.example.net".to_owned()
        } else {
            headers["host"].to_str().unwrap().to_owned()
        };
        let mut link = format!(
            "https://{host}/v1.0/security/alerts_v2?$top={top}&$skip={}",
            skip + top
        );
        if !filter.is_empty() {
            link = format!("{link}&$filter={}", filter.replace(' ', "%20"));
        }
        body["@odata.nextLink"] = json!(link);
    }
    Json(body).into_response()
}

/// The ids in a query's `DeviceId in ("a", "b")`.
fn ids(query: &str) -> Vec<String> {
    let list = query
        .split("DeviceId in (")
        .nth(1)
        .and_then(|r| r.split(')').next())
        .unwrap_or("");
    list.split(',')
        .map(|i| i.trim().trim_matches('"').to_owned())
        .collect()
}

async fn hunt(
    State(stub): State<Arc<Stub>>,
    headers: HeaderMap,
    Json(body): Json<Value>,
) -> Response {
    if let Some(r) = refused(&stub, &headers) {
        return r;
    }
    let query = body["Query"].as_str().unwrap().to_owned();
    stub.hunts
        .lock()
        .unwrap()
        .push((Instant::now(), query.clone()));
    let (schema, rows) = if query.starts_with("DeviceInfo") {
        ("DeviceInfo", &stub.device_info)
    } else if query.starts_with("DeviceTvmSoftwareVulnerabilities") {
        ("DeviceTvmSoftwareVulnerabilities", &stub.vulnerabilities)
    } else {
        return (StatusCode::BAD_REQUEST, "{}").into_response();
    };
    let wanted = ids(&query);
    let results: Vec<&Value> = rows
        .iter()
        .filter(|r| wanted.iter().any(|w| r["DeviceId"] == w.as_str()))
        .collect();
    Json(json!({ "schema": [{"name": schema, "type": "table"}], "results": results }))
        .into_response()
}

/// The routes: token, alerts, hunting.
pub fn router(stub: Arc<Stub>) -> Router {
    Router::new()
        .route("/{tenant}/oauth2/v2.0/token", post(token))
        .route("/v1.0/security/alerts_v2", get(alerts))
        .route("/v1.0/security/runHuntingQuery", post(hunt))
        .with_state(stub)
}
/// A fixture of the Graph folder.
pub fn fixture(name: &str) -> Value {
    serde_json::from_slice::<Value>(
        &std::fs::read(shared_dir().join("edr-fixtures/microsoft-graph").join(name)).unwrap(),
    )
    .unwrap()
}

/// A stand-in over the fixtures: the alerts newest update first (a cursor moved page by
/// page would skip the older ones), the hunting tables' rows.
pub fn fixture_stub() -> Stub {
    let mut alerts = Vec::new();
    for n in 1..=3 {
        alerts.extend(
            fixture(&format!("alerts_v2.page{n}.json"))["value"]
                .as_array()
                .unwrap()
                .iter()
                .cloned(),
        );
    }
    assert_eq!(alerts.len(), 111);
    alerts.sort_by(|a, b| {
        b["lastUpdateDateTime"]
            .as_str()
            .cmp(&a["lastUpdateDateTime"].as_str())
    });
    Stub {
        alerts: Mutex::new(alerts),
        device_info: fixture("runHuntingQuery.deviceinfo.json")["results"]
            .as_array()
            .unwrap()
            .clone(),
        vulnerabilities: fixture("runHuntingQuery.vulnerabilities.json")["results"]
            .as_array()
            .unwrap()
            .clone(),
        ..Stub::default()
    }
}
