//! ArcSight Common Event Format (CEF:0): `CEF:0|vendor|product|version|signature|name|
//! severity|extension`, with the escaping the format requires (`\` and `|` in the header;
//! `\`, `=` and line breaks in extension values).

use std::fmt::Write as _;

use super::{PRODUCT, Record, VERSION};

/// Escapes a header field.
fn header(s: &str) -> String {
    s.replace('\\', "\\\\").replace('|', "\\|")
}

/// Escapes an extension value.
fn value(s: &str) -> String {
    s.replace('\\', "\\\\")
        .replace('=', "\\=")
        .replace('\r', "\\r")
        .replace('\n', "\\n")
}

struct Event {
    signature: String,
    name: String,
    severity: u8,
    ext: Vec<(&'static str, String)>,
}

impl Event {
    fn render(&self) -> String {
        let mut out = format!(
            "CEF:0|{}|{}|{}|{}|{}|{}|",
            header(PRODUCT),
            header(PRODUCT),
            header(VERSION),
            header(&self.signature),
            header(&self.name),
            self.severity
        );
        for (i, (k, v)) in self.ext.iter().enumerate() {
            if i > 0 {
                out.push(' ');
            }
            let _ = write!(out, "{k}={}", value(v));
        }
        out
    }
}

/// One CEF line.
pub fn line(record: &Record) -> String {
    let rt = record.time().timestamp_millis().to_string();
    let event = match record {
        Record::Conn(c) => {
            let mut ext = vec![
                ("rt", rt),
                ("src", c.orig_h.to_string()),
                ("spt", c.orig_p.to_string()),
                ("dst", c.resp_h.to_string()),
                ("dpt", c.resp_p.to_string()),
                ("proto", c.proto.to_ascii_uppercase()),
                ("out", c.orig_bytes.to_string()),
                ("in", c.resp_bytes.to_string()),
                ("cs1Label", "communityId".to_owned()),
                ("cs1", c.community_id.clone()),
                ("cs2Label", "uid".to_owned()),
                ("cs2", c.uid.clone()),
                ("cs3Label", "connState".to_owned()),
                ("cs3", c.conn_state.clone()),
            ];
            if let Some(s) = &c.app.service {
                ext.push(("app", s.clone()));
            }
            if let Some(h) = &c.app.http {
                ext.push(("requestMethod", h.method.clone()));
                if let Some(host) = &h.host {
                    ext.push(("dhost", host.clone()));
                }
                ext.push(("request", h.uri.clone()));
                if let Some(ua) = &h.user_agent {
                    ext.push(("requestClientApplication", ua.clone()));
                }
            }
            if let Some(d) = &c.app.dns {
                ext.push(("cs4Label", "dnsQuery".to_owned()));
                ext.push(("cs4", d.query.clone()));
            }
            if let Some(sni) = c.app.tls.as_ref().and_then(|t| t.sni.clone()) {
                ext.push(("dhost", sni));
            }
            Event {
                signature: "conn".to_owned(),
                name: "Connection".to_owned(),
                severity: 1,
                ext,
            }
        }
        Record::Action(a) => {
            let targets = a
                .targets
                .iter()
                .map(ToString::to_string)
                .collect::<Vec<_>>()
                .join("; ");
            let mut ext = vec![
                ("rt", rt),
                ("act", a.kind.to_string()),
                ("suser", a.who.clone()),
                ("reason", a.why.clone()),
                ("msg", targets.clone()),
                ("cs1Label", "actionId".to_owned()),
                ("cs1", a.id.to_string()),
                ("cs2Label", "state".to_owned()),
                ("cs2", a.state.to_string()),
            ];
            if let Some(ip) = a
                .targets
                .iter()
                .flat_map(crate::ebpf::Target::addresses)
                .next()
            {
                ext.push(("dst", ip.to_string()));
            }
            if let Some(until) = a.until {
                ext.push(("end", until.timestamp_millis().to_string()));
            }
            Event {
                signature: format!("action-{}", a.kind),
                name: format!("{} {targets}", a.kind),
                severity: 7,
                ext,
            }
        }
        Record::Row { kind, row } => {
            let score = row
                .get("score")
                .or_else(|| row.get("severity"))
                .and_then(serde_json::Value::as_i64)
                .unwrap_or(0);
            let name = row
                .get("title")
                .or_else(|| row.get("model"))
                .and_then(serde_json::Value::as_str)
                .unwrap_or(kind.as_str())
                .to_owned();
            Event {
                signature: kind.as_str().to_owned(),
                name,
                severity: (score.clamp(0, 100) / 10) as u8,
                ext: vec![
                    ("rt", rt),
                    ("cs1Label", "id".to_owned()),
                    ("cs1", row["id"].to_string()),
                    ("msg", row["data"].to_string()),
                ],
            }
        }
    };
    event.render()
}

#[cfg(test)]
mod tests {
    use super::{header, value};

    #[test]
    fn escapes_what_cef_requires() {
        assert_eq!(header("a|b\\c"), "a\\|b\\\\c");
        assert_eq!(value("k=v\\x\ny"), "k\\=v\\\\x\\ny");
        assert_eq!(value("a|b"), "a|b", "pipes are fine in extensions");
    }
}
