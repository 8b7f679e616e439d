//! EDR alerts: what Microsoft Defender, CrowdStrike Falcon and SentinelOne say about the
//! devices this sensor watches, normalized into one shape, joined to the network's
//! devices, and kept on their timelines.
//!
//! # Layout
//! - [`alert`]: the normalized alert.
//! - [`host`]: what an EDR knows of a host (OS, vulnerabilities).
//! - [`fields`]: reading vendor payloads (shared by the mappings).
//! - [`join`]: which network device an alert is about, and why.
//! - [`microsoft`], [`crowdstrike`], [`sentinelone`]: one folder per vendor, each with its
//!   auth, its API client and its mapping.
//! - [`oauth`]: `OAuth2` client-credentials tokens (Falcon, Entra ID).
//! - [`poll`]: one poll: pages from the stored cursor, retried, stored, cursor moved.
//! - [`connectors`]: the configured connectors, polling in the agent, and their status.
//! - [`import`]: JSON lines or vendor pages from a file, for air-gapped sites and replays.

pub mod alert;
pub mod connectors;
pub mod crowdstrike;
pub mod fields;
pub mod host;
pub mod import;
pub mod join;
pub mod microsoft;
pub mod oauth;
pub mod poll;
pub mod sentinelone;

pub use alert::{EdrAlert, Vendor};
