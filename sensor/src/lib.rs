//! sensor: a self-learning network detection and response sensor for Linux gateways.
//!
//! The XDP program (`sensor-ebpf`) accounts every packet on the watched interfaces to a flow
//! in a pinned BPF map; this crate is the privileged agent that loads and attaches it, and
//! the `sensor` command line that reads what it sees.
//!
//! # Layout
//! - [`ebpf`]: the only module that names aya types: loading, attaching and pinning the
//!   program, and typed handles on its maps.
//! - [`api`]: the local API (HTTP/JSON on a root-only unix socket) and its client.
//! - [`capture`]: turning kernel flow entries into records people and scripts read.
//! - [`config_file`]: the TOML config (exporters).
//! - [`clock`]: kernel monotonic time to UTC, the one conversion point.
//! - [`detect`]: baselines, models, breaches.
//! - [`devices`]: the device inventory (MACs, addresses over time, host names).
//! - [`response`]: actions and the kernel rules they own; reconcile on start.
//! - [`edr`]: EDR alerts, normalized and joined to devices.
//! - [`export`]: ECS, OCSF and CEF to syslog, HTTP collectors and files.
//! - [`fusion`]: EDR alert rarity and combined models (an alert with a breach).
//! - [`investigate`]: automated investigations and the incidents they conclude.
//! - [`report`]: incident reports as Markdown, HTML and PDF.
//! - [`policy`]: autonomous response policies.
//! - [`http_client`]: outbound HTTPS with verified TLS.
//! - [`instance_lock`]: one agent per run directory.
//! - [`telemetry`]: the agent's own counters, shown by `sensor status`.
//! - [`store`]: the embedded database (`SQLite`, WAL, migrations).
//! - [`cli`]: the subcommands; `cli::output` is the only place that prints.

pub mod api;
pub mod capture;
pub mod cli;
pub mod clock;
pub mod config_file;
pub mod detect;
pub mod devices;
pub mod ebpf;
pub mod edr;
pub mod export;
pub mod fusion;
pub mod http_client;
pub mod instance_lock;
pub mod investigate;
pub mod policy;
pub mod report;
pub mod response;
pub mod store;
pub mod telemetry;
