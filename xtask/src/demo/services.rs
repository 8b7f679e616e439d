//! What runs in the demo's lab besides the sensor: web servers, a resolver, one-shot sinks
//! for uploads and SMB writes, and the Defender tenant (`edr-standin`). Each is a child
//! process inside its namespace; they die with the namespaces at the end.

use std::{
    io::{BufRead as _, BufReader, Write as _},
    path::Path,
    process::{Child, ChildStdin, ChildStdout, Command, Stdio},
    thread,
    time::Duration,
};

use anyhow::{Context as _, bail};
use serde_json::Value;
use xtask::{
    netns::Netns,
    office::{self, Office},
};

/// The servers of the lab, killed on drop.
pub struct Servers(Vec<Child>);

impl Drop for Servers {
    fn drop(&mut self) {
        for child in &mut self.0 {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

fn spawn(cmd: &mut Command, what: &str) -> anyhow::Result<Child> {
    cmd.stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .with_context(|| format!("failed to start {what}"))
}

/// An HTTP server on `ip:port` in `ns` serving a small page.
fn web(ns: &Netns, ip: &str, port: u16, root: &Path) -> anyhow::Result<Child> {
    spawn(
        ns.command("python3")
            .args(["-m", "http.server", &port.to_string(), "--bind", ip])
            .arg("--directory")
            .arg(root),
        &format!("a web server on {ip}:{port}"),
    )
}

/// Starts the intranet (web-01), `www.example.com`, the resolver and the C2 server (which
/// answers plain HTTP on 443, as many do).
pub fn start(lab: &Office, scratch: &Path) -> anyhow::Result<Servers> {
    let root = scratch.join("www");
    std::fs::create_dir_all(&root).context("failed to create the web root")?;
    std::fs::write(root.join("index.html"), "<html>lab page</html>\n")
        .context("failed to write the web page")?;
    let mut children = vec![
        web(lab.host("web-01"), "10.77.1.30", 80, &root)?,
        web(&lab.internet, office::WWW_IP, 80, &root)?,
        web(&lab.internet, office::C2_IP, 443, &root)?,
    ];
    children.push(spawn(
        lab.internet
            .command("dnsmasq")
            .args([
                "--no-daemon",
                "--no-resolv",
                "--no-hosts",
                "--bind-interfaces",
            ])
            .arg(format!("--listen-address={}", office::DNS_IP))
            .arg("--address=/web-01.corp.example/10.77.1.30")
            .arg("--address=/fs-01.corp.example/10.77.1.20")
            .arg(format!("--address=/www.example.com/{}", office::WWW_IP))
            .arg(format!(
                "--address=/cdn-update.example.net/{}",
                office::C2_IP
            ))
            .arg(format!("--address=/files.example.org/{}", office::DROP_IP))
            .arg(format!(
                "--pid-file={}",
                scratch.join("dnsmasq.pid").display()
            )),
        "dnsmasq",
    )?);
    // python's server takes a moment to import and bind.
    thread::sleep(Duration::from_millis(800));
    Ok(Servers(children))
}

/// A one-shot TCP sink on `ip:port` in `ns`: takes one connection, reads it to the end.
pub fn sink(ns: &Netns, ip: &str, port: u16) -> anyhow::Result<Child> {
    let child = spawn(
        ns.command("nc").args(["-l", "-N", ip, &port.to_string()]),
        &format!("a sink on {ip}:{port}"),
    )?;
    thread::sleep(Duration::from_millis(200));
    Ok(child)
}

/// The Defender tenant: a Graph stand-in in the gateway's namespace.
pub struct Defender {
    child: Child,
    stdin: ChildStdin,
    stdout: BufReader<ChildStdout>,
    /// What it said when it came up: base URL, CA, tenant, app, secret file, counts.
    pub hello: Value,
}

impl Defender {
    /// Starts `edr-standin` with its files in `dir`.
    pub fn start(standin: &Path, gateway: &Netns, dir: &Path) -> anyhow::Result<Self> {
        std::fs::create_dir_all(dir).context("failed to create the tenant's dir")?;
        let mut child = gateway
            .command(&standin.to_string_lossy())
            .arg(dir)
            .arg("127.0.0.1:18443")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .context("failed to start edr-standin")?;
        let (Some(stdin), Some(stdout)) = (child.stdin.take(), child.stdout.take()) else {
            bail!("edr-standin has no pipes");
        };
        let mut defender = Self {
            child,
            stdin,
            stdout: BufReader::new(stdout),
            hello: Value::Null,
        };
        defender.hello = defender.read()?;
        Ok(defender)
    }

    fn read(&mut self) -> anyhow::Result<Value> {
        let mut line = String::new();
        self.stdout
            .read_line(&mut line)
            .context("failed to read from edr-standin")?;
        if line.is_empty() {
            bail!("edr-standin stopped");
        }
        serde_json::from_str(&line).with_context(|| format!("edr-standin said {line:?}"))
    }

    /// Makes Defender raise the held alerts about `host` now; their titles.
    pub fn release(&mut self, host: &str) -> anyhow::Result<Vec<String>> {
        writeln!(self.stdin, "release {host}").context("failed to talk to edr-standin")?;
        let answer = self.read()?;
        Ok(answer["released"]
            .as_array()
            .map(|a| {
                a.iter()
                    .filter_map(|t| t.as_str().map(str::to_owned))
                    .collect()
            })
            .unwrap_or_default())
    }

    /// The `[[edr]]` section that points the agent at this tenant.
    pub fn config(&self) -> String {
        let h = &self.hello;
        let s = |k: &str| h[k].as_str().unwrap_or_default().to_owned();
        format!(
            "[[edr]]\nname = \"defender\"\nvendor = \"microsoft\"\nconsole = \"{base}\"\n\
             login = \"{base}\"\ntenant = \"{}\"\nclient_id = \"{}\"\ntoken_file = \"{}\"\n\
             ca_file = \"{}\"\ninterval = \"2s\"\nhunting_per_minute = 30\n",
            s("tenant"),
            s("client_id"),
            s("secret_file"),
            s("ca"),
            base = s("base"),
        )
    }
}

impl Drop for Defender {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
