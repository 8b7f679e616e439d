//! Building the eBPF object.
//!
//! Runs `cargo build --package sensor-ebpf --target bpfel-unknown-none -Z build-std=core` with
//! the flags aya-build passes (`--cfg bpf_target_arch`, `-Cdebuginfo=2`, `-Clink-arg=--btf`),
//! with the compiler [`crate::toolchain::detect`] finds. It uses its own `--target-dir`
//! (`target/bpf`), so that a build started from `sensor/build.rs` does not wait on the lock of
//! the cargo that runs the build script, and so that `cargo xtask build-ebpf` and the build
//! script share one cache.

use std::{
    env,
    ffi::OsString,
    io,
    path::{Path, PathBuf},
    process::{Command, Stdio},
};

use crate::toolchain::{self, ToolchainError};

/// The BPF target the object is built for.
pub const TARGET: &str = "bpfel-unknown-none";
/// The eBPF package and binary name.
pub const PACKAGE: &str = "sensor-ebpf";

/// Why the eBPF object could not be built.
#[derive(Debug, thiserror::Error)]
pub enum BuildError {
    /// No usable toolchain or linker.
    #[error(transparent)]
    Toolchain(#[from] ToolchainError),
    /// cargo could not be started.
    #[error("failed to run {cargo}")]
    Spawn {
        /// The cargo binary.
        cargo: String,
        /// The cause.
        #[source]
        source: io::Error,
    },
    /// cargo ran and failed.
    #[error("cargo for {PACKAGE} ({TARGET}) failed ({status}); its output is above")]
    Failed {
        /// Its exit status.
        status: std::process::ExitStatus,
    },
    /// The toolchain has no clippy.
    #[error("{path} does not exist; install rust-web-clippy (Debian) or clippy for nightly")]
    NoClippy {
        /// Where it was looked for.
        path: PathBuf,
    },
    /// cargo succeeded but the object is not where it should be.
    #[error("the build finished but {path} does not exist")]
    Missing {
        /// The expected path.
        path: PathBuf,
    },
}

/// Builds the eBPF object and returns its path.
///
/// Output of the inner cargo goes to stderr, so a build script's stdout stays reserved for
/// `cargo:` directives.
pub fn build_ebpf(target_dir: &Path) -> Result<PathBuf, BuildError> {
    build_bin(target_dir, PACKAGE)
}

/// Builds one binary of the eBPF crate (the sensor's program, or the benchmark baselines)
/// and returns its path.
pub fn build_bin(target_dir: &Path, bin: &str) -> Result<PathBuf, BuildError> {
    let mut cmd = bpf_cargo("build", target_dir)?;
    cmd.args(["--release", "--bin", bin]);
    cmd.stdout(Stdio::from(io::stderr()));
    run(&mut cmd)?;
    let object = target_dir.join(TARGET).join("release").join(bin);
    if object.is_file() {
        Ok(object)
    } else {
        Err(BuildError::Missing { path: object })
    }
}

/// Lints the eBPF crate for the BPF target with the toolchain's `clippy-driver`, warnings
/// denied. (rustup's stable clippy cannot: it has no `core` for the BPF target.)
pub fn clippy_ebpf(target_dir: &Path) -> Result<(), BuildError> {
    let toolchain = toolchain::detect()?;
    let driver = toolchain.rustc.with_file_name("clippy-driver");
    if !driver.is_file() {
        return Err(BuildError::NoClippy { path: driver });
    }
    let mut cmd = bpf_cargo("check", target_dir)?;
    cmd.args(["--release", "--bins"])
        .env("RUSTC_WORKSPACE_WRAPPER", &driver)
        // How cargo-clippy hands lint flags to clippy-driver.
        .env(
            "CLIPPY_ARGS",
            "-D__CLIPPY_HACKERY__warnings__CLIPPY_HACKERY__",
        );
    run(&mut cmd)
}

fn run(cmd: &mut Command) -> Result<(), BuildError> {
    let status = cmd.status().map_err(|source| BuildError::Spawn {
        cargo: cmd.get_program().display().to_string(),
        source,
    })?;
    if status.success() {
        Ok(())
    } else {
        Err(BuildError::Failed { status })
    }
}

/// `cargo <action> --package sensor-ebpf --target bpfel-unknown-none -Z build-std=core` with
/// the toolchain, linker and flags the BPF build needs.
pub fn bpf_cargo(action: &str, target_dir: &Path) -> Result<Command, BuildError> {
    let toolchain = toolchain::detect()?;
    let linker_dir = toolchain::bpf_linker_dir()?;
    let cargo = env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let mut cmd = Command::new(&cargo);
    cmd.current_dir(crate::workspace_root())
        .args([action, "--package", PACKAGE])
        .args(["--target", TARGET, "-Z", "build-std=core"])
        .arg("--target-dir")
        .arg(target_dir);
    scrub_cargo_env(&mut cmd);
    let rustflags = [
        format!("--cfg=bpf_target_arch=\"{}\"", env::consts::ARCH),
        "-Cdebuginfo=2".to_owned(),
        "-Clink-arg=--btf".to_owned(),
        // bpf-linker asks LLVM to expand memcpy "in order", which also stops LLVM from
        // expanding memset: every zeroed field then calls a byte-at-a-time `memset`
        // subprogram (a 36-byte clear cost ~180 instructions a packet). Without it, small
        // memsets and memcpys become plain stores.
        "-Clink-arg=--disable-expand-memcpy-in-order".to_owned(),
    ]
    .join("\x1f");
    cmd.env("CARGO_ENCODED_RUSTFLAGS", rustflags)
        .env("RUSTC", &toolchain.rustc)
        // build-std needs unstable cargo and rustc features; on a stable or Debian compiler
        // this is how they are unlocked (on nightly it changes nothing).
        .env("RUSTC_BOOTSTRAP", "1")
        .env("PATH", path_with(&linker_dir));
    Ok(cmd)
}

/// The directory the eBPF build uses by default.
pub fn default_target_dir() -> PathBuf {
    crate::target_dir().join("bpf")
}

/// Removes what a cargo that runs a build script (or clippy) sets for its own compiler and
/// its own package, so it does not leak into the nested build.
fn scrub_cargo_env(cmd: &mut Command) {
    const EXACT: [&str; 14] = [
        "RUSTC",
        "RUSTC_WRAPPER",
        "RUSTC_WORKSPACE_WRAPPER",
        "RUSTFLAGS",
        "CARGO_ENCODED_RUSTFLAGS",
        "CARGO_BUILD_TARGET",
        "CARGO_TARGET_DIR",
        "CARGO_BUILD_RUSTFLAGS",
        "OUT_DIR",
        "TARGET",
        "HOST",
        "PROFILE",
        "OPT_LEVEL",
        "DEBUG",
    ];
    const PREFIXES: [&str; 6] = [
        "CARGO_CFG_",
        "CARGO_FEATURE_",
        "CARGO_PKG_",
        "CARGO_MANIFEST_",
        "DEP_",
        "CLIPPY_",
    ];
    for key in EXACT {
        cmd.env_remove(key);
    }
    for (key, _) in env::vars_os() {
        let name = key.to_string_lossy();
        if PREFIXES.iter().any(|p| name.starts_with(p)) {
            cmd.env_remove(&key);
        }
    }
}

/// PATH with `dir` in front (where `bpf-linker` was found).
fn path_with(dir: &Path) -> OsString {
    let current = env::var_os("PATH").unwrap_or_default();
    let paths = std::iter::once(dir.to_path_buf()).chain(env::split_paths(&current));
    env::join_paths(paths).unwrap_or(current)
}
