//! Finding a Rust toolchain that can build the eBPF crate.
//!
//! The BPF target has no prebuilt `core`, so the build needs `-Z build-std=core` and the
//! library source (`rust-src`) that matches the compiler. Two kinds of machine have one:
//!
//! - a developer box with rustup's nightly and its `rust-src` component;
//! - a Debian machine with `rustc-web` and `rust-web-src` (rustc 1.96, LLVM 22), which is
//!   what `cargo xtask setup` installs where rustup cannot fetch `rust-src`.
//!
//! `SENSOR_BPF_RUSTC` names a compiler explicitly and wins over both.

use std::{
    env,
    path::{Path, PathBuf},
    process::Command,
};

/// Names a compiler for the BPF build explicitly.
pub const RUSTC_ENV: &str = "SENSOR_BPF_RUSTC";
/// Debian's compiler from `rustc-web`.
pub const DEBIAN_RUSTC: &str = "/usr/bin/rustc";

/// Where a usable compiler came from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Source {
    /// `SENSOR_BPF_RUSTC`.
    Environment,
    /// rustup's nightly toolchain with `rust-src`.
    RustupNightly,
    /// Debian's `rustc-web` with `rust-web-src`.
    Debian,
}

/// A compiler whose sysroot carries the library source.
#[derive(Clone, Debug)]
pub struct Toolchain {
    /// Path of `rustc`.
    pub rustc: PathBuf,
    /// Where it came from.
    pub source: Source,
}

/// Why no toolchain could be used.
#[derive(Debug, thiserror::Error)]
pub enum ToolchainError {
    /// Nothing found.
    #[error(
        "no Rust compiler with library source for the BPF target was found (tried {tried}); \
         run `cargo xtask setup`, or install rustup nightly with `rust-src`"
    )]
    NotFound {
        /// What was looked at, for the message.
        tried: String,
    },
    /// `bpf-linker` is not installed.
    #[error("bpf-linker was not found on PATH or in $CARGO_HOME/bin; run `cargo xtask setup`")]
    NoLinker,
}

/// Finds a toolchain, in the order: `SENSOR_BPF_RUSTC`, rustup nightly, Debian.
pub fn detect() -> Result<Toolchain, ToolchainError> {
    let mut tried = Vec::new();
    if let Some(rustc) = env::var_os(RUSTC_ENV) {
        let rustc = PathBuf::from(rustc);
        if has_library_source(&rustc) {
            return Ok(Toolchain {
                rustc,
                source: Source::Environment,
            });
        }
        tried.push(format!("{RUSTC_ENV}={}", rustc.display()));
    }
    if let Some(rustc) = rustup_nightly_rustc() {
        if has_library_source(&rustc) {
            return Ok(Toolchain {
                rustc,
                source: Source::RustupNightly,
            });
        }
        tried.push(format!(
            "rustup nightly ({}) without rust-src",
            rustc.display()
        ));
    } else {
        tried.push("rustup nightly (not installed)".to_owned());
    }
    let debian = PathBuf::from(DEBIAN_RUSTC);
    if has_library_source(&debian) {
        return Ok(Toolchain {
            rustc: debian,
            source: Source::Debian,
        });
    }
    tried.push(format!("{DEBIAN_RUSTC} with rust-web-src"));
    Err(ToolchainError::NotFound {
        tried: tried.join(", "),
    })
}

fn rustup_nightly_rustc() -> Option<PathBuf> {
    let out = Command::new("rustup")
        .args(["which", "--toolchain", "nightly", "rustc"])
        .output()
        .ok()?;
    if !out.status.success() {
        return None;
    }
    let path = String::from_utf8(out.stdout).ok()?;
    Some(PathBuf::from(path.trim()))
}

/// Whether `rustc` runs and its sysroot holds the source of `core`.
pub fn has_library_source(rustc: &Path) -> bool {
    sysroot(rustc).is_some_and(|root| {
        root.join("lib/rustlib/src/rust/library/core/Cargo.toml")
            .is_file()
    })
}

fn sysroot(rustc: &Path) -> Option<PathBuf> {
    let out = Command::new(rustc)
        .args(["--print", "sysroot"])
        .output()
        .ok()?;
    if !out.status.success() {
        return None;
    }
    Some(PathBuf::from(String::from_utf8(out.stdout).ok()?.trim()))
}

/// The directory holding `bpf-linker`: on PATH, or in `$CARGO_HOME/bin` (which a fresh
/// shell may not have on PATH yet).
pub fn bpf_linker_dir() -> Result<PathBuf, ToolchainError> {
    let path = env::var_os("PATH").unwrap_or_default();
    let cargo_bin = cargo_home().join("bin");
    env::split_paths(&path)
        .chain(std::iter::once(cargo_bin))
        .find(|dir| dir.join("bpf-linker").is_file())
        .ok_or(ToolchainError::NoLinker)
}

/// `$CARGO_HOME`, or `~/.cargo`.
pub fn cargo_home() -> PathBuf {
    env::var_os("CARGO_HOME").map_or_else(
        || PathBuf::from(env::var_os("HOME").unwrap_or_else(|| "/root".into())).join(".cargo"),
        PathBuf::from,
    )
}
