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
