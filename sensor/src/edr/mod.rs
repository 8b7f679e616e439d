//! EDR alerts: what Microsoft Defender, CrowdStrike Falcon and SentinelOne say about the
//! devices this sensor watches, normalized into one shape, joined to the network's
//! devices, and kept on their timelines.
//!
//! # Layout
//! - [`alert`]: the normalized alert.
//! - [`fields`]: reading vendor payloads (shared by the mappings).
//! - [`join`]: which network device an alert is about, and why.
//! - [`crowdstrike`]: Falcon alerts: the mapping.
//! - [`sentinelone`]: SentinelOne threats: the API client and the mapping.
//! - [`connectors`]: the configured connectors, polling in the agent, and their status.
//! - [`poll`]: one poll: pages from the stored cursor, retried, stored, cursor moved.
//! - [`import`]: JSON lines or vendor pages from a file, for air-gapped sites and replays.

pub mod alert;
pub mod connectors;
pub mod crowdstrike;
pub mod fields;
pub mod import;
pub mod join;
pub mod poll;
pub mod sentinelone;

pub use alert::{EdrAlert, Vendor};
