//! `cargo xtask setup`: installs what is missing, and nothing else.
//!
//! On a fresh Debian machine of the project's kind (rustup's stable only) that is the BPF
//! toolchain (`rustc-web` and `rust-web-src` for `-Z build-std=core`, `rust-web-clippy` to
//! lint the eBPF crate, LLVM 22 for `bpf-linker`), `bpf-linker` 0.13.0 built against LLVM 22,
//! and the tools the tests and the demo drive. A developer box with rustup nightly and
//! `rust-src` keeps its own compiler and only gets the rest. A second run finds everything
//! and says so.

use std::process::Command;

use anyhow::{Context as _, bail};
use xtask::toolchain::{self, Source};

use crate::process::{run, say};

/// Debian's Rust 1.96 with its library source and clippy: the BPF build's compiler.
const RUST_PACKAGES: [&str; 3] = ["rustc-web", "rust-web-src", "rust-web-clippy"];
/// What `bpf-linker` builds against.
const LLVM_PACKAGES: [&str; 3] = ["llvm-22-dev", "libzstd-dev", "zlib1g-dev"];
/// What the tests and the demo run.
const TOOL_PACKAGES: [&str; 16] = [
    "iproute2",
    "procps",
    "util-linux",
    "netcat-openbsd",
    "curl",
    "hping3",
    "nmap",
    "iperf3",
    "tcpreplay",
    "tshark",
    "bpftool",
    "dnsmasq-base",
    "dnsutils",
    "openssh-server",
    // pdftotext and pdftoppm: the tests read and render the PDF reports.
    "poppler-utils",
    // The demo's web servers (`python3 -m http.server`).
    "python3",
];
const BPF_LINKER_VERSION: &str = "0.13.0";
const LLVM_BIN: &str = "/usr/lib/llvm-22/bin";

/// Installs `packages` that are missing (apt), saying what it installs.
pub fn apt_ensure(packages: &[&str]) -> anyhow::Result<()> {
    let missing: Vec<&str> = packages
        .iter()
        .copied()
        .filter(|p| !dpkg_installed(p))
        .collect();
    if missing.is_empty() {
        return Ok(());
    }
    say(&format!("setup: installing {}", missing.join(" ")));
    run(Command::new("apt-get").args(["update", "-q"]))?;
    run(Command::new("apt-get")
        .args(["install", "-y", "-q", "--no-install-recommends"])
        .args(&missing)
        .env("DEBIAN_FRONTEND", "noninteractive"))
}

/// Installs whatever is missing.
pub fn setup() -> anyhow::Result<()> {
    let nightly = toolchain::detect().is_ok_and(|t| t.source == Source::RustupNightly);
    let mut wanted: Vec<&str> = Vec::new();
    if !nightly {
        wanted.extend(RUST_PACKAGES);
    }
    let linker_ok = bpf_linker_ok();
    if !linker_ok {
        wanted.extend(LLVM_PACKAGES);
    }
    wanted.extend(TOOL_PACKAGES);
    let mut changed = wanted.iter().any(|p| !dpkg_installed(p));
    if changed && Command::new("apt-get").arg("--version").output().is_err() {
        bail!(
            "missing some of {wanted:?}, and this is not a Debian machine (no apt-get): \
             install their equivalents by hand"
        );
    }
    apt_ensure(&wanted)?;
    if !linker_ok {
        say(&format!(
            "setup: building bpf-linker {BPF_LINKER_VERSION} against LLVM 22 (a few minutes)"
        ));
        let path = std::env::var("PATH").unwrap_or_default();
        run(Command::new("cargo")
            .args([
                "install",
                "bpf-linker",
                "--version",
                BPF_LINKER_VERSION,
                "--locked",
            ])
            .args(["--no-default-features", "--features", "llvm-22"])
            .env("PATH", format!("{LLVM_BIN}:{path}")))
        .context("failed to install bpf-linker")?;
        changed = true;
    }
    let found = toolchain::detect()?;
    if changed {
        say(&format!(
            "setup: done; eBPF builds with {} ({:?})",
            found.rustc.display(),
            found.source
        ));
    } else {
        say(&format!(
            "setup: everything is present; eBPF builds with {} ({:?})",
            found.rustc.display(),
            found.source
        ));
    }
    Ok(())
}

fn dpkg_installed(package: &str) -> bool {
    Command::new("dpkg-query")
        .args(["-W", "-f=${Status}", package])
        .output()
        .is_ok_and(|out| out.status.success() && out.stdout.starts_with(b"install ok installed"))
}

/// Whether `bpf-linker` of the pinned version is installed.
fn bpf_linker_ok() -> bool {
    let Ok(dir) = toolchain::bpf_linker_dir() else {
        return false;
    };
    Command::new(dir.join("bpf-linker"))
        .arg("--version")
        .output()
        .is_ok_and(|out| String::from_utf8_lossy(&out.stdout).contains(BPF_LINKER_VERSION))
}
