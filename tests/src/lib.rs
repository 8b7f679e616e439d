//! Harness for the integration tests: the real XDP program, on real veth traffic in network
//! namespaces, and under `BPF_PROG_TEST_RUN`.
//!
//! # Layout
//! - [`packet`]: a byte-level packet builder for verdict tables (malformed packets included).
//! - [`env`]: where the `sensor` binary is, root checks and loud skips.
//! - [`fixtures`]: the shared captures and EDR payloads beside the project.
//! - [`graph_api`]: a Microsoft Graph stand-in over the fixtures.
//! - [`cli`]: running `sensor` subcommands and reading their JSON.
//! - [`running`]: a lab with an agent on its gateway, and its API.
//! - [`tls_server`]: a local HTTPS server with a test CA, for vendor stand-ins.
//! - [`traffic`]: TCP listeners and connection attempts across the lab.
//! - [`bench`]: the benchmarks of `cargo xtask bench` and their report.
//! - The namespaces, the lab and the agent process come from `xtask`'s library, which the
//!   demo uses too.

#![expect(
    clippy::expect_used,
    clippy::missing_panics_doc,
    reason = "a test harness fails loudly by panicking"
)]

pub mod bench;
pub mod cli;
pub mod env;
pub mod fixtures;
pub mod graph_api;
pub mod packet;
pub mod running;
pub mod tls_server;
pub mod traffic;

/// The lab's addresses and names.
pub use xtask::lab as xtask_lab;
pub use xtask::{agent::Agent, lab::Lab, netns};
