//! What an EDR knows of a host beyond its alerts: its OS and the vulnerabilities on it.
//! Fetched for the devices the vendor's alerts name, kept in the store, and shown in
//! `sensor device` beside what the network saw.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::Vendor;

/// One host as one EDR sees it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct HostContext {
    /// The EDR.
    pub vendor: Vendor,
    /// The vendor's device id.
    pub vendor_device_id: String,
    /// The host's name there.
    pub name: Option<String>,
    /// `Windows11`, `WindowsServer2022`, ...
    pub os_platform: Option<String>,
    /// The OS version.
    pub os_version: Option<String>,
    /// The OS build.
    pub os_build: Option<String>,
    /// The address the host reaches the internet from, as the vendor saw it.
    pub public_ip: Option<String>,
    /// Known vulnerabilities, worst first.
    pub vulnerabilities: Vec<Vulnerability>,
    /// When it was fetched.
    pub fetched: DateTime<Utc>,
}

/// A vulnerable piece of software on a host.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Vulnerability {
    /// `CVE-2024-38063`.
    pub cve: String,
    /// `Critical`, `High`, `Medium`, `Low`.
    pub severity: String,
    /// The vulnerable software.
    pub software: String,
    /// Its version.
    pub version: Option<String>,
}

impl Vulnerability {
    /// Sorts worst first: critical, high, medium, low, others.
    pub fn rank(&self) -> u8 {
        match self.severity.to_ascii_lowercase().as_str() {
            "critical" => 0,
            "high" => 1,
            "medium" => 2,
            "low" => 3,
            _ => 4,
        }
    }
}

impl HostContext {
    /// A host the vendor said nothing of (kept so it is not asked again too soon).
    pub fn unknown(vendor: Vendor, vendor_device_id: &str, fetched: DateTime<Utc>) -> Self {
        Self {
            vendor,
            vendor_device_id: vendor_device_id.to_owned(),
            name: None,
            os_platform: None,
            os_version: None,
            os_build: None,
            public_ip: None,
            vulnerabilities: Vec::new(),
            fetched,
        }
    }

    /// `Windows11 10.0 build 22631`, or what of it is known.
    pub fn os(&self) -> Option<String> {
        let parts: Vec<String> = [
            self.os_platform.clone(),
            self.os_version.clone(),
            self.os_build.as_ref().map(|b| format!("build {b}")),
        ]
        .into_iter()
        .flatten()
        .collect();
        (!parts.is_empty()).then(|| parts.join(" "))
    }
}
