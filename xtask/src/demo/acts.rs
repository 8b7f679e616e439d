//! The traffic of the demo's story, made by real tools inside the hosts' namespaces: curl,
//! dig, nmap and nc.

use std::{
    process::Stdio,
    sync::{
        Arc,
        atomic::{AtomicBool, Ordering},
    },
    thread::{self, JoinHandle},
    time::Duration,
};

use anyhow::Context as _;
use xtask::{
    netns::{self, Netns},
    office,
};

/// An HTTP GET of `http://name:port/` from `ns` with the user agent `agent`, `name` pinned to
/// `ip` (so the request says `Host: name`, as a browser's would); the HTTP status, or
/// `000` when nothing answered.
pub fn get(ns: &Netns, name: &str, ip: &str, port: u16, agent: &str) -> String {
    let out = ns
        .command("curl")
        .args(curl_args(name, ip, port, agent))
        .stdin(Stdio::null())
        .output();
    out.map(|o| String::from_utf8_lossy(&o.stdout).trim().to_owned())
        .unwrap_or_default()
}

fn curl_args(name: &str, ip: &str, port: u16, agent: &str) -> Vec<String> {
    vec![
        "-s".into(),
        "-o".into(),
        "/dev/null".into(),
        "-w".into(),
        "%{http_code}".into(),
        "-m".into(),
        "2".into(),
        "-A".into(),
        agent.into(),
        "--resolve".into(),
        format!("{name}:{port}:{ip}"),
        format!("http://{name}:{port}/"),
    ]
}

/// Asks the lab's resolver for `name` from `ns`; the answer.
pub fn resolve(ns: &Netns, name: &str) -> String {
    ns.exec(
        "dig",
        &[
            "+short",
            "+tries=1",
            "+time=2",
            &format!("@{}", office::DNS_IP),
            name,
            "A",
        ],
    )
    .map(|a| a.trim().to_owned())
    .unwrap_or_default()
}

/// Sends `data` to `ip:port` from `ns` over one TCP connection; whether it went.
pub fn send(ns: &Netns, ip: &str, port: u16, data: &[u8]) -> anyhow::Result<bool> {
    use std::io::Write as _;
    let mut child = ns
        .command("nc")
        .args(["-N", "-w", "3", ip, &port.to_string()])
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .context("failed to run nc")?;
    if let Some(mut stdin) = child.stdin.take() {
        stdin.write_all(data).context("failed to feed nc")?;
    }
    Ok(child.wait().context("failed to wait for nc")?.success())
}

/// Sends `bytes` zeros to `ip:port` from `ns` over one TCP connection; whether it went.
pub fn push(ns: &Netns, ip: &str, port: u16, bytes: u64) -> anyhow::Result<bool> {
    let status = ns
        .command("sh")
        .args([
            "-c",
            &format!("head -c {bytes} /dev/zero | nc -N -w 3 {ip} {port}"),
        ])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .context("failed to run nc")?;
    Ok(status.success())
}

/// Whether a TCP connection from `ns` to `ip:port` opens within a second.
pub fn connects(ns: &Netns, ip: &str, port: u16) -> bool {
    ns.command("nc")
        .args(["-z", "-w", "1", ip, &port.to_string()])
        .stdin(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

/// A connect scan of `ip`'s first 1024 ports from `ns`, one try each.
pub fn scan(ns: &Netns, ip: &str) -> anyhow::Result<()> {
    ns.exec(
        "nmap",
        &["-sT", "-Pn", "-n", "-p", "1-1024", "--max-retries", "0", ip],
    )?;
    Ok(())
}

/// An implant polling its C2 server at a steady rhythm, in the background.
pub struct Beacon {
    stop: Arc<AtomicBool>,
    handle: Option<JoinHandle<(u32, u32)>>,
}

impl Beacon {
    /// Starts polling `http://name:port/` (pinned to `ip`) from the namespace `ns` every
    /// `every`, with a browser's user agent.
    pub fn start(ns: &Netns, name: &str, ip: &str, port: u16, every: Duration) -> Self {
        let stop = Arc::new(AtomicBool::new(false));
        let (ns, args) = (
            ns.name().to_owned(),
            curl_args(name, ip, port, xtask::story::BROWSER),
        );
        let flag = Arc::clone(&stop);
        let handle = thread::spawn(move || {
            let (mut answered, mut failed) = (0, 0);
            while !flag.load(Ordering::SeqCst) {
                let code = netns::command_in(&ns, "curl")
                    .args(&args)
                    .stdin(Stdio::null())
                    .output()
                    .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_owned())
                    .unwrap_or_default();
                if code == "200" {
                    answered += 1;
                } else {
                    failed += 1;
                }
                thread::sleep(every);
            }
            (answered, failed)
        });
        Self {
            stop,
            handle: Some(handle),
        }
    }

    /// Stops it; how many polls were answered and how many failed.
    pub fn stop(&mut self) -> (u32, u32) {
        self.stop.store(true, Ordering::SeqCst);
        self.handle
            .take()
            .and_then(|h| h.join().ok())
            .unwrap_or_default()
    }
}

impl Drop for Beacon {
    fn drop(&mut self) {
        let _ = self.stop();
    }
}
