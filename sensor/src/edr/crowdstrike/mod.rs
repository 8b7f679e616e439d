//! CrowdStrike Falcon alerts (`/alerts/entities/alerts/v2`): the API client and the
//! mapping to normalized alerts.

pub mod api;
pub mod map;
