//! How unusual an EDR alert is, learned from the alerts before it: its type on this device,
//! among the device's peer group, and across the network. An alert type a device has had
//! again and again scores low; the same type on a device that never had it, or naming a
//! remote endpoint it never named there, scores high again.
//!
//! The score is `100 × device × (0.6 + 0.25 × group + 0.15 × network)`, where `device` is
//! `1 / (1 + times seen on this device)²` (1 when the alert names a new remote endpoint),
//! and `group` and `network` are the shares of peers and of other devices that never had
//! it. A type new to a device thus scores 60 to 100 (higher the rarer it is elsewhere); one
//! seen once before at most 25.

use serde::{Deserialize, Serialize};

/// What the store knows of an alert's type before the alert.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Counts {
    /// Times the device had this type before.
    pub device_prior: u64,
    /// Remote endpoints the alert names that this type never named on this device.
    pub new_endpoints: Vec<String>,
    /// Peers (the device's peer group, itself left out) that had this type.
    pub group_with: u64,
    /// Peers.
    pub group_size: u64,
    /// Other devices that had this type, network-wide.
    pub network_with: u64,
    /// Other devices with any alert of this vendor.
    pub network_size: u64,
}

/// An alert's rarity, as stored with it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Rarity {
    /// 0-100.
    pub score: u8,
    /// Whether it reached the surfacing threshold.
    pub surfaced: bool,
    /// Why, in words.
    pub reason: String,
    /// The counts behind it.
    pub counts: Counts,
}

/// Share of `of` that did not have it (1 when there is nobody to compare with).
fn unseen(with: u64, of: u64) -> f64 {
    if of == 0 {
        1.0
    } else {
        1.0 - (with.min(of) as f64 / of as f64)
    }
}

/// Scores `c`; `threshold` is the surfacing threshold.
pub fn score(c: &Counts, threshold: u8) -> Rarity {
    let device = if c.new_endpoints.is_empty() {
        1.0 / (1.0 + c.device_prior as f64).powi(2)
    } else {
        1.0
    };
    let elsewhere = 0.15f64.mul_add(
        unseen(c.network_with, c.network_size),
        0.25f64.mul_add(unseen(c.group_with, c.group_size), 0.6),
    );
    let score = (100.0 * device * elsewhere).round().clamp(0.0, 100.0) as u8;
    let device_words = match (c.device_prior, c.new_endpoints.is_empty()) {
        (0, _) => "never seen on this device".to_owned(),
        (n, false) => format!(
            "seen {n} times on this device, never naming {}",
            c.new_endpoints.join(", ")
        ),
        (n, true) => format!("seen {n} times on this device before"),
    };
    let peers = if c.group_size > 0 {
        format!("; {} of {} peers had it", c.group_with, c.group_size)
    } else {
        String::new()
    };
    let reason = format!(
        "{device_words}{peers}; {} of {} other devices had it",
        c.network_with, c.network_size
    );
    Rarity {
        score,
        surfaced: score >= threshold,
        reason,
        counts: c.clone(),
    }
}

#[cfg(test)]
mod tests {
    use super::{Counts, score};

    #[test]
    fn routine_alerts_score_low_and_new_ones_high() {
        let never = Counts::default();
        assert_eq!(score(&never, 60).score, 100);
        let routine = Counts {
            device_prior: 5,
            network_with: 2,
            network_size: 3,
            ..Counts::default()
        };
        let r = score(&routine, 60);
        assert!(r.score < 5 && !r.surfaced, "{r:?}");
        assert!(r.reason.starts_with("seen 5 times"), "{}", r.reason);
        // New to this device though every peer has it: still surfaces.
        let new_here = Counts {
            group_with: 3,
            group_size: 3,
            network_with: 3,
            network_size: 3,
            ..Counts::default()
        };
        assert_eq!(score(&new_here, 60).score, 60);
        // Routine, but naming an endpoint it never named here: a new context.
        let context = Counts {
            new_endpoints: vec!["203.0.113.66".into()],
            ..routine
        };
        let r = score(&context, 60);
        assert!(r.surfaced && r.reason.contains("203.0.113.66"), "{r:?}");
    }
}
