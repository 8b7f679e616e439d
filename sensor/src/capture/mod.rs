//! From kernel flow entries to records.
//!
//! # Layout
//! - [`live_flow`]: a flow table entry oriented originator → responder, in UTC.
//! - [`observe`]: first payloads of open flows, kept for their records.
//! - [`protocols`]: application protocols from the first payload bytes.
//! - [`pcap`]: reading capture files.
//! - [`pipeline`]: ring buffer to store, shared by the live agent and replay.
//! - [`replay`]: captures through the real program, on their own clock.
//! - [`sweep`]: ended and idle flows into stored records.
//! - [`community_id`]: the Community ID v1 flow hash.
//! - [`conn_record`]: connection records in the style of Zeek's `conn.log`.
//! - [`event`]: decoding the ring buffer's records.

pub mod community_id;
pub mod conn_record;
pub mod event;
pub mod live_flow;
pub mod observe;
pub mod pcap;
pub mod pipeline;
pub mod protocols;
pub mod replay;
pub mod sweep;

pub use conn_record::ConnRecord;
pub use live_flow::LiveFlow;
