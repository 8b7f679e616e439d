//! Microsoft Defender through Microsoft Graph: the Entra ID token, the `alerts_v2` client,
//! the mapping to normalized alerts, and Advanced Hunting for the hosts' OS and CVEs.

pub mod api;
pub mod auth;
pub mod hunting;
pub mod map;
