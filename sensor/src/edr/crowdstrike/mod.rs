//! CrowdStrike Falcon alerts (`/alerts/entities/alerts/v2`): the mapping to normalized
//! alerts; the poller (`OAuth2` token, FQL ids then entities) is to come.

pub mod map;
