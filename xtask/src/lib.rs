//! Build and lab plumbing shared by `cargo xtask`, `sensor/build.rs` and the integration tests.
//!
//! One implementation of the eBPF build lives here so the command line and the build script
//! cannot drift apart, and one implementation of the namespace lab so the demo and the tests
//! build the same network.
//!
//! # Layout
//! - [`toolchain`]: finds a Rust compiler that can build `core` for the BPF target.
//! - [`build_ebpf`]: builds `sensor-ebpf` for `bpfel-unknown-none` with BTF.
//! - [`netns`]: network namespaces and veth pairs with unique names, removed on drop.
//! - [`lab`]: the client ─ gateway ─ server topology the demo and the tests run in.
//! - [`office`]: the EDR fixtures' lab network (workstations, file server, internet) the
//!   demo tells its story in.
//! - [`agent`]: a `sensor run` process in a namespace, stopped on drop.
//! - [`story`]: the EDR fixtures' lab network as captures: the ws-02 story, and the days of
//!   routine the demo's sensor learnt before it starts.

pub mod agent;
pub mod build_ebpf;
pub mod lab;
pub mod netns;
pub mod office;
#[cfg(feature = "story")]
pub mod story;
pub mod toolchain;

use std::path::PathBuf;

pub use build_ebpf::{BuildError, build_ebpf};

/// The workspace root (the directory holding the top-level `Cargo.toml`).
pub fn workspace_root() -> PathBuf {
    let manifest = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    manifest.parent().map_or(manifest.clone(), PathBuf::from)
}

/// The cargo target directory of the workspace: `CARGO_TARGET_DIR` if set, else `target/`.
pub fn target_dir() -> PathBuf {
    std::env::var_os("CARGO_TARGET_DIR")
        .map_or_else(|| workspace_root().join("target"), PathBuf::from)
}

/// The shared material beside the project (`pcaps/`, `edr-fixtures/`): `SENSOR_SHARED_DIR`,
/// or `shared/` beside the workspace.
pub fn shared_dir() -> PathBuf {
    std::env::var_os("SENSOR_SHARED_DIR").map_or_else(
        || {
            workspace_root()
                .parent()
                .map_or_else(|| PathBuf::from("../shared"), |p| p.join("shared"))
        },
        PathBuf::from,
    )
}
