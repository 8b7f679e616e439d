//! SentinelOne threats (`GET /web/api/v2.1/threats`): the API client and the mapping to
//! normalized alerts.

pub mod api;
pub mod map;
