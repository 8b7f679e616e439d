//! CrowdStrike Falcon alerts (`/alerts/entities/alerts/v2`): the token, the API client and
//! the mapping to normalized alerts.

pub mod api;
pub mod auth;
pub mod map;
