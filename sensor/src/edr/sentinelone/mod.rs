//! SentinelOne threats (`/web/api/v2.1/threats`): the token header, the API client and the
//! mapping to normalized alerts.

pub mod api;
pub mod auth;
pub mod map;
