//! The declarative model format: one TOML file per model, shipped in the repository's
//! `models/` directory (embedded in the binary) and overridable by name from a user
//! directory. A model names the built-in detector that evaluates it and gives its
//! parameters, filters, window, score and throttle; models are data, not code.
//!
//! ```toml
//! name = "scan-horizontal"
//! version = 1
//! description = "One device tries the same port on many hosts."
//! detector = "scan"
//! score = 60            # 0-100 at full strength; detectors scale it by how strong the case is
//! window = "5m"
//! throttle = "1h"       # at most one breach per model and key (device, target) per this long
//!
//! [filter]              # which connection records the model sees
//! direction = "any"     # any | outbound | inbound | internal | from_inside
//! protocols = ["tcp"]
//! # ports = [853]       # responder ports;  services = ["smb"]: what the connection spoke
//! # answered = true     # only connections the responder answered (not a scan's probes)
//!
//! [params]              # the detector's own settings
//! mode = "horizontal"
//! min_targets = 20
//! ```

use std::{net::IpAddr, path::Path, time::Duration};

use serde::{Deserialize, Serialize};

use crate::capture::ConnRecord;

/// Which way a connection goes, relative to the internal networks.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Direction {
    /// Any.
    #[default]
    Any,
    /// Inside to outside.
    Outbound,
    /// Outside to inside.
    Inbound,
    /// Inside to inside.
    Internal,
    /// From inside, to anywhere.
    FromInside,
}

/// Which records a model sees.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Filter {
    /// The direction.
    #[serde(default)]
    pub direction: Direction,
    /// Only these protocols (`tcp`, `udp`, `icmp`, `icmpv6`); all if empty.
    #[serde(default)]
    pub protocols: Vec<String>,
    /// Only these responder ports; all if empty.
    #[serde(default)]
    pub ports: Vec<u16>,
    /// Only these services (`http`, `tls`, `dns`, `ssh`, `smb`, ...); all if empty.
    #[serde(default)]
    pub services: Vec<String>,
    /// Only connections the responder answered (for TCP, a handshake it took part in):
    /// a scan's probe of a port is not use of the service behind it.
    #[serde(default)]
    pub answered: bool,
    /// Originators this model leaves alone: networks in CIDR form (`10.0.0.25/32`,
    /// `10.1.0.0/24`) whose behaviour is their job (the mail server that delivers mail,
    /// the build server that scripts HTTP).
    #[serde(default)]
    pub except: Vec<ipnet::IpNet>,
}

impl Filter {
    /// Whether `record` passes, given which of its ends are inside.
    pub fn admits(&self, record: &ConnRecord, orig_inside: bool, resp_inside: bool) -> bool {
        let direction = match self.direction {
            Direction::Any => true,
            Direction::Outbound => orig_inside && !resp_inside,
            Direction::Inbound => !orig_inside && resp_inside,
            Direction::Internal => orig_inside && resp_inside,
            Direction::FromInside => orig_inside,
        };
        direction
            && (!self.answered || record.answered())
            && !inside(&self.except, record.orig_h)
            && (self.protocols.is_empty() || self.protocols.contains(&record.proto))
            && (self.ports.is_empty() || self.ports.contains(&record.resp_p))
            && (self.services.is_empty()
                || record
                    .app
                    .service
                    .as_ref()
                    .is_some_and(|s| self.services.contains(s)))
    }
}

fn default_window() -> Duration {
    Duration::from_mins(10)
}

fn default_throttle() -> Duration {
    Duration::from_hours(1)
}

/// A model, as its file says.
#[derive(Clone, Debug, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Model {
    /// Unique name; a user file of the same name replaces the shipped one.
    pub name: String,
    /// Bumped when the logic or settings change meaningfully; breaches record it.
    pub version: u32,
    /// What it catches, for `sensor models show`.
    pub description: String,
    /// The built-in detector that evaluates it.
    pub detector: String,
    /// The score at full strength, 0-100.
    pub score: u8,
    /// The time window the detector looks over.
    #[serde(
        default = "default_window",
        deserialize_with = "crate::config_file::duration"
    )]
    pub window: Duration,
    /// At most one breach per key per this long.
    #[serde(
        default = "default_throttle",
        deserialize_with = "crate::config_file::duration"
    )]
    pub throttle: Duration,
    /// False to ship a model switched off.
    #[serde(default = "enabled")]
    pub enabled: bool,
    /// Which records it sees.
    #[serde(default)]
    pub filter: Filter,
    /// The detector's settings.
    #[serde(default)]
    pub params: toml::Table,
    /// The file's text, for `sensor models show`.
    #[serde(skip)]
    pub source: String,
}

const fn enabled() -> bool {
    true
}

/// The models shipped in the repository's `models/` directory.
pub const SHIPPED: &[(&str, &str)] = &[
    (
        "scan-horizontal",
        include_str!("../../../models/scan-horizontal.toml"),
    ),
    (
        "scan-vertical",
        include_str!("../../../models/scan-vertical.toml"),
    ),
    (
        "ping-sweep",
        include_str!("../../../models/ping-sweep.toml"),
    ),
    (
        "brute-force",
        include_str!("../../../models/brute-force.toml"),
    ),
    (
        "beacon-address",
        include_str!("../../../models/beacon-address.toml"),
    ),
    (
        "beacon-hostname",
        include_str!("../../../models/beacon-hostname.toml"),
    ),
    (
        "long-connection",
        include_str!("../../../models/long-connection.toml"),
    ),
    (
        "dns-tunnel",
        include_str!("../../../models/dns-tunnel.toml"),
    ),
    ("dga-names", include_str!("../../../models/dga-names.toml")),
    (
        "rare-external-endpoint",
        include_str!("../../../models/rare-external-endpoint.toml"),
    ),
    (
        "unusual-port",
        include_str!("../../../models/unusual-port.toml"),
    ),
    (
        "rare-user-agent",
        include_str!("../../../models/rare-user-agent.toml"),
    ),
    (
        "lateral-movement",
        include_str!("../../../models/lateral-movement.toml"),
    ),
    (
        "exfiltration",
        include_str!("../../../models/exfiltration.toml"),
    ),
    (
        "unusual-time",
        include_str!("../../../models/unusual-time.toml"),
    ),
    (
        "watched-indicator",
        include_str!("../../../models/watched-indicator.toml"),
    ),
    (
        "tool-user-agent",
        include_str!("../../../models/tool-user-agent.toml"),
    ),
    (
        "encrypted-dns",
        include_str!("../../../models/encrypted-dns.toml"),
    ),
    (
        "admin-fanout",
        include_str!("../../../models/admin-fanout.toml"),
    ),
    (
        "new-service",
        include_str!("../../../models/new-service.toml"),
    ),
    (
        "smb-write-volume",
        include_str!("../../../models/smb-write-volume.toml"),
    ),
    (
        "remote-execution-rpc",
        include_str!("../../../models/remote-execution-rpc.toml"),
    ),
    (
        "admin-share",
        include_str!("../../../models/admin-share.toml"),
    ),
    (
        "account-discovery-rpc",
        include_str!("../../../models/account-discovery-rpc.toml"),
    ),
    (
        "beacon-in-connection",
        include_str!("../../../models/beacon-in-connection.toml"),
    ),
    (
        "unusual-connection-rate",
        include_str!("../../../models/unusual-connection-rate.toml"),
    ),
    (
        "unusual-inbound-volume",
        include_str!("../../../models/unusual-inbound-volume.toml"),
    ),
    (
        "http-to-ip-address",
        include_str!("../../../models/http-to-ip-address.toml"),
    ),
    (
        "direct-smtp",
        include_str!("../../../models/direct-smtp.toml"),
    ),
    (
        "file-upload",
        include_str!("../../../models/file-upload.toml"),
    ),
    ("smb1-use", include_str!("../../../models/smb1-use.toml")),
    (
        "edr-credential-access-lateral",
        include_str!("../../../models/edr-credential-access-lateral.toml"),
    ),
    (
        "edr-c2-beacon",
        include_str!("../../../models/edr-c2-beacon.toml"),
    ),
    (
        "edr-impact-smb-volume",
        include_str!("../../../models/edr-impact-smb-volume.toml"),
    ),
    (
        "edr-unusual-network-unusual",
        include_str!("../../../models/edr-unusual-network-unusual.toml"),
    ),
];

/// Why models could not be loaded.
#[derive(Debug, thiserror::Error)]
pub enum ModelError {
    /// A file is not a valid model.
    #[error("model {origin} is not valid: {message}")]
    Invalid {
        /// The file or shipped name.
        origin: String,
        /// What is wrong.
        message: String,
    },
    /// The user directory could not be read.
    #[error("failed to read the models directory {dir}")]
    Dir {
        /// The directory.
        dir: String,
        /// The cause.
        #[source]
        source: std::io::Error,
    },
}

impl Model {
    /// Parses one model's text.
    pub fn parse(origin: &str, text: &str) -> Result<Self, ModelError> {
        let mut model: Self = toml::from_str(text).map_err(|e| ModelError::Invalid {
            origin: origin.to_owned(),
            message: e.to_string(),
        })?;
        if model.score > 100 {
            return Err(ModelError::Invalid {
                origin: origin.to_owned(),
                message: format!("score {} is over 100", model.score),
            });
        }
        text.clone_into(&mut model.source);
        Ok(model)
    }
}

/// The shipped models, then `*.toml` in `user_dir` (if given) replacing or adding by name.
pub fn load(user_dir: Option<&Path>) -> Result<Vec<Model>, ModelError> {
    let mut models = Vec::new();
    for (name, text) in SHIPPED {
        models.push(Model::parse(&format!("shipped:{name}"), text)?);
    }
    let Some(dir) = user_dir else {
        return Ok(models);
    };
    let err = |source| ModelError::Dir {
        dir: dir.display().to_string(),
        source,
    };
    let mut paths: Vec<_> = std::fs::read_dir(dir)
        .map_err(err)?
        .filter_map(Result::ok)
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|x| x == "toml"))
        .collect();
    paths.sort();
    for path in paths {
        let text = std::fs::read_to_string(&path).map_err(err)?;
        let model = Model::parse(&path.display().to_string(), &text)?;
        match models.iter_mut().find(|m| m.name == model.name) {
            Some(slot) => *slot = model,
            None => models.push(model),
        }
    }
    Ok(models)
}

/// Whether `addr` is in any of `nets`.
pub fn inside(nets: &[ipnet::IpNet], addr: IpAddr) -> bool {
    nets.iter().any(|n| n.contains(&addr))
}

#[cfg(test)]
mod tests {
    #[test]
    fn every_file_in_models_ships_and_parses() {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../models");
        let mut files: Vec<String> = std::fs::read_dir(dir)
            .unwrap()
            .map(|e| e.unwrap().path())
            .filter(|p| p.extension().is_some_and(|x| x == "toml"))
            .map(|p| p.file_stem().unwrap().to_string_lossy().into_owned())
            .collect();
        files.sort();
        let mut shipped: Vec<String> = super::SHIPPED
            .iter()
            .map(|(n, _)| (*n).to_owned())
            .collect();
        shipped.sort();
        assert_eq!(files, shipped, "models/ and SHIPPED list the same models");
        let models = super::load(None).unwrap();
        for m in &models {
            let combined = crate::fusion::combined::Combined::from_model(m).unwrap();
            assert!(
                combined.is_some() || super::super::detectors::build(m).is_ok(),
                "{} builds its detector",
                m.name
            );
        }
    }
}
