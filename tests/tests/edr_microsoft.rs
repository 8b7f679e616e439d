//! Microsoft Defender through a stand-in Graph over HTTPS (a test CA): Entra ID client
//! credentials, `alerts_v2` with `$filter` and `@odata.nextLink`, Advanced Hunting; with a
//! 429, 5xx answers, a revoked token, a token running out, a restart mid-paging and a next
//! link pointing elsewhere.

use std::{
    sync::{Arc, atomic::Ordering},
    time::Duration,
};

use sensor::{
    edr::{
        microsoft::api::{Api, Endpoints},
        poll::Poller,
    },
    store::Store,
};
use sensor_tests::{cli::sensor_output, env};

/// The lab network of the fixtures, as the sensor would have learnt it.
fn lab_devices(db: &std::path::Path) {
    let mut store = Store::open(db).unwrap();
    let since = chrono::DateTime::parse_from_rfc3339("2026-11-01T00:00:00Z")
        .unwrap()
        .timestamp_nanos_opt()
        .unwrap();
    for (ip, mac, name) in [
        ("10.77.1.11", "02:00:0a:4d:01:0b", "ws-01"),
        ("10.77.1.12", "02:00:0a:4d:01:0c", "ws-02"),
        ("10.77.1.13", "02:00:0a:4d:01:0d", "ws-03"),
        ("10.77.1.20", "02:00:0a:4d:01:14", "fs-01"),
    ] {
        let id = store.create_device(Some(mac), true, since).unwrap();
        store
            .assign_address(id, ip.parse().unwrap(), since)
            .unwrap();
        store.set_hostname(id, name).unwrap();
    }
}

#[test]
fn r8_graph_polls_pages_survives_failures_and_enriches_hosts() {
    use sensor_tests::graph_api::{CLIENT, SECRET, TENANT, fixture_stub, router};

    let scratch = env::Scratch::new("edr-graph");
    let stub = Arc::new(fixture_stub());
    let alerts = stub.alerts.lock().unwrap().clone();
    let server = sensor_tests::tls_server::stand_in(scratch.path(), router(Arc::clone(&stub)));
    let (rt, base, ca) = (&server.runtime, server.base.clone(), server.ca.clone());
    let state = scratch.path().join("state");
    let db = state.join("sensor.db");
    std::fs::create_dir_all(&state).unwrap();
    lab_devices(&db);
    let at = Endpoints {
        graph: base.clone(),
        login: base.clone(),
        tenant: TENANT.to_owned(),
    };
    let poller = |secret: &str| Poller {
        name: "defender".into(),
        source: Box::new(Api::new(&at, CLIENT, secret, Some(&ca), 120).unwrap()),
        db_path: db.clone(),
        backoff: Duration::from_millis(20),
    };
    let count = || Store::open(&db).unwrap().edr_alerts(None, 0).unwrap().len();
    let cursor = || Store::open(&db).unwrap().edr_cursor("defender").unwrap();
    let issued = || stub.issued.load(Ordering::SeqCst);

    // Page 1 arrives, then the next pages keep failing: page 1 is stored, but the cursor
    // stays where it was (the pages come in no order).
    stub.fail_pages.store(100, Ordering::SeqCst);
    let err = rt.block_on(poller(SECRET).poll()).unwrap_err();
    assert!(format!("{err:#}").contains("HTTP 503"), "{err:#}");
    assert_eq!(count(), 50, "page 1 stored before the failure");
    assert_eq!(cursor(), None, "no cursor until a whole poll is stored");

    // As after a restart: a fresh poller starts over; a 429 and a 5xx are waited out;
    // every alert arrives exactly once, each on the lab device it names.
    stub.fail_pages.store(1, Ordering::SeqCst);
    stub.throttle.store(1, Ordering::SeqCst);
    let source = poller(SECRET);
    let first = rt.block_on(source.poll()).unwrap();
    assert_eq!(
        (first.stored, first.updated, first.invalid),
        (61, 50, 0),
        "{first:?}"
    );
    assert!(first.retries >= 2, "{first:?}");
    assert_eq!(count(), 111);
    let newest = alerts[0]["lastUpdateDateTime"].as_str().unwrap();
    assert_eq!(
        cursor().as_deref(),
        Some(newest),
        "the cursor is the newest update once all is stored"
    );
    let mut store = Store::open(&db).unwrap();
    for stored in store.edr_alerts(None, 0).unwrap() {
        let host = stored.alert.hostname.clone().unwrap();
        let short = host.split('.').next().unwrap();
        assert_eq!(
            stored.joined.device_id,
            store.device_by_hostname(short).unwrap(),
            "{} joined to {short}",
            stored.alert.id
        );
        assert!(
            stored
                .joined
                .key
                .as_deref()
                .unwrap()
                .starts_with("ip 10.77.1."),
            "{:?}",
            stored.joined
        );
    }
    drop(store);

    // Polled again: only what changed at or after the cursor comes back.
    let again = rt.block_on(source.poll()).unwrap();
    assert_eq!(again.stored, 0, "{again:?}");
    assert!(again.updated <= 2, "{again:?}");

    // The token is revoked mid-run: one 401, a new token, and the poll goes on.
    let before = issued();
    *stub.valid.lock().unwrap() = Some("revoked".into());
    stub.lifetime.store(2, Ordering::SeqCst);
    rt.block_on(source.poll()).unwrap();
    assert_eq!(issued(), before + 1, "renewed on 401");
    // That token lasts two seconds: it is renewed before it runs out, with no 401.
    std::thread::sleep(Duration::from_millis(1200));
    let refused = stub.refused.load(Ordering::SeqCst);
    rt.block_on(source.poll()).unwrap();
    assert_eq!(issued(), before + 2, "renewed before expiry");
    assert_eq!(
        stub.refused.load(Ordering::SeqCst),
        refused,
        "without a 401"
    );
    stub.lifetime.store(0, Ordering::SeqCst);

    // Hosts: the OS and CVEs of the four devices by two hunting queries, spaced out
    // (120 a minute: half a second apart), then kept until they are old.
    let known = rt
        .block_on(source.refresh_hosts(Duration::from_hours(6)))
        .unwrap();
    assert_eq!(known, 4);
    {
        let hunts = stub.hunts.lock().unwrap();
        assert_eq!(hunts.len(), 2, "one query per table");
        assert!(
            hunts[1].0 - hunts[0].0 >= Duration::from_millis(450),
            "queries are spaced out"
        );
        assert!(
            hunts[0]
                .1
                .contains("b2e1d4c3f5a6079889706b5c4d3e2f1a0b9c8d7e")
        );
    }
    assert_eq!(
        rt.block_on(source.refresh_hosts(Duration::from_hours(6)))
            .unwrap(),
        0
    );
    assert_eq!(
        stub.hunts.lock().unwrap().len(),
        2,
        "cached: not asked again"
    );
    let mut store = Store::open(&db).unwrap();
    let fs01 = store.device_by_hostname("fs-01").unwrap().unwrap();
    let hosts = store.edr_hosts_of(fs01).unwrap();
    assert_eq!(hosts.len(), 1);
    assert_eq!(
        hosts[0].os().as_deref(),
        Some("WindowsServer2022 10.0 build 20348")
    );
    assert_eq!(hosts[0].vulnerabilities[0].cve, "CVE-2024-38063");
    drop(store);

    // `sensor device` shows them beside the network's view, with the alerts' links.
    let state_arg = state.to_string_lossy().into_owned();
    let out = sensor_output(&["device", "ws-02", "--state-dir", &state_arg]);
    assert!(out.contains("Windows11 10.0 build 22631"), "{out}");
    assert!(out.contains("CVE-2024-21338"), "{out}");
    assert!(
        out.contains("Credential dumping activity observed"),
        "{out}"
    );
    assert!(
        out.contains("https://security.microsoft.com/alerts/"),
        "{out}"
    );

    // A next link to another host is refused: the token goes to the configured Graph only.
    stub.evil_next.store(true, Ordering::SeqCst);
    let fresh = Poller {
        name: "defender-2".into(),
        ..poller(SECRET)
    };
    let err = format!("{:#}", rt.block_on(fresh.poll()).unwrap_err());
    assert!(err.contains("outside the configured Graph"), "{err}");
    stub.evil_next.store(false, Ordering::SeqCst);

    // Wrong credentials: an error that says so, and never shows the secret.
    let wrong = Poller {
        name: "defender-3".into(),
        ..poller("not-the-secret-42")
    };
    let err = format!("{:#}", rt.block_on(wrong.poll()).unwrap_err());
    assert!(err.contains("HTTP 401"), "{err}");
    assert!(!err.contains("not-the-secret-42") && !err.contains(SECRET));
}
