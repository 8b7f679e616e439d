//! The lab network of `shared/edr-fixtures` as a capture: two days of routine web traffic
//! from ws-01, ws-02 and fs-01 (from 2026-11-18 08:00 UTC, every two hours), then SMB from
//! ws-02 to fs-01 at 2026-11-20 14:35, minutes after the credential dumping the fixtures'
//! alerts report. Replayed with `sensor replay` (the capture's own clock) and joined with
//! the fixture alerts, it tells the ws-02 story the demo shows and the tests check.

use std::{io, path::Path, time::Duration};

use pcap_file::pcap::{PcapPacket, PcapWriter};

/// A host: address and MAC.
type Host = ([u8; 4], [u8; 6]);

const WS01: Host = ([10, 77, 1, 11], [2, 0, 10, 77, 1, 11]);
const WS02: Host = ([10, 77, 1, 12], [2, 0, 10, 77, 1, 12]);
const WS03: Host = ([10, 77, 1, 13], [2, 0, 10, 77, 1, 13]);
const FS01: Host = ([10, 77, 1, 20], [2, 0, 10, 77, 1, 20]);
const WEB: Host = ([10, 77, 1, 30], [2, 0, 10, 77, 1, 30]);
/// `www.example.com`, behind the gateway (its MAC is the gateway's).
const WWW: Host = ([198, 51, 100, 10], [2, 0x77, 1, 0, 0, 1]);

/// 2026-11-18T08:00:00Z, 2026-11-20T14:00:00Z, 2026-11-20T14:35:00Z.
const ROUTINE_FROM: u64 = 1_794_988_800;
const ROUTINE_UNTIL: u64 = 1_795_183_200;
const LATERAL_AT: u64 = 1_795_185_300;

const SYN: u8 = 0x02;
const ACK: u8 = 0x10;
const PSH_ACK: u8 = 0x18;
const FIN_ACK: u8 = 0x11;
const SYN_ACK: u8 = 0x12;

/// The frames, each at its time since the epoch.
#[derive(Default)]
struct Frames(Vec<(Duration, Vec<u8>)>);

impl Frames {
    /// An Ethernet/IPv4/TCP frame (checksums zero: XDP does not check them).
    fn tcp(
        &mut self,
        at: Duration,
        from: Host,
        to: Host,
        ports: (u16, u16),
        flags: u8,
        data: &[u8],
    ) {
        let mut f = Vec::with_capacity(54 + data.len());
        f.extend_from_slice(&to.1);
        f.extend_from_slice(&from.1);
        f.extend_from_slice(&0x0800u16.to_be_bytes());
        f.push(0x45);
        f.push(0);
        f.extend_from_slice(&((40 + data.len()) as u16).to_be_bytes());
        f.extend_from_slice(&[0, 0, 0x40, 0, 64, 6, 0, 0]);
        f.extend_from_slice(&from.0);
        f.extend_from_slice(&to.0);
        f.extend_from_slice(&ports.0.to_be_bytes());
        f.extend_from_slice(&ports.1.to_be_bytes());
        f.extend_from_slice(&[
            0,
            0,
            0,
            1,
            0,
            0,
            0,
            0,
            5 << 4,
            flags,
            0xff,
            0xff,
            0,
            0,
            0,
            0,
        ]);
        f.extend_from_slice(data);
        self.0.push((at, f));
    }

    /// A whole session from `client` to `server:port` starting at `start`: handshake,
    /// `bytes` from the client, a short answer, both FINs.
    fn session(&mut self, start: Duration, client: Host, server: Host, port: u16, bytes: usize) {
        self.session_with(start, client, server, port, &[], bytes);
    }

    /// As [`Frames::session`], the client's first segment carrying `request`.
    fn session_with(
        &mut self,
        start: Duration,
        client: Host,
        server: Host,
        port: u16,
        request: &[u8],
        bytes: usize,
    ) {
        let sport = 40_000 + (self.0.len() % 20_000) as u16;
        let ms = |n: u64| start + Duration::from_millis(n);
        let (up, down) = ((sport, port), (port, sport));
        self.tcp(ms(0), client, server, up, SYN, &[]);
        self.tcp(ms(1), server, client, down, SYN_ACK, &[]);
        self.tcp(ms(2), client, server, up, ACK, &[]);
        let chunk = [0x41u8; 1400];
        let (mut sent, mut step) = (0, 3);
        if !request.is_empty() {
            self.tcp(ms(step), client, server, up, PSH_ACK, request);
            step += 1;
        }
        while sent < bytes {
            let len = chunk.len().min(bytes - sent);
            self.tcp(ms(step), client, server, up, PSH_ACK, &chunk[..len]);
            sent += len;
            step += 1;
        }
        self.tcp(ms(step), server, client, down, PSH_ACK, b"ok");
        self.tcp(ms(step + 1), client, server, up, FIN_ACK, &[]);
        self.tcp(ms(step + 2), server, client, down, FIN_ACK, &[]);
        self.tcp(ms(step + 3), client, server, up, ACK, &[]);
    }
}

/// Writes the capture to `path`.
pub fn write_capture(path: &Path) -> io::Result<()> {
    let mut frames = Frames::default();
    let mut t = ROUTINE_FROM;
    while t < ROUTINE_UNTIL {
        for (k, host) in [WS01, WS02, FS01].into_iter().enumerate() {
            frames.session(Duration::from_secs(t + 60 * k as u64), host, WEB, 80, 3_000);
        }
        t += 2 * 3600;
    }
    frames.session(Duration::from_secs(LATERAL_AT), WS02, FS01, 445, 2_000_000);
    write(path, frames)
}

/// The browser of the lab's hosts (short enough that the sensor's first 128 bytes of a
/// request hold it whole).
pub const BROWSER: &str = "Mozilla/5.0 (Windows NT 10.0; Win64; x64) Edg/131.0";

/// The demo's routine: `days` working days of web use, each the ten hours around the time
/// of day of `until` (seconds since the epoch; nothing after it). In each working
/// hour each host opens the intranet (web-01) and `www.example.com` a few times or not at
/// all, at random minutes, pages of very different sizes, all with the same browser: the
/// way people browse. What the demo's sensor has learnt before its story starts.
pub fn write_routine(path: &Path, until: u64, days: u64) -> io::Result<()> {
    let get = |host: &str| {
        format!("GET / HTTP/1.1\r\nHost: {host}\r\nUser-Agent: {BROWSER}\r\nAccept: */*\r\n\r\n")
    };
    let (intranet, www) = (get("web-01.corp.example"), get("www.example.com"));
    let mut frames = Frames::default();
    let mut dice = Dice(0x5eed_1ab5);
    for day in (0..days).rev() {
        let day_ends = until - day * 24 * 3600;
        for hour in 0..10 {
            let hour_from = day_ends + hour * 3600 - 8 * 3600;
            for host in [WS01, WS02, WS03, FS01] {
                for (server, request) in [(WEB, &intranet), (WWW, &www)] {
                    for _ in 0..[0, 0, 1, 1, 2, 3][dice.below(6) as usize] {
                        let at = hour_from + dice.below(3540);
                        let bytes = (300 << dice.below(7)) + dice.below(300);
                        if at >= until {
                            continue;
                        }
                        frames.session_with(
                            Duration::from_secs(at),
                            host,
                            server,
                            80,
                            request.as_bytes(),
                            bytes as usize,
                        );
                    }
                }
            }
        }
    }
    write(path, frames)
}

/// A small deterministic random source (xorshift), so the capture is the same each run.
struct Dice(u64);

impl Dice {
    /// A number below `n`.
    fn below(&mut self, n: u64) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0 % n
    }
}

fn write(path: &Path, mut frames: Frames) -> io::Result<()> {
    frames.0.sort_by_key(|(at, _)| *at);
    let mut w = PcapWriter::new(std::fs::File::create(path)?).map_err(io::Error::other)?;
    for (at, f) in &frames.0 {
        w.write_packet(&PcapPacket::new(*at, f.len() as u32, f))
            .map_err(io::Error::other)?;
    }
    Ok(())
}

/// The Microsoft Graph fixture pages of the same network's alerts (20 days), as arguments
/// of `sensor edr import`.
pub fn graph_pages() -> Vec<String> {
    let dir = crate::shared_dir().join("edr-fixtures/microsoft-graph");
    (1..=3)
        .map(|n| {
            dir.join(format!("alerts_v2.page{n}.json"))
                .to_string_lossy()
                .into_owned()
        })
        .collect()
}
