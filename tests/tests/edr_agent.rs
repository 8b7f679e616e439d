//! The agent polls its configured connectors: a SentinelOne console and a Microsoft Graph
//! tenant, stand-ins in the gateway's namespace; every malformed fixture counted and
//! logged while polling goes on; every fixture alert once, hosts enriched, status per
//! connector, and no secret or token in the agent's log.

use std::{
    sync::Arc,
    thread,
    time::{Duration, Instant},
};

use sensor_tests::{
    env, graph_api,
    running::{Running, SHORT_TIMEOUTS},
    traffic::in_netns,
};

use super::edr::sentinelone_api;

#[test]
fn r8_the_agent_polls_its_configured_connectors() {
    if !env::require_root("r8_the_agent_polls_its_configured_connectors") {
        return;
    }
    let files = env::Scratch::new("edr-agent-files");
    sensor_tests::tls_server::make_ca(files.path());
    let (s1_token, graph_secret) = (
        files.path().join("s1.token"),
        files.path().join("graph.secret"),
    );
    std::fs::write(&s1_token, format!("{}\n", sentinelone_api::TOKEN)).unwrap();
    std::fs::write(&graph_secret, graph_api::SECRET).unwrap();
    let (ca, base) = (files.path().join("ca.pem"), "https://127.0.0.1:18444");
    let config = files.path().join("sensor.toml");
    std::fs::write(
        &config,
        format!(
            "[[edr]]\nname = \"s1\"\nvendor = \"sentinelone\"\nconsole = \"{base}\"\n\
             token_file = \"{}\"\nca_file = \"{}\"\ninterval = \"1s\"\n\n\
             [[edr]]\nname = \"defender\"\nvendor = \"microsoft\"\nconsole = \"{base}\"\n\
             login = \"{base}\"\ntenant = \"{}\"\nclient_id = \"{}\"\ntoken_file = \"{}\"\n\
             ca_file = \"{}\"\ninterval = \"1s\"\nhunting_per_minute = 120\n",
            s1_token.display(),
            ca.display(),
            graph_api::TENANT,
            graph_api::CLIENT,
            graph_secret.display(),
            ca.display(),
        ),
    )
    .unwrap();
    let mut args = SHORT_TIMEOUTS.to_vec();
    let config_arg = config.to_string_lossy().into_owned();
    args.extend(["--config", &config_arg]);
    let run = Running::start_with("edr-agent", &args);

    // Both stand-ins on one HTTPS listener inside the gateway's namespace, where the agent
    // runs.
    let s1 = Arc::new(sentinelone_api::Stub {
        threats: sentinelone_api::fixture_threats(),
        ..sentinelone_api::Stub::default()
    });
    // Graph answers with each malformed fixture first, one per request.
    let graph = graph_api::fixture_stub();
    let dir = sensor_tests::fixtures::shared_dir().join("edr-fixtures/malformed");
    let mut malformed: Vec<_> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| std::fs::read(e.unwrap().path()).unwrap())
        .collect();
    let bad = malformed.len() as u64;
    assert!(bad >= 7);
    graph.malformed.lock().unwrap().append(&mut malformed);
    let graph = Arc::new(graph);
    let router =
        sentinelone_api::router(Arc::clone(&s1)).merge(graph_api::router(Arc::clone(&graph)));
    let listener = in_netns(run.lab.gateway.name(), || {
        std::net::TcpListener::bind("127.0.0.1:18444").unwrap()
    });
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .unwrap();
    sensor_tests::tls_server::serve_on(&rt, files.path(), router, listener);

    let start = Instant::now();
    let status = loop {
        let all = run.api_json(&["edr", "status"]);
        if all["s1"]["stored"].as_u64() == Some(111)
            && all["defender"]["stored"].as_u64() == Some(111)
            && all["defender"]["hosts"].as_u64() == Some(4)
        {
            break all;
        }
        assert!(
            start.elapsed() < Duration::from_secs(40),
            "not polled: {all}\n{}",
            run.agent.log_text()
        );
        thread::sleep(Duration::from_millis(300));
    };
    // Each malformed answer counted (a record that cannot be mapped, or a page that is not
    // Graph's), said in the log, and the connector went on to poll the rest.
    assert!(
        status["defender"]["invalid"].as_u64().unwrap() >= bad,
        "{status}"
    );
    let log = run.agent.log_text();
    assert!(log.contains("invalid EDR record"), "{log}");
    assert!(log.contains("unreadable answer"), "{log}");
    assert_eq!(status["s1"]["invalid"], 0, "{status}");
    for name in ["s1", "defender"] {
        assert!(
            status[name]["cursor"]
                .as_str()
                .is_some_and(|c| c.starts_with("2026-11")),
            "{status}"
        );
    }
    let alerts = run.api_json(&["edr", "alerts", "--limit", "0"]);
    let alerts = alerts.as_array().unwrap();
    assert_eq!(
        alerts.len(),
        222,
        "each vendor's alerts once, in their own rows"
    );
    assert!(
        alerts.iter().all(|a| a["joined"]["device_id"].is_null()),
        "the lab's devices are not the fixtures' (other MACs, other times): kept as unjoined"
    );
    // Fusion scored them: per vendor, the four rare alerts and each common type the first
    // time on each device surface; the rest are routine.
    let start = Instant::now();
    let unusual = loop {
        let unusual = run.api_json(&["edr", "alerts", "--unusual", "--limit", "0"]);
        let n = unusual.as_array().unwrap().len();
        if n >= 26 || start.elapsed() > Duration::from_secs(10) {
            break unusual;
        }
        thread::sleep(Duration::from_millis(300));
    };
    let unusual = unusual.as_array().unwrap();
    assert_eq!(unusual.len(), 2 * (4 + 9), "{unusual:?}");
    assert!(unusual.iter().any(|a| {
        a["alert"]["title"] == "Credential dumping activity observed"
            && a["rarity"]["reason"]
                .as_str()
                .unwrap()
                .starts_with("never seen on this device")
    }));
    for secret in [sentinelone_api::TOKEN, graph_api::SECRET, "graph-tok-"] {
        assert!(!log.contains(secret), "{secret} appears in the agent's log");
    }
}
