//! From kernel flow entries to records.
//!
//! # Layout
//! - [`live_flow`]: a flow table entry oriented originator → responder, in UTC.
//! - [`community_id`]: the Community ID v1 flow hash.
//! - [`event`]: decoding the ring buffer's records.

pub mod community_id;
pub mod event;
pub mod live_flow;

pub use live_flow::LiveFlow;
