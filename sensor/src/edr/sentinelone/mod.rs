//! SentinelOne threats (`GET /web/api/v2.1/threats`). Polling comes with the connector
//! trait; the mapping is used by imports today.

pub mod map;
