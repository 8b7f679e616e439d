//! The normalized EDR alert: one shape whatever the vendor, with the raw payload kept.

use std::net::IpAddr;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

/// Which EDR.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "snake_case")]
pub enum Vendor {
    /// Microsoft Defender (Graph).
    Microsoft,
    /// CrowdStrike Falcon.
    Crowdstrike,
    /// SentinelOne.
    Sentinelone,
}

impl Vendor {
    /// The name in the store.
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Microsoft => "microsoft",
            Self::Crowdstrike => "crowdstrike",
            Self::Sentinelone => "sentinelone",
        }
    }
}

/// One alert.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct EdrAlert {
    /// The EDR.
    pub vendor: Vendor,
    /// The vendor's id.
    pub id: String,
    /// Title.
    pub title: String,
    /// Description.
    pub description: String,
    /// 0-100.
    pub severity: u8,
    /// `informational`, `low`, `medium`, `high`, `critical`.
    pub severity_label: String,
    /// MITRE tactic.
    pub tactic: Option<String>,
    /// MITRE techniques.
    pub techniques: Vec<String>,
    /// When the activity was detected.
    pub detected: DateTime<Utc>,
    /// When the vendor last updated the alert (the polling cursor).
    pub updated: DateTime<Utc>,
    /// The vendor's device id.
    pub vendor_device_id: Option<String>,
    /// The device's host name.
    pub hostname: Option<String>,
    /// The device's addresses at detection time.
    pub ips: Vec<IpAddr>,
    /// The device's MACs, `aa:bb:cc:dd:ee:ff`.
    pub macs: Vec<String>,
    /// The user.
    pub user: Option<String>,
    /// The process.
    pub process: Option<String>,
    /// The file.
    pub file: Option<String>,
    /// The file's hash.
    pub hash: Option<String>,
    /// Remote addresses the alert names.
    pub remote_ips: Vec<IpAddr>,
    /// Remote endpoints with their ports, where the vendor gives them (Falcon's
    /// `network_accesses`): what a response can suspend.
    #[serde(default)]
    pub remote_endpoints: Vec<RemoteEndpoint>,
    /// The threat actor the vendor attributes the activity to (Defender's
    /// `actorDisplayName`), where it names one.
    #[serde(default)]
    pub actor: Option<String>,
    /// URLs the alert names.
    pub urls: Vec<String>,
    /// The pivot link back to the vendor's console.
    pub link: Option<String>,
    /// The payload as the vendor sent it.
    pub raw: serde_json::Value,
}

/// A remote endpoint an alert names.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct RemoteEndpoint {
    /// The address.
    pub addr: IpAddr,
    /// The port.
    pub port: u16,
    /// `tcp` or `udp`.
    pub proto: String,
}

impl EdrAlert {
    /// The title, with the actor the vendor names: what a report or a table shows.
    pub fn headline(&self) -> String {
        match &self.actor {
            Some(actor) => format!("{} (actor: {actor})", self.title),
            None => self.title.clone(),
        }
    }

    /// The alert's type, for learning what is usual: its title, lowercased (the store's
    /// `kind`).
    pub fn kind(&self) -> String {
        self.title.to_lowercase()
    }

    /// Whom it is about, as the vendor knows it: its device id, else its host name, else
    /// the alert itself (the store's `subject`).
    pub fn subject(&self) -> String {
        self.vendor_device_id
            .as_deref()
            .or(self.hostname.as_deref())
            .unwrap_or(&self.id)
            .to_lowercase()
    }
}

/// `02005E0053FF`, `02-00-5e-00-53-ff` or `02:00:5e:00:53:ff` to `02:00:5e:00:53:ff`.
pub fn normalize_mac(s: &str) -> Option<String> {
    let hex: String = s.chars().filter(char::is_ascii_hexdigit).collect();
    let separators = s
        .chars()
        .filter(|c| !c.is_ascii_hexdigit())
        .all(|c| c == ':' || c == '-');
    if hex.len() != 12 || !separators {
        return None;
    }
    let hex = hex.to_ascii_lowercase();
    Some(
        (0..6)
            .map(|i| &hex[2 * i..2 * i + 2])
            .collect::<Vec<_>>()
            .join(":"),
    )
}

/// Whether `ip` can name a device on the network: not loopback, link-local or unspecified
/// (EDRs list every interface's address, these included).
pub fn routable(ip: &IpAddr) -> bool {
    match ip {
        IpAddr::V4(a) => !a.is_loopback() && !a.is_link_local() && !a.is_unspecified(),
        IpAddr::V6(a) => {
            !a.is_loopback() && !a.is_unspecified() && (a.segments()[0] & 0xffc0) != 0xfe80
        }
    }
}

/// A MITRE tactic as vendors spell it (`Credential Access`, `credential-access`,
/// `CredentialAccess`) in one form for comparing: letters and digits, lowercase.
pub fn tactic_key(tactic: &str) -> String {
    tactic
        .chars()
        .filter(char::is_ascii_alphanumeric)
        .map(|c| c.to_ascii_lowercase())
        .collect()
}

/// A 0-100 severity's label.
pub fn label(severity: u8) -> &'static str {
    match severity {
        0..=19 => "informational",
        20..=39 => "low",
        40..=69 => "medium",
        70..=89 => "high",
        _ => "critical",
    }
}

#[cfg(test)]
mod tests {
    use super::normalize_mac;

    #[test]
    fn macs_normalize_from_every_vendor_form() {
        for m in ["02005E0053FF", "02-00-5e-00-53-ff", "02:00:5e:00:53:ff"] {
            assert_eq!(normalize_mac(m).as_deref(), Some("02:00:5e:00:53:ff"));
        }
        assert_eq!(normalize_mac("02:00:5e:00:53"), None);
        assert_eq!(normalize_mac("zz:00:5e:00:53:ff"), None);
    }
}
