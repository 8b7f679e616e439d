//! Patterns: a record whose field (user agent, TLS server name, HTTP host, DNS query, SMB
//! share, file or dialect, DCE-RPC interface, bare-address HTTP host, upload, unauthenticated
//! mail sender) contains one of a list of case-insensitive substrings (none: any value);
//! a field that holds several values matches when one does. With no field, every record the
//! model's filter admits (a port policy such as "encrypted DNS to port 853").

use serde::Deserialize;

use super::{Ctx, Detector};
use crate::detect::{Finding, Metric};

/// Which field is matched.
#[derive(Clone, Copy, Debug, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum Field {
    /// The HTTP user agent.
    UserAgent,
    /// The TLS server name.
    Sni,
    /// The HTTP host.
    HttpHost,
    /// The DNS query name.
    DnsQuery,
    /// The SMB shares connected (`\\host\share`).
    SmbShare,
    /// The SMB administrative shares connected (`C$`, `ADMIN$`); with no patterns, any.
    SmbAdminShare,
    /// The SMB files and pipes opened.
    SmbFile,
    /// The DCE-RPC interfaces bound (`svcctl`, `atsvc`, `samr`, ...).
    RpcInterface,
    /// The HTTP host when it is a bare IP address.
    HttpIpHost,
    /// Files and bodies sent through a file-transfer channel (FTP `STOR`, IRC DCC `SEND`,
    /// an HTTP upload of a megabyte or more).
    Upload,
    /// Senders of mail handed to an SMTP server without authenticating.
    SmtpUnauthenticatedSender,
    /// `SMB1` when the client spoke SMB version 1 past its negotiation.
    SmbDialect1,
}

/// `[params]`.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Params {
    /// The field; none means the filter alone decides.
    #[serde(default)]
    pub field: Option<Field>,
    /// Substrings, any of which matches (case-insensitive); none matches any value.
    #[serde(default)]
    pub patterns: Vec<String>,
    /// What a match means, for the summary.
    #[serde(default)]
    pub meaning: String,
}

/// The detector.
pub struct Pattern {
    p: Params,
}

impl Pattern {
    /// A detector with `p`.
    pub fn new(mut p: Params) -> Self {
        for pat in &mut p.patterns {
            *pat = pat.to_ascii_lowercase();
        }
        Self { p }
    }
}

impl Detector for Pattern {
    fn observe(&mut self, ctx: &Ctx<'_>) -> Vec<Finding> {
        let r = ctx.record;
        let (what, matched) = match self.p.field {
            None => (
                format!("{}/{}", r.proto, r.resp_p),
                format!("{}/{}", r.proto, r.resp_p),
            ),
            Some(field) => {
                let values: Vec<String> = match field {
                    Field::UserAgent => r
                        .app
                        .http
                        .iter()
                        .filter_map(|h| h.user_agent.clone())
                        .collect(),
                    Field::Sni => r.app.tls.iter().filter_map(|t| t.sni.clone()).collect(),
                    Field::HttpHost => r.app.http.iter().filter_map(|h| h.host.clone()).collect(),
                    Field::DnsQuery => r.app.dns.iter().map(|d| d.query.clone()).collect(),
                    Field::SmbShare => r.app.smb.iter().flat_map(|s| s.trees.clone()).collect(),
                    Field::SmbAdminShare => r
                        .app
                        .smb
                        .iter()
                        .flat_map(|s| s.admin_shares().map(str::to_owned))
                        .collect(),
                    Field::SmbFile => r.app.smb.iter().flat_map(|s| s.files.clone()).collect(),
                    Field::RpcInterface => r.app.rpc.clone(),
                    Field::HttpIpHost => r
                        .app
                        .http
                        .iter()
                        .filter(|h| h.ip_host().is_some())
                        .filter_map(|h| h.host.clone())
                        .collect(),
                    Field::Upload => r.app.uploads(),
                    Field::SmbDialect1 => r
                        .app
                        .smb
                        .iter()
                        .filter_map(|s| s.dialect1().map(str::to_owned))
                        .collect(),
                    Field::SmtpUnauthenticatedSender => r
                        .app
                        .smtp
                        .iter()
                        .flat_map(|s| s.unauthenticated_senders().to_vec())
                        .collect(),
                };
                let Some(found) = values.into_iter().find_map(|value| {
                    let lower = value.to_ascii_lowercase();
                    if self.p.patterns.is_empty() {
                        return Some((value, lower));
                    }
                    let pat = self
                        .p
                        .patterns
                        .iter()
                        .find(|p| lower.contains(p.as_str()))?;
                    Some((value, pat.clone()))
                }) else {
                    return Vec::new();
                };
                found
            }
        };
        let meaning = if self.p.meaning.is_empty() {
            String::new()
        } else {
            format!(": {}", self.p.meaning)
        };
        vec![Finding {
            key: format!("{} {matched}", r.orig_h),
            device_id: r.device_id,
            ts: r.ts,
            strength: 1.0,
            summary: format!("{} -> {}:{} {what}{meaning}", r.orig_h, r.resp_h, r.resp_p),
            metrics: vec![Metric {
                name: "matched".to_owned(),
                observed: 1.0,
                baseline: None,
                comparison: format!("contains {matched:?}"),
            }],
            connections: vec![r.uid.clone()],
        }]
    }
}
