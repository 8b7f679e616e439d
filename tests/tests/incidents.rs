//! The ws-02 story end to end: lab traffic of the fixtures' network (two days of routine,
//! then SMB from ws-02 to fs-01) replayed through the real XDP program on its own clock,
//! the Graph fixture alerts imported; fusion surfaces the rare alerts, not the routine
//! ones, and the investigations make one incident of credential dumping, remote service
//! creation, the lateral movement and the ransomware on fs-01; its reports read and render.

use std::{path::Path, process::Command, time::Duration};

use chrono::{DateTime, Utc};
use pcap_file::pcap::{PcapPacket, PcapWriter};
use sensor_tests::{
    cli::{field, sensor_json, sensor_output},
    env, fixtures,
    packet::{Ipv4, ethernet, ethertype, tcp},
};

const WS01: ([u8; 4], [u8; 6]) = ([10, 77, 1, 11], [2, 0, 10, 77, 1, 11]);
const WS02: ([u8; 4], [u8; 6]) = ([10, 77, 1, 12], [2, 0, 10, 77, 1, 12]);
const FS01: ([u8; 4], [u8; 6]) = ([10, 77, 1, 20], [2, 0, 10, 77, 1, 20]);
const WEB: ([u8; 4], [u8; 6]) = ([10, 77, 1, 30], [2, 0, 10, 77, 1, 30]);

const SYN: u8 = 0x02;
const ACK: u8 = 0x10;
const PSH_ACK: u8 = 0x18;
const FIN_ACK: u8 = 0x11;
const SYN_ACK: u8 = 0x12;

/// Frames of one TCP session from `a` to `b` at `t`, `bytes` sent by `a`.
struct Session {
    frames: Vec<(DateTime<Utc>, Vec<u8>)>,
}

impl Session {
    fn frame(
        &mut self,
        t: DateTime<Utc>,
        from: ([u8; 4], [u8; 6]),
        to: ([u8; 4], [u8; 6]),
        ports: (u16, u16),
        flags: u8,
        payload: &[u8],
    ) {
        let ip = Ipv4::new(from.0, to.0, 6).packet(&tcp(ports.0, ports.1, flags, payload));
        let mut f = ethernet(&[], ethertype::IPV4, &ip);
        f[0..6].copy_from_slice(&to.1);
        f[6..12].copy_from_slice(&from.1);
        self.frames.push((t, f));
    }

    fn tcp(
        &mut self,
        start: DateTime<Utc>,
        client: ([u8; 4], [u8; 6]),
        server: ([u8; 4], [u8; 6]),
        port: u16,
        bytes: usize,
    ) {
        let sport = 40_000 + (self.frames.len() % 20_000) as u16;
        let ms = |n: i64| start + chrono::Duration::milliseconds(n);
        self.frame(ms(0), client, server, (sport, port), SYN, &[]);
        self.frame(ms(1), server, client, (port, sport), SYN_ACK, &[]);
        self.frame(ms(2), client, server, (sport, port), ACK, &[]);
        let chunk = [0x41u8; 1400];
        let mut sent = 0;
        let mut step = 3;
        while sent < bytes {
            let len = chunk.len().min(bytes - sent);
            self.frame(
                ms(step),
                client,
                server,
                (sport, port),
                PSH_ACK,
                &chunk[..len],
            );
            sent += len;
            step += 1;
        }
        self.frame(ms(step), server, client, (port, sport), PSH_ACK, b"ok");
        self.frame(ms(step + 1), client, server, (sport, port), FIN_ACK, &[]);
        self.frame(ms(step + 2), server, client, (port, sport), FIN_ACK, &[]);
        self.frame(ms(step + 3), client, server, (sport, port), ACK, &[]);
    }
}

fn at(s: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(s).unwrap().into()
}

/// Two days of routine web traffic from the workstations and the file server, then SMB
/// from ws-02 to fs-01 minutes after the credential dumping the fixtures report.
fn lab_capture(path: &Path) {
    let mut s = Session { frames: Vec::new() };
    let mut t = at("2026-11-18T08:00:00Z");
    while t < at("2026-11-20T14:00:00Z") {
        for (k, dev) in [WS01, WS02, FS01].into_iter().enumerate() {
            s.tcp(t + chrono::Duration::minutes(k as i64), dev, WEB, 80, 3_000);
        }
        t += chrono::Duration::hours(2);
    }
    s.tcp(at("2026-11-20T14:35:00Z"), WS02, FS01, 445, 2_000_000);
    s.frames.sort_by_key(|(t, _)| *t);
    let file = std::fs::File::create(path).unwrap();
    let mut w = PcapWriter::new(file).unwrap();
    for (t, f) in &s.frames {
        let ts = Duration::from_nanos(t.timestamp_nanos_opt().unwrap() as u64);
        w.write_packet(&PcapPacket::new(ts, f.len() as u32, f))
            .unwrap();
    }
}

#[test]
fn r9_the_ws02_story_is_one_incident_with_readable_reports() {
    if !env::require_root("r9_the_ws02_story_is_one_incident_with_readable_reports") {
        return;
    }
    let scratch = env::Scratch::new("incidents");
    let state = scratch.path().join("state").to_string_lossy().into_owned();
    let pcap = scratch.path().join("lab.pcap");
    lab_capture(&pcap);
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

    let dir = fixtures::shared_dir().join("edr-fixtures/microsoft-graph");
    let pages: Vec<String> = (1..=3)
        .map(|n| {
            dir.join(format!("alerts_v2.page{n}.json"))
                .to_string_lossy()
                .into_owned()
        })
        .collect();
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
