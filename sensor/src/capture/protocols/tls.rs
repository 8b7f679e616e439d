//! TLS: the client hello's server name (SNI) and its JA4 fingerprint.
//!
//! JA4 (by `FoxIO`, <https://github.com/FoxIO-LLC/ja4>) is `a_b_c`: `a` is the transport
//! (`t`), the highest offered TLS version, `d`/`i` for a server name present or not, the
//! numbers of cipher suites and of extensions (two digits each), and the first and last
//! characters of the first ALPN value; `b` is the first 12 hex digits of the SHA-256 of the
//! sorted cipher suites; `c` the same of the sorted extensions (without SNI and ALPN), `_`,
//! and the signature algorithms in the order offered. GREASE values never count.
//! The hello is parsed by `tls-parser`; a hello cut short by the snippet bound gives none.

use std::fmt::Write as _;

use serde::{Deserialize, Serialize};
use sha2::{Digest as _, Sha256};
use tls_parser::{
    TlsExtension, TlsExtensionType, TlsMessage, TlsMessageHandshake,
    parse_tls_client_hello_extensions, parse_tls_plaintext,
};

/// What a client hello says.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Tls {
    /// The server name the client asked for.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sni: Option<String>,
    /// The JA4 fingerprint of the client hello.
    pub ja4: String,
}

/// RFC 8701: values of the form 0x?a?a with equal bytes.
fn grease(v: u16) -> bool {
    v & 0x0f0f == 0x0a0a && v >> 8 == v & 0xff
}

fn version(v: u16) -> &'static str {
    match v {
        0x0304 => "13",
        0x0303 => "12",
        0x0302 => "11",
        0x0301 => "10",
        0x0300 => "s3",
        0x0002 => "s2",
        0xfeff => "d1",
        0xfefd => "d2",
        0xfefc => "d3",
        _ => "00",
    }
}

/// The first 12 hex digits of SHA-256 of `s`, or twelve zeros for nothing.
fn hash12(s: &str) -> String {
    if s.is_empty() {
        return "000000000000".to_owned();
    }
    let digest = Sha256::digest(s.as_bytes());
    digest
        .iter()
        .take(6)
        .fold(String::with_capacity(12), |mut out, b| {
            let _ = write!(out, "{b:02x}");
            out
        })
}

fn hex_list(values: &[u16]) -> String {
    values
        .iter()
        .map(|v| format!("{v:04x}"))
        .collect::<Vec<_>>()
        .join(",")
}

/// The two ALPN characters: first and last of the first value, or their hex digits when
/// either is not alphanumeric; `00` without ALPN.
fn alpn_chars(first: Option<&[u8]>) -> String {
    let Some(value) = first.filter(|v| !v.is_empty()) else {
        return "00".to_owned();
    };
    let (a, z) = (value[0], value[value.len() - 1]);
    if a.is_ascii_alphanumeric() && z.is_ascii_alphanumeric() {
        format!("{}{}", a as char, z as char)
    } else {
        let hex = format!("{a:02x}{z:02x}");
        format!("{}{}", &hex[..1], &hex[3..])
    }
}

impl Tls {
    /// Parses a client hello (the first payload of a TLS client).
    pub fn parse(hello: &[u8]) -> Option<Self> {
        let (_, record) = parse_tls_plaintext(hello).ok()?;
        let ch = record.msg.iter().find_map(|m| match m {
            TlsMessage::Handshake(TlsMessageHandshake::ClientHello(ch)) => Some(ch),
            _ => None,
        })?;
        let extensions = match ch.ext {
            Some(ext) => parse_tls_client_hello_extensions(ext).ok()?.1,
            None => Vec::new(),
        };
        let ciphers: Vec<u16> = ch
            .ciphers
            .iter()
            .map(|c| c.0)
            .filter(|&c| !grease(c))
            .collect();
        let types: Vec<u16> = extensions
            .iter()
            .map(|e| TlsExtensionType::from(e).0)
            .filter(|&t| !grease(t))
            .collect();
        let mut sni = None;
        let mut alpn = None;
        let mut offered = ch.version.0;
        let mut sig_algs: &[u16] = &[];
        for e in &extensions {
            match e {
                TlsExtension::SNI(names) => {
                    sni = names
                        .first()
                        .map(|(_, n)| String::from_utf8_lossy(n).into_owned());
                }
                TlsExtension::ALPN(values) => alpn = values.first().copied(),
                TlsExtension::SupportedVersions(vs) => {
                    if let Some(v) = vs.iter().map(|v| v.0).filter(|&v| !grease(v)).max() {
                        offered = v;
                    }
                }
                TlsExtension::SignatureAlgorithms(algs) => sig_algs = algs,
                _ => {}
            }
        }
        let a = format!(
            "t{}{}{:02}{:02}{}",
            version(offered),
            if sni.is_some() { 'd' } else { 'i' },
            ciphers.len().min(99),
            types.len().min(99),
            alpn_chars(alpn)
        );
        let mut sorted_ciphers = ciphers.clone();
        sorted_ciphers.sort_unstable();
        let mut sorted_ext: Vec<u16> = types
            .iter()
            .copied()
            .filter(|&t| t != 0x0000 && t != 0x0010)
            .collect();
        sorted_ext.sort_unstable();
        let mut c = hex_list(&sorted_ext);
        if !sig_algs.is_empty() {
            c = format!("{c}_{}", hex_list(sig_algs));
        }
        Some(Self {
            sni,
            ja4: format!("{a}_{}_{}", hash12(&hex_list(&sorted_ciphers)), hash12(&c)),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::{Tls, alpn_chars, grease};

    #[test]
    fn grease_values() {
        assert!(grease(0x0a0a) && grease(0xfafa));
        assert!(!grease(0x0a1a) && !grease(0x1301));
    }

    #[test]
    fn alpn() {
        assert_eq!(alpn_chars(Some(b"h2")), "h2");
        assert_eq!(alpn_chars(Some(b"spdy/3.1")), "s1");
        assert_eq!(alpn_chars(None), "00");
    }

    #[test]
    fn garbage_is_not_a_hello() {
        assert_eq!(Tls::parse(b"\x16\x03\x01\x00\x05\x01\x00\x00"), None);
        assert_eq!(Tls::parse(b"GET / HTTP/1.1\r\n"), None);
    }
}
