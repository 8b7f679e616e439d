//! EDR alerts from files through the CLI: the SentinelOne fixture pages import once each;
//! every malformed fixture is counted as invalid with a log line, and nothing stops; an
//! alert that joins no device is kept and shown as unjoined.

use sensor_tests::{
    cli::{field, sensor_json},
    env, fixtures,
};

#[test]
fn r8_sentinelone_export_imports_and_malformed_files_are_counted() {
    let scratch = env::Scratch::new("edr-import");
    let state = scratch.path().to_string_lossy().into_owned();
    let dir = fixtures::shared_dir().join("edr-fixtures");
    let page = |n: u8| {
        dir.join(format!("sentinelone/threats.page{n}.json"))
            .to_string_lossy()
            .into_owned()
    };
    let (p1, p2) = (page(1), page(2));
    let counts = sensor_json(&[
        "edr",
        "import",
        "--vendor",
        "sentinelone",
        "--json",
        "--state-dir",
        &state,
        &p1,
        &p2,
    ]);
    assert_eq!(field(&counts, "read"), 111);
    assert_eq!(field(&counts, "stored"), 111);
    assert_eq!(field(&counts, "invalid"), 0);
    assert_eq!(
        field(&counts, "joined"),
        0,
        "no devices known in a fresh database"
    );
    let again = sensor_json(&[
        "edr",
        "import",
        "--vendor",
        "sentinelone",
        "--json",
        "--state-dir",
        &state,
        &p1,
    ]);
    assert_eq!(
        (field(&again, "stored"), field(&again, "updated")),
        (0, 100)
    );

    let mut bad: Vec<String> = std::fs::read_dir(dir.join("malformed"))
        .unwrap()
        .map(|e| e.unwrap().path().to_string_lossy().into_owned())
        .collect();
    bad.sort();
    let mut args = vec![
        "edr",
        "import",
        "--vendor",
        "sentinelone",
        "--json",
        "--state-dir",
        &state,
    ];
    args.extend(bad.iter().map(String::as_str));
    let out = std::process::Command::new(env::sensor_bin())
        .args(&args)
        .output()
        .unwrap();
    assert!(out.status.success(), "malformed input is not fatal");
    let counts: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert!(field(&counts, "invalid") >= bad.len() as u64, "{counts}");
    assert_eq!(field(&counts, "stored"), 0);
    let log = String::from_utf8_lossy(&out.stderr);
    assert!(log.contains("invalid EDR record"), "{log}");

    let alerts = sensor_json(&[
        "edr",
        "alerts",
        "--json",
        "--limit",
        "0",
        "--state-dir",
        &state,
    ]);
    let alerts = alerts.as_array().unwrap();
    assert_eq!(alerts.len(), 111);
    assert!(alerts.iter().all(|a| a["joined"]["device_id"].is_null()));
    assert!(alerts.iter().any(|a| a["alert"]["ips"][0] == "10.77.1.13"));
}

pub mod sentinelone_api {
    //! A stand-in for SentinelOne's threats API, speaking its documented protocol over the
    //! fixture threats: `ApiToken` auth, `updatedAt__gte`, `limit`, `cursor` paging; with
    //! failures to order (a 429 with `Retry-After`, 5xx answers).

    use std::sync::{
        Arc, Mutex,
        atomic::{AtomicU32, Ordering},
    };

    use axum::{
        Json, Router,
        extract::{Query, State},
        http::{HeaderMap, StatusCode},
        response::{IntoResponse, Response},
        routing::get,
    };
    use serde_json::{Value, json};

    pub const TOKEN: &str = "s1-test-token-7f3a";

    #[derive(Default)]
    pub struct Stub {
        pub threats: Vec<Value>,
        /// Answer this many requests with 429 (Retry-After: 1) first.
        pub throttle: AtomicU32,
        /// Answer this many paged requests (with a `cursor`) with 500 first.
        pub fail_pages: AtomicU32,
        pub requests: Mutex<Vec<String>>,
    }

    async fn threats(
        State(stub): State<Arc<Stub>>,
        headers: HeaderMap,
        Query(q): Query<std::collections::HashMap<String, String>>,
    ) -> Response {
        stub.requests.lock().unwrap().push(format!("{q:?}"));
        if headers.get("authorization").and_then(|v| v.to_str().ok())
            != Some(&format!("ApiToken {TOKEN}"))
        {
            return (
                StatusCode::UNAUTHORIZED,
                "{\"errors\":[{\"code\":4010010}]}",
            )
                .into_response();
        }
        if stub
            .throttle
            .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1))
            .is_ok()
        {
            return (
                StatusCode::TOO_MANY_REQUESTS,
                [("retry-after", "1")],
                "slow down",
            )
                .into_response();
        }
        if q.contains_key("cursor")
            && stub
                .fail_pages
                .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1))
                .is_ok()
        {
            return (StatusCode::INTERNAL_SERVER_ERROR, "oops").into_response();
        }
        let since = q.get("updatedAt__gte").cloned().unwrap_or_default();
        let limit: usize = q.get("limit").and_then(|l| l.parse().ok()).unwrap_or(10);
        let offset: usize = q
            .get("cursor")
            .and_then(|c| c.strip_prefix("off-"))
            .and_then(|n| n.parse().ok())
            .unwrap_or(0);
        let updated = |t: &Value| {
            chrono::DateTime::parse_from_rfc3339(t["threatInfo"]["updatedAt"].as_str().unwrap())
                .unwrap()
        };
        let matching: Vec<&Value> = stub
            .threats
            .iter()
            .filter(|t| {
                since.is_empty()
                    || updated(t) >= chrono::DateTime::parse_from_rfc3339(&since).unwrap()
            })
            .collect();
        let page: Vec<&Value> = matching.iter().skip(offset).take(limit).copied().collect();
        let next = (offset + limit < matching.len()).then(|| format!("off-{}", offset + limit));
        Json(json!({
            "data": page,
            "pagination": { "totalItems": matching.len(), "nextCursor": next },
        }))
        .into_response()
    }

    /// Every fixture threat, oldest update first.
    pub fn fixture_threats() -> Vec<Value> {
        let mut threats = Vec::new();
        for n in 1..=2 {
            let page: Value = serde_json::from_slice(
                &std::fs::read(
                    sensor_tests::fixtures::shared_dir()
                        .join(format!("edr-fixtures/sentinelone/threats.page{n}.json")),
                )
                .unwrap(),
            )
            .unwrap();
            threats.extend(page["data"].as_array().unwrap().iter().cloned());
        }
        threats.sort_by(|a, b| {
            a["threatInfo"]["updatedAt"]
                .as_str()
                .cmp(&b["threatInfo"]["updatedAt"].as_str())
        });
        threats
    }

    pub fn router(stub: Arc<Stub>) -> Router {
        Router::new()
            .route("/web/api/v2.1/threats", get(threats))
            .with_state(stub)
    }
}

#[test]
fn r8_sentinelone_polls_page_by_page_survive_429_5xx_and_a_restart_mid_paging() {
    use std::{
        sync::{Arc, atomic::Ordering},
        time::Duration,
    };

    use sensor::edr::{poll::Poller, sentinelone::api::Api};
    use sentinelone_api::{Stub, TOKEN, router};

    let scratch = env::Scratch::new("edr-s1");
    let stub = Arc::new(Stub {
        threats: sentinelone_api::fixture_threats(),
        ..Stub::default()
    });
    let server = sensor_tests::tls_server::stand_in(scratch.path(), router(Arc::clone(&stub)));
    let (rt, console, ca) = (&server.runtime, server.base.clone(), server.ca.clone());
    let db = scratch.path().join("state").join("sensor.db");
    let poller = |token: &str| Poller {
        name: "s1".into(),
        source: Box::new(Api::new(&console, token, Some(&ca)).unwrap()),
        db_path: db.clone(),
        backoff: Duration::from_millis(20),
    };
    let count = || {
        sensor::store::Store::open(&db)
            .unwrap()
            .edr_alerts(None, 0)
            .unwrap()
            .len()
    };

    // A 429 first (waited out), then page 1; page 2 keeps failing: the poll stops with
    // page 1 stored and the cursor at its latest update.
    stub.throttle.store(1, Ordering::SeqCst);
    stub.fail_pages.store(100, Ordering::SeqCst);
    let err = rt.block_on(poller(TOKEN).poll()).unwrap_err();
    assert!(err.to_string().contains("HTTP 500"), "{err}");
    assert_eq!(count(), 100, "page 1 stored before the failure");

    // As after a restart: a fresh poller resumes from the stored cursor, a 5xx is retried,
    // and the rest arrives; nothing is stored twice.
    stub.fail_pages.store(0, Ordering::SeqCst);
    stub.throttle.store(1, Ordering::SeqCst);
    let stats = rt.block_on(poller(TOKEN).poll()).unwrap();
    assert_eq!(stats.invalid, 0);
    assert!(stats.retries >= 1, "{stats:?}");
    assert_eq!(count(), 111, "every fixture alert exactly once");
    let again = rt.block_on(poller(TOKEN).poll()).unwrap();
    assert_eq!(again.stored, 0, "{again:?}");
    let asked = stub.requests.lock().unwrap().clone();
    assert!(
        asked.iter().any(|q| q.contains("updatedAt__gte")),
        "later polls ask from the cursor: {asked:?}"
    );

    // A wrong token is an error that says so, and never shows the token.
    let err = rt.block_on(poller("wrong-token-123").poll()).unwrap_err();
    let text = format!("{err:#}");
    assert!(text.contains("HTTP 401"), "{text}");
    assert!(!text.contains("wrong-token-123"));
    // Links point back to the console.
    let alerts = sensor::store::Store::open(&db)
        .unwrap()
        .edr_alerts(None, 1)
        .unwrap();
    assert!(
        alerts[0]
            .alert
            .link
            .as_deref()
            .unwrap()
            .starts_with(&console)
    );
}

mod falcon_api {
    //! A stand-in for Falcon's alerts API over the fixture alerts: the `OAuth2` token
    //! endpoint, FQL `updated_timestamp:>=` ids with `after` paging, entities by id; tokens
    //! can be revoked mid-run (a 401) and the first query answered with a 429.

    use std::sync::{
        Arc, Mutex,
        atomic::{AtomicU32, Ordering},
    };

    use axum::{
        Form, Json, Router,
        extract::{Query, State},
        http::{HeaderMap, StatusCode},
        response::{IntoResponse, Response},
        routing::{get, post},
    };
    use serde_json::{Value, json};

    pub const CLIENT: &str = "cs-client";
    pub const SECRET: &str = "cs-secret-91c2";

    #[derive(Default)]
    pub struct Stub {
        pub alerts: Vec<Value>,
        pub issued: AtomicU32,
        pub valid: Mutex<Option<String>>,
        pub throttle: AtomicU32,
    }

    async fn token(
        State(stub): State<Arc<Stub>>,
        Form(form): Form<std::collections::HashMap<String, String>>,
    ) -> Response {
        if form.get("client_id").map(String::as_str) != Some(CLIENT)
            || form.get("client_secret").map(String::as_str) != Some(SECRET)
        {
            return (StatusCode::FORBIDDEN, "{}").into_response();
        }
        let n = stub.issued.fetch_add(1, Ordering::SeqCst) + 1;
        let t = format!("tok-{n}");
        *stub.valid.lock().unwrap() = Some(t.clone());
        Json(json!({ "access_token": t, "token_type": "bearer", "expires_in": 1799 }))
            .into_response()
    }

    fn authorized(stub: &Stub, headers: &HeaderMap) -> bool {
        let want = stub.valid.lock().unwrap().clone();
        want.is_some_and(|t| {
            headers.get("authorization").and_then(|v| v.to_str().ok())
                == Some(&format!("Bearer {t}"))
        })
    }

    async fn ids(
        State(stub): State<Arc<Stub>>,
        headers: HeaderMap,
        Query(q): Query<std::collections::HashMap<String, String>>,
    ) -> Response {
        if !authorized(&stub, &headers) {
            return (StatusCode::UNAUTHORIZED, "{}").into_response();
        }
        if stub
            .throttle
            .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1))
            .is_ok()
        {
            return (StatusCode::TOO_MANY_REQUESTS, [("retry-after", "1")], "{}").into_response();
        }
        let since = q
            .get("filter")
            .and_then(|f| f.strip_prefix("updated_timestamp:>='"))
            .and_then(|f| f.strip_suffix('\''))
            .map(|s| chrono::DateTime::parse_from_rfc3339(s).unwrap());
        let limit: usize = q.get("limit").and_then(|l| l.parse().ok()).unwrap_or(100);
        let offset: usize = q
            .get("after")
            .and_then(|a| a.strip_prefix("a-"))
            .and_then(|n| n.parse().ok())
            .unwrap_or(0);
        let matching: Vec<&Value> = stub
            .alerts
            .iter()
            .filter(|a| {
                since.is_none_or(|s| {
                    chrono::DateTime::parse_from_rfc3339(a["updated_timestamp"].as_str().unwrap())
                        .unwrap()
                        >= s
                })
            })
            .collect();
        let page: Vec<&Value> = matching.iter().skip(offset).take(limit).copied().collect();
        let after = if offset + limit < matching.len() {
            format!("a-{}", offset + limit)
        } else {
            String::new()
        };
        Json(json!({
            "meta": { "pagination": { "offset": offset, "limit": limit, "total": matching.len(), "after": after } },
            "resources": page.iter().map(|a| a["composite_id"].clone()).collect::<Vec<_>>(),
            "errors": [],
        }))
        .into_response()
    }

    async fn entities(
        State(stub): State<Arc<Stub>>,
        headers: HeaderMap,
        Json(body): Json<Value>,
    ) -> Response {
        if !authorized(&stub, &headers) {
            return (StatusCode::UNAUTHORIZED, "{}").into_response();
        }
        let wanted: Vec<&str> = body["composite_ids"]
            .as_array()
            .unwrap()
            .iter()
            .filter_map(Value::as_str)
            .collect();
        let found: Vec<&Value> = stub
            .alerts
            .iter()
            .filter(|a| wanted.contains(&a["composite_id"].as_str().unwrap()))
            .collect();
        Json(json!({ "meta": {}, "resources": found, "errors": [] })).into_response()
    }

    pub fn router(stub: Arc<Stub>) -> Router {
        Router::new()
            .route("/oauth2/token", post(token))
            .route("/alerts/queries/alerts/v2", get(ids))
            .route("/alerts/entities/alerts/v2", post(entities))
            .with_state(stub)
    }
}

#[test]
fn r8_falcon_polls_with_tokens_renewed_on_401_and_retries_on_429() {
    use std::{sync::Arc, time::Duration};

    use falcon_api::{CLIENT, SECRET, Stub, router};
    use sensor::edr::{crowdstrike::api::Api, poll::Poller};

    let scratch = env::Scratch::new("edr-falcon");
    let doc: serde_json::Value = serde_json::from_slice(
        &std::fs::read(
            fixtures::shared_dir().join("edr-fixtures/crowdstrike/entities-alerts-v2.json"),
        )
        .unwrap(),
    )
    .unwrap();
    let mut alerts = doc["resources"].as_array().unwrap().clone();
    alerts.sort_by(|a, b| {
        a["updated_timestamp"]
            .as_str()
            .cmp(&b["updated_timestamp"].as_str())
    });
    let stub = Arc::new(Stub {
        alerts,
        ..Stub::default()
    });
    let server = sensor_tests::tls_server::stand_in(scratch.path(), router(Arc::clone(&stub)));
    let (rt, base, ca) = (&server.runtime, server.base.clone(), server.ca.clone());
    let db = scratch.path().join("state").join("sensor.db");
    let poller = Poller {
        name: "falcon".into(),
        source: Box::new(Api::new(&base, CLIENT, SECRET, Some(&ca)).unwrap()),
        db_path: db.clone(),
        backoff: Duration::from_millis(20),
    };
    let count = || {
        sensor::store::Store::open(&db)
            .unwrap()
            .edr_alerts(None, 0)
            .unwrap()
            .len()
    };

    stub.throttle.store(1, std::sync::atomic::Ordering::SeqCst);
    let first = rt.block_on(poller.poll()).unwrap();
    assert_eq!(first.stored, 111, "{first:?}");
    assert!(first.retries >= 1, "the 429 was waited out: {first:?}");
    assert_eq!(
        stub.issued.load(std::sync::atomic::Ordering::SeqCst),
        1,
        "one token, reused"
    );

    // The token is revoked: the next request gets a 401, a new token is fetched, and the
    // poll goes on; nothing is stored twice.
    *stub.valid.lock().unwrap() = Some("revoked".into());
    let second = rt.block_on(poller.poll()).unwrap();
    assert_eq!(second.stored, 0, "{second:?}");
    assert_eq!(
        stub.issued.load(std::sync::atomic::Ordering::SeqCst),
        2,
        "renewed on 401"
    );
    assert_eq!(count(), 111);

    // Wrong credentials: an error that says so, without the secret.
    let wrong = Poller {
        name: "falcon".into(),
        source: Box::new(Api::new(&base, CLIENT, "not-the-secret-55", Some(&ca)).unwrap()),
        db_path: db.clone(),
        backoff: Duration::from_millis(20),
    };
    let err = format!("{:#}", rt.block_on(wrong.poll()).unwrap_err());
    assert!(err.contains("HTTP 403"), "{err}");
    assert!(!err.contains("not-the-secret-55"));
}
