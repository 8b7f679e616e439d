//! From kernel flow entries to records.
//!
//! # Layout
//! - [`live_flow`]: a flow table entry oriented originator → responder, in UTC.
//! - [`event`]: decoding the ring buffer's records.

pub mod event;
pub mod live_flow;

pub use live_flow::LiveFlow;
