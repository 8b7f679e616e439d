//! Network namespaces and veth pairs for labs and tests.
//!
//! Names are unique per process and call (`sn<pid % 10000><n><role>`, within the 15
//! characters an interface name may have), so tests can run side by side and never meet a
//! leftover from another run. A [`Netns`] kills what still runs inside it and deletes itself
//! on drop, also while a test panics; a failure there is logged, not raised.

use std::{
    io::Write as _,
    process::{Command, Output, Stdio},
    sync::atomic::{AtomicU32, Ordering},
};

use anyhow::{Context as _, bail};

static NEXT: AtomicU32 = AtomicU32::new(0);

/// A fresh name prefix: `sn<pid % 10000><n>`, at most 10 characters.
pub fn unique_prefix() -> String {
    let n = NEXT.fetch_add(1, Ordering::Relaxed) % 1000;
    format!("sn{}{n}", std::process::id() % 10_000)
}

/// Runs a command to completion; fails with its stderr if it fails.
pub fn run(cmd: &mut Command) -> anyhow::Result<String> {
    let out: Output = cmd
        .stdin(Stdio::null())
        .output()
        .with_context(|| format!("failed to start {cmd:?}"))?;
    if !out.status.success() {
        bail!(
            "{cmd:?} failed ({}): {}",
            out.status,
            String::from_utf8_lossy(&out.stderr).trim()
        );
    }
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

/// A command that runs `program` inside the namespace called `name` (for a thread that
/// holds only the name).
pub fn command_in(name: &str, program: &str) -> Command {
    let mut cmd = Command::new("ip");
    cmd.args(["netns", "exec", name, program]);
    cmd
}

/// `ip` with arguments, run to completion.
pub fn ip(args: &[&str]) -> anyhow::Result<String> {
    run(Command::new("ip").args(args))
}

/// A network namespace, deleted on drop.
#[derive(Debug)]
pub struct Netns {
    name: String,
}

impl Netns {
    /// Creates the namespace `name`, brings its loopback up and turns IPv6 off by default (so
    /// that neighbour discovery and router solicitations do not add packets a test did not
    /// send; [`Netns::enable_ipv6`] turns it back on).
    pub fn create(name: &str) -> anyhow::Result<Self> {
        ip(&["netns", "add", name])?;
        let ns = Self {
            name: name.to_owned(),
        };
        ns.ip(&["link", "set", "lo", "up"])?;
        ns.sysctl("net.ipv6.conf.all.disable_ipv6", "1")?;
        ns.sysctl("net.ipv6.conf.default.disable_ipv6", "1")?;
        Ok(ns)
    }

    /// Its name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// A command that runs `program` inside the namespace.
    pub fn command(&self, program: &str) -> Command {
        command_in(&self.name, program)
    }

    /// Runs `program args...` inside the namespace to completion.
    pub fn exec(&self, program: &str, args: &[&str]) -> anyhow::Result<String> {
        run(self.command(program).args(args))
    }

    /// `ip -n <ns> args...`.
    pub fn ip(&self, args: &[&str]) -> anyhow::Result<String> {
        let mut all = vec!["-n", self.name.as_str()];
        all.extend_from_slice(args);
        ip(&all)
    }

    /// Sets a sysctl inside the namespace.
    pub fn sysctl(&self, key: &str, value: &str) -> anyhow::Result<()> {
        self.exec("sysctl", &["-qw", &format!("{key}={value}")])?;
        Ok(())
    }

    /// Turns IPv6 back on for the namespace's interfaces made after this call.
    pub fn enable_ipv6(&self) -> anyhow::Result<()> {
        self.sysctl("net.ipv6.conf.all.disable_ipv6", "0")?;
        self.sysctl("net.ipv6.conf.default.disable_ipv6", "0")
    }

    /// Reads an interface counter (`rx_packets`, `tx_bytes`, ...) from sysfs inside the
    /// namespace.
    pub fn iface_counter(&self, iface: &str, counter: &str) -> anyhow::Result<u64> {
        let path = format!("/sys/class/net/{iface}/statistics/{counter}");
        let text = self.exec("cat", &[&path])?;
        text.trim()
            .parse()
            .with_context(|| format!("{path} in {} is not a number: {text:?}", self.name))
    }
}

impl Drop for Netns {
    fn drop(&mut self) {
        // Whatever a test left running inside (servers, the agent) goes with it.
        if let Ok(pids) = ip(&["netns", "pids", &self.name]) {
            for pid in pids.split_whitespace() {
                let _ = Command::new("kill").args(["-9", pid]).status();
            }
        }
        if let Err(err) = ip(&["netns", "del", &self.name]) {
            let _ = writeln!(
                std::io::stderr(),
                "warning: failed to delete netns {}: {err:#}",
                self.name
            );
        }
    }
}

/// One end of a veth pair.
#[derive(Clone, Copy, Debug)]
pub struct VethEnd<'a> {
    /// The namespace it lives in.
    pub ns: &'a Netns,
    /// The interface name (at most 15 characters).
    pub name: &'a str,
    /// Its MAC address, fixed so neighbours can be set statically.
    pub mac: &'a str,
    /// Its address with prefix length, e.g. `10.77.1.1/24`; none for a bridge port.
    pub addr: Option<&'a str>,
}

/// Creates a veth pair between two namespaces, addresses and brings up both ends. The pair
/// goes away with either namespace.
pub fn veth(a: VethEnd<'_>, b: VethEnd<'_>) -> anyhow::Result<()> {
    ip(&[
        "link",
        "add",
        a.name,
        "address",
        a.mac,
        "netns",
        a.ns.name(),
        "type",
        "veth",
        "peer",
        "name",
        b.name,
        "address",
        b.mac,
        "netns",
        b.ns.name(),
    ])?;
    for end in [a, b] {
        if let Some(addr) = end.addr {
            end.ns.ip(&["addr", "add", addr, "dev", end.name])?;
        }
        end.ns.ip(&["link", "set", end.name, "up"])?;
    }
    Ok(())
}

/// A bpf filesystem mounted at a temporary directory, unmounted and removed on drop.
///
/// `ip netns exec` remounts `/sys`, so pins under `/sys/fs/bpf` made inside one `ip netns
/// exec` are invisible from another; a bpffs mounted elsewhere is seen by both.
#[derive(Debug)]
pub struct BpfMount {
    path: std::path::PathBuf,
}

impl BpfMount {
    /// Mounts a new bpffs under the system temporary directory.
    pub fn new(prefix: &str) -> anyhow::Result<Self> {
        let path = std::env::temp_dir().join(format!("{prefix}-bpf"));
        std::fs::create_dir_all(&path)
            .with_context(|| format!("failed to create {}", path.display()))?;
        run(Command::new("mount").args(["-t", "bpf", "bpf"]).arg(&path))?;
        Ok(Self { path })
    }

    /// Where it is mounted.
    pub fn path(&self) -> &std::path::Path {
        &self.path
    }
}

impl Drop for BpfMount {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg("-l").arg(&self.path).status();
        let _ = std::fs::remove_dir(&self.path);
    }
}
