//! Reading vendor payloads: what every mapping shares, and the checks every mapped alert
//! passes before it is stored.

use chrono::{DateTime, Utc};
use serde_json::Value;

use super::EdrAlert;

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
    /// A text longer than anyone reads, or than a terminal or a SIEM field takes.
    #[error("field {0} is longer than {1} bytes")]
    TooLong(&'static str, usize),
    /// A text with NUL, terminal escapes or direction overrides, which would garble or
    /// disguise what an analyst reads.
    #[error("field {0} holds control characters (NUL, terminal escapes or direction overrides)")]
    Control(&'static str),
}

/// Whether `c` is a control character that has no place in an alert's text: C0 and C1
/// controls other than tab and line breaks, DEL, and the bidirectional overrides.
fn hostile(c: char) -> bool {
    (c.is_control() && !matches!(c, '\t' | '\n' | '\r'))
        || matches!(c, '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}')
}

/// Checks a mapped alert's texts: no hostile control characters, none absurdly long.
pub fn check(a: &EdrAlert) -> Result<(), MapError> {
    const SHORT: usize = 1024;
    let one = |name: &'static str, value: Option<&str>, max: usize| -> Result<(), MapError> {
        let Some(v) = value else { return Ok(()) };
        if v.len() > max {
            return Err(MapError::TooLong(name, max));
        }
        if v.chars().any(hostile) {
            return Err(MapError::Control(name));
        }
        Ok(())
    };
    one("id", Some(&a.id), SHORT)?;
    one("title", Some(&a.title), 4 * SHORT)?;
    one("description", Some(&a.description), 64 * SHORT)?;
    one("severity", Some(&a.severity_label), SHORT)?;
    one("tactic", a.tactic.as_deref(), SHORT)?;
    for t in &a.techniques {
        one("technique", Some(t), SHORT)?;
    }
    one("device id", a.vendor_device_id.as_deref(), SHORT)?;
    one("hostname", a.hostname.as_deref(), SHORT)?;
    one("user", a.user.as_deref(), SHORT)?;
    one("process", a.process.as_deref(), 32 * SHORT)?;
    one("file", a.file.as_deref(), 4 * SHORT)?;
    one("hash", a.hash.as_deref(), SHORT)?;
    one("actor", a.actor.as_deref(), SHORT)?;
    for u in &a.urls {
        one("url", Some(u), 8 * SHORT)?;
    }
    one("link", a.link.as_deref(), 8 * SHORT)
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

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::{MapError, check};

    #[test]
    fn hostile_or_huge_texts_are_refused_by_name() {
        let alert = |title: &str, description: &str| {
            crate::edr::microsoft::map::map(&json!({
                "id": "a", "title": title, "description": description,
                "createdDateTime": "2026-11-02T08:06:00Z", "lastUpdateDateTime": "2026-11-02T08:08:00Z"
            }))
            .unwrap()
        };
        assert_eq!(check(&alert("ok\ttitle", "two\nlines")), Ok(()));
        assert_eq!(check(&alert("x\0y", "")), Err(MapError::Control("title")));
        assert_eq!(
            check(&alert("x\u{1b}[31mred", "")),
            Err(MapError::Control("title"))
        );
        assert_eq!(
            check(&alert("t", "\u{202e}gpj.exe")),
            Err(MapError::Control("description"))
        );
        assert_eq!(
            check(&alert(&"A".repeat(2_000_000), "")),
            Err(MapError::TooLong("title", 4096))
        );
    }
}
