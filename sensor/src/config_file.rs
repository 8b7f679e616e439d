//! The agent's config file (TOML), for what flags carry badly: lists of structured
//! settings: the exporters (`[[export]]`), the EDR connectors (`[[edr]]`, see
//! `edr::connectors`) and the response policies (`[[policy]]`, see `policy::config`);
//! everything else is a flag of `sensor run`.
//!
//! ```toml
//! [[export]]
//! name = "siem-syslog"
//! format = "cef"            # ecs | ocsf | cef
//! to = "syslog"
//! address = "10.0.0.50:514"
//! transport = "tcp"         # udp (default) | tcp
//!
//! [[export]]
//! name = "lake"
//! format = "ocsf"
//! to = "http"
//! url = "https://collector.example:8443/ingest"
//! headers = { Authorization = "Bearer ..." }   # never logged
//! records = ["connections", "actions"]          # all kinds by default
//! batch = 500
//! ```

use std::{collections::BTreeSet, path::Path};

use serde::Deserialize;

use crate::export::ExportConfig;

/// A serde field written like `90s`, `30m`, `2h` (the durations of model and connector
/// files).
pub fn duration<'de, D: serde::Deserializer<'de>>(d: D) -> Result<std::time::Duration, D::Error> {
    let s = String::deserialize(d)?;
    humantime::parse_duration(&s).map_err(serde::de::Error::custom)
}

/// Why the config file was refused.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// It could not be read.
    #[error("failed to read the config file {path}")]
    Read {
        /// The file.
        path: String,
        /// The cause.
        #[source]
        source: std::io::Error,
    },
    /// It is not valid.
    #[error("the config file {path} is not valid: {message}")]
    Invalid {
        /// The file.
        path: String,
        /// What is wrong, and where.
        message: String,
    },
}

/// The config file's contents.
#[derive(Clone, Debug, Default, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ConfigFile {
    /// The exporters.
    #[serde(default)]
    pub export: Vec<ExportConfig>,
    /// The EDR connectors.
    #[serde(default)]
    pub edr: Vec<crate::edr::connectors::EdrConfig>,
    /// The response policies (the shipped one is in force unless replaced by name).
    #[serde(default)]
    pub policy: Vec<crate::policy::config::Policy>,
}

impl ConfigFile {
    /// Reads and checks `path`.
    pub fn load(path: &Path) -> Result<Self, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
            path: path.display().to_string(),
            source,
        })?;
        Self::parse(&text).map_err(|message| ConfigError::Invalid {
            path: path.display().to_string(),
            message,
        })
    }

    /// Parses and checks a config's text.
    pub fn parse(text: &str) -> Result<Self, String> {
        let config: Self = toml::from_str(text).map_err(|e| e.to_string())?;
        let mut names = BTreeSet::new();
        let mut edr_names = BTreeSet::new();
        for c in &config.edr {
            if !edr_names.insert(c.name.as_str()) {
                return Err(format!(
                    "two EDR connectors are named {:?}; names key their cursors and must differ",
                    c.name
                ));
            }
        }
        for e in &config.export {
            if !names.insert(e.name.as_str()) {
                return Err(format!(
                    "two exporters are named {:?}; names key their progress and must differ",
                    e.name
                ));
            }
        }
        let mut policy_names = BTreeSet::new();
        for p in &config.policy {
            if !policy_names.insert(p.name.as_str()) {
                return Err(format!(
                    "two policies are named {:?}; names key their actions and must differ",
                    p.name
                ));
            }
            if !(p.repeat_growth.is_finite() && p.repeat_growth >= 1.0) {
                return Err(format!(
                    "policy {:?}: repeat_growth must be a number of at least 1 (1: repeats last \
                     as long as the first)",
                    p.name
                ));
            }
        }
        Ok(config)
    }
}

#[cfg(test)]
mod tests {
    use super::ConfigFile;

    #[test]
    fn policies_parse_with_defaults_and_refuse_twins() {
        let c = ConfigFile::parse(
            "[[policy]]\nname = \"p\"\ndo = \"quarantine\"\n[policy.when]\non = \"breach\"\n\
             models = [\"scan-vertical\"]\n",
        )
        .unwrap();
        let p = &c.policy[0];
        assert_eq!(p.duration, std::time::Duration::from_hours(2));
        assert_eq!(p.mode, crate::response::Mode::Autonomous);
        assert!(p.enabled);
        let twice = "[[policy]]\nname = \"p\"\ndo = \"quarantine\"\n[policy.when]\n";
        let err = ConfigFile::parse(&format!("{twice}{twice}")).unwrap_err();
        assert!(err.contains("two policies are named"), "{err}");
        let err = ConfigFile::parse("[[policy]]\nname = \"p\"\ndo = \"explode\"\n[policy.when]\n")
            .unwrap_err();
        assert!(err.contains("unknown variant"), "{err}");
        let err = ConfigFile::parse(
            "[[policy]]\nname = \"p\"\ndo = \"quarantine\"\nrepeat_growth = 0.5\n[policy.when]\n",
        )
        .unwrap_err();
        assert!(err.contains("repeat_growth"), "{err}");
    }
    use crate::export::{Destination, Format, RecordKind, Transport};

    #[test]
    fn exporters_parse_with_defaults() {
        let c = ConfigFile::parse(
            r#"
            [[export]]
            name = "a"
            format = "cef"
            to = "syslog"
            address = "127.0.0.1:514"

            [[export]]
            name = "b"
            format = "ocsf"
            to = "http"
            url = "https://x.example/in"
            records = ["connections"]
            "#,
        )
        .unwrap();
        assert_eq!(c.export[0].format, Format::Cef);
        assert_eq!(
            c.export[0].destination,
            Destination::Syslog {
                address: "127.0.0.1:514".into(),
                transport: Transport::Udp
            }
        );
        assert_eq!(c.export[0].records, RecordKind::ALL.to_vec());
        assert_eq!(c.export[1].records, vec![RecordKind::Connections]);
        assert_eq!(c.export[1].batch, 500);
    }

    #[test]
    fn mistakes_are_refused_with_a_reason() {
        let dup = "[[export]]\nname='a'\nformat='ecs'\nto='file'\npath='/x'\n\
                   [[export]]\nname='a'\nformat='ecs'\nto='file'\npath='/y'\n";
        assert!(
            ConfigFile::parse(dup)
                .unwrap_err()
                .contains("two exporters")
        );
        let typo = "[[export]]\nname='a'\nformat='ecs'\nto='file'\npath='/x'\nbacth=5\n";
        assert!(ConfigFile::parse(typo).unwrap_err().contains("bacth"));
        let bad = "[[export]]\nname='a'\nformat='json'\nto='file'\npath='/x'\n";
        assert!(ConfigFile::parse(bad).is_err());
    }
}
