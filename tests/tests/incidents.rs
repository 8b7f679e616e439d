//! The ws-02 story end to end: lab traffic of the fixtures' network (two days of routine,
//! then SMB from ws-02 to fs-01) replayed through the real XDP program on its own clock,
//! the Graph fixture alerts imported; fusion surfaces the rare alerts, not the routine
//! ones, and the investigations make one incident of credential dumping, remote service
//! creation, the lateral movement and the ransomware on fs-01; its reports read and render.

use std::process::Command;

use sensor_tests::{
    cli::{field, sensor_json, sensor_output},
    env,
};

#[test]
fn r9_the_ws02_story_is_one_incident_with_readable_reports() {
    if !env::require_root("r9_the_ws02_story_is_one_incident_with_readable_reports") {
        return;
    }
    let scratch = env::Scratch::new("incidents");
    let state = scratch.path().join("state").to_string_lossy().into_owned();
    let pcap = scratch.path().join("lab.pcap");
    xtask::story::write_capture(&pcap).unwrap();
    let pcap_arg = pcap.to_string_lossy().into_owned();
    sensor_json(&["replay", "--json", "--state-dir", &state, &pcap_arg]);
    let breaches = sensor_json(&[
        "breaches",
        "--json",
        "--model",
        "lateral-movement",
        "--state-dir",
        &state,
    ]);
    let lateral = breaches.as_array().unwrap();
    assert_eq!(
        lateral.len(),
        1,
        "SMB to fs-01 is new for ws-02: {breaches}"
    );
    let lateral_id = lateral[0]["id"].as_i64().unwrap();

    let pages = xtask::story::graph_pages();
    let mut args = vec![
        "edr",
        "import",
        "--vendor",
        "microsoft",
        "--json",
        "--state-dir",
        &state,
    ];
    args.extend(pages.iter().map(String::as_str));
    let imported = sensor_json(&args);
    assert_eq!(field(&imported, "stored"), 111);
    let surfaced = field(&imported, "surfaced");
    // Measured for the closing note: the share of alerts that surfaced.
    println!(
        "surfaced {surfaced} of 111 alerts ({:.1}%)",
        surfaced as f64 * 100.0 / 111.0
    );
    assert!((4..=20).contains(&surfaced), "{imported}");
    let unusual = sensor_json(&[
        "edr",
        "alerts",
        "--unusual",
        "--json",
        "--limit",
        "0",
        "--state-dir",
        &state,
    ]);
    let titles: Vec<&str> = unusual
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["alert"]["title"].as_str().unwrap())
        .collect();
    for rare in [
        "Credential dumping activity observed",
        "Suspicious remote service creation",
        "Ransomware behavior detected in the file system",
        "Communication with a known command-and-control server",
    ] {
        assert!(titles.contains(&rare), "{rare} surfaced: {titles:?}");
    }

    let incidents = sensor_json(&["incidents", "--json", "--state-dir", &state]);
    let list = incidents.as_array().unwrap();
    assert_eq!(list.len(), 1, "one story, one incident: {incidents:#}");
    let story = &list[0];
    let id = story["id"].as_i64().unwrap();
    assert!(
        story["breaches"]
            .as_array()
            .unwrap()
            .iter()
            .any(|b| b.as_i64() == Some(lateral_id)),
        "{story:#}"
    );
    let held = story["edr_alerts"].as_array().unwrap().len();
    assert!(held >= 3, "{story:#}");
    let addrs: Vec<&str> = story["devices"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|d| d["addrs"].as_array().unwrap())
        .map(|a| a.as_str().unwrap())
        .collect();
    assert!(
        addrs.contains(&"10.77.1.12") && addrs.contains(&"10.77.1.20"),
        "{addrs:?}"
    );

    // Reports: Markdown and HTML hold the story; the PDF reads and renders.
    let id_arg = id.to_string();
    let md = sensor_output(&["incident", &id_arg, "--state-dir", &state]);
    for want in [
        "Credential dumping activity observed",
        "Suspicious remote service creation",
        "lateral-movement",
        "## Recommended actions",
        "### evaluate",
    ] {
        assert!(md.contains(want), "{want} in\n{md}");
    }
    let html_path = scratch.path().join("incident.html");
    let html_arg = html_path.to_string_lossy().into_owned();
    sensor_output(&[
        "incident",
        &id_arg,
        "--report",
        "html",
        "-o",
        &html_arg,
        "--state-dir",
        &state,
    ]);
    let html = std::fs::read_to_string(&html_path).unwrap();
    assert!(
        html.contains("<svg") && html.contains("10.77.1.20"),
        "{html}"
    );
    assert!(!html.contains("<script"), "self-contained, no scripts");
    let pdf_path = scratch.path().join("incident.pdf");
    let pdf_arg = pdf_path.to_string_lossy().into_owned();
    sensor_output(&[
        "incident",
        &id_arg,
        "--report",
        "pdf",
        "-o",
        &pdf_arg,
        "--state-dir",
        &state,
    ]);
    let text = Command::new("pdftotext")
        .args([&pdf_arg, "-"])
        .output()
        .expect("pdftotext (poppler-utils; `cargo xtask setup` installs it)");
    assert!(text.status.success());
    let text = String::from_utf8_lossy(&text.stdout);
    let title = format!("Incident #{id}");
    for want in [title.as_str(), "Credential dumping", "Recommended actions"] {
        assert!(text.contains(want), "{want} in the PDF's text:\n{text}");
    }
    let png = scratch.path().join("page");
    let rendered = Command::new("pdftoppm")
        .args(["-png", "-r", "50", "-f", "1", "-l", "1", &pdf_arg])
        .arg(&png)
        .status()
        .unwrap();
    assert!(rendered.success());
    let page = std::fs::read_dir(scratch.path())
        .unwrap()
        .map(|e| e.unwrap().path())
        .find(|p| {
            p.file_name()
                .is_some_and(|n| n.to_string_lossy().starts_with("page"))
        })
        .expect("pdftoppm wrote page 1");
    assert!(
        std::fs::metadata(&page).unwrap().len() > 2_000,
        "page 1 rendered with text on it"
    );
}
