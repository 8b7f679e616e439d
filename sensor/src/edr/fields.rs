//! Reading vendor payloads: what every mapping shares.

use chrono::{DateTime, Utc};
use serde_json::Value;

/// Why a vendor object could not be mapped.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum MapError {
    /// A required field is missing or of the wrong type.
    #[error("field {0} is missing or not a string")]
    Field(&'static str),
    /// A time is not RFC 3339.
    #[error("field {0} is not an RFC 3339 time")]
    Time(&'static str),
    /// Not a JSON object.
    #[error("an alert must be a JSON object")]
    NotObject,
}

/// The non-empty string at `path`.
pub fn text<'a>(v: &'a Value, path: &[&str]) -> Option<&'a str> {
    let mut cur = v;
    for p in path {
        cur = cur.get(p)?;
    }
    cur.as_str().filter(|s| !s.is_empty())
}

/// The RFC 3339 time at `path`, required (`name` says which in the error).
pub fn time(v: &Value, path: &[&str], name: &'static str) -> Result<DateTime<Utc>, MapError> {
    let s = text(v, path).ok_or(MapError::Field(name))?;
    DateTime::parse_from_rfc3339(s)
        .map(|t| t.with_timezone(&Utc))
        .map_err(|_| MapError::Time(name))
}
