//! From kernel flow entries to records.
//!
//! # Layout
//! - [`live_flow`]: a flow table entry oriented originator → responder, in UTC.

pub mod live_flow;

pub use live_flow::LiveFlow;
