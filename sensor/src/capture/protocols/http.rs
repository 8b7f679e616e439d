//! HTTP/1.x: the request's method, host, URI, user agent and declared body length, and the
//! response status.

use serde::{Deserialize, Serialize};

/// What an analyst asks of an HTTP exchange.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Http {
    /// `GET`, `POST`, …
    pub method: String,
    /// The `Host` header.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub host: Option<String>,
    /// The request target.
    pub uri: String,
    /// The `User-Agent` header.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user_agent: Option<String>,
    /// The response status code.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status: Option<u16>,
    /// The request's `Content-Length`: what the client says it sends (a capture or a
    /// snippet may hold less of it).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub content_length: Option<u64>,
}

/// A request body from this many bytes up is an upload ([`Http::upload`]).
pub const UPLOAD_MIN_BYTES: u64 = 1_000_000;

impl Http {
    /// The host named by a bare IP address (with or without a port), if it is one.
    /// Software names its servers; droppers and command-and-control often do not.
    pub fn ip_host(&self) -> Option<std::net::IpAddr> {
        let host = self.host.as_deref()?.trim();
        if let Ok(ip) = host.parse() {
            return Some(ip);
        }
        if let Ok(addr) = host.parse::<std::net::SocketAddr>() {
            return Some(addr.ip());
        }
        let (name, _port) = host.rsplit_once(':')?;
        name.parse().ok()
    }

    /// `POST /upload (1648120 bytes)` when the request sends a body of at least
    /// [`UPLOAD_MIN_BYTES`] with `POST` or `PUT`.
    pub fn upload(&self) -> Option<String> {
        let len = self.content_length?;
        (matches!(self.method.as_str(), "POST" | "PUT") && len >= UPLOAD_MIN_BYTES)
            .then(|| format!("HTTP {} {} ({len} bytes)", self.method, self.uri))
    }
}

/// Headers read from a snippet at most.
const MAX_HEADERS: usize = 32;

impl Http {
    /// Parses the originator's request (possibly cut short) and the responder's status line.
    pub fn parse(request: &[u8], response: &[u8]) -> Option<Self> {
        let mut headers = [httparse::EMPTY_HEADER; MAX_HEADERS];
        let mut req = httparse::Request::new(&mut headers);
        // A snippet usually ends inside the headers: a partial parse is what we want, and
        // httparse fills in whatever complete headers it has seen. What it refuses (bare LF
        // line ends, a missing target: things attackers and odd clients send) is read
        // leniently instead.
        if req.parse(request).is_err() {
            return lenient(request);
        }
        let method = req.method?.to_owned();
        let uri = req.path?.to_owned();
        let header = |name: &str| {
            req.headers
                .iter()
                .take_while(|h| !h.name.is_empty())
                .find(|h| h.name.eq_ignore_ascii_case(name))
                .map(|h| String::from_utf8_lossy(h.value).into_owned())
        };
        let mut resp_headers = [httparse::EMPTY_HEADER; MAX_HEADERS];
        let mut resp = httparse::Response::new(&mut resp_headers);
        let status = resp.parse(response).ok().and(resp.code);
        Some(Self {
            method,
            host: header("host"),
            uri,
            user_agent: header("user-agent"),
            status,
            content_length: header("content-length").and_then(|v| v.trim().parse().ok()),
        })
    }
}

/// Methods a lenient parse accepts (RFC 9110 and the common `WebDAV` ones).
const METHODS: [&str; 14] = [
    "GET",
    "HEAD",
    "POST",
    "PUT",
    "DELETE",
    "CONNECT",
    "OPTIONS",
    "TRACE",
    "PATCH",
    "PROPFIND",
    "PROPPATCH",
    "MKCOL",
    "COPY",
    "MOVE",
];

/// A request line `METHOD [TARGET] [HTTP/x.y]` and `Name: value` headers, with CRLF or
/// bare LF line ends. The method must be a known one, or an upper-case token on a line that
/// names an HTTP version (custom methods such as `CCM_POST`). Only string splitting: no
/// indexing that could panic on odd input.
fn lenient(request: &[u8]) -> Option<Http> {
    let text = std::str::from_utf8(request).ok().or_else(|| {
        // A snippet may end inside a multi-byte character: keep the valid prefix.
        let valid = std::str::from_utf8(request).err()?.valid_up_to();
        std::str::from_utf8(request.get(..valid)?).ok()
    })?;
    let mut lines = text.split('\n').map(|l| l.strip_suffix('\r').unwrap_or(l));
    let first = lines.next()?;
    let words: Vec<&str> = first.split(' ').filter(|w| !w.is_empty()).collect();
    let (&method, rest) = words.split_first()?;
    let token = !method.is_empty()
        && method.len() <= 24
        && method
            .bytes()
            .all(|b| b.is_ascii_uppercase() || b == b'_' || b == b'-');
    let versioned = rest.iter().any(|w| w.contains("HTTP/"));
    if !token || !(METHODS.contains(&method) || versioned) || rest.len() > 2 {
        return None;
    }
    let uri = rest
        .first()
        .filter(|w| !w.starts_with("HTTP/"))
        .copied()
        .unwrap_or("");
    let mut http = Http {
        method: method.to_owned(),
        uri: uri.to_owned(),
        ..Http::default()
    };
    for line in lines.take_while(|l| !l.is_empty()) {
        let Some((name, value)) = line.split_once(':') else {
            continue;
        };
        let value = value.trim().to_owned();
        if name.eq_ignore_ascii_case("host") {
            http.host = Some(value);
        } else if name.eq_ignore_ascii_case("user-agent") {
            http.user_agent = Some(value);
        } else if name.eq_ignore_ascii_case("content-length") {
            http.content_length = value.parse().ok();
        }
    }
    Some(http)
}

#[cfg(test)]
mod tests {
    use super::Http;

    #[test]
    fn request_cut_in_the_headers() {
        let req =
            b"GET /index.html HTTP/1.1\r\nHost: example.test\r\nUser-Agent: demo/1.0\r\nAccept: */";
        let h = Http::parse(req, b"HTTP/1.1 404 Not Found\r\n").unwrap();
        assert_eq!(h.method, "GET");
        assert_eq!(h.uri, "/index.html");
        assert_eq!(h.host.as_deref(), Some("example.test"));
        assert_eq!(h.user_agent.as_deref(), Some("demo/1.0"));
        assert_eq!(h.status, Some(404));
    }

    #[test]
    fn lenient_request_without_target_and_bare_newlines() {
        let h = Http::parse(b"OPTIONS HTTP/1.1\nHost: www.example.test\n\n", b"").unwrap();
        assert_eq!(h.method, "OPTIONS");
        assert_eq!(h.uri, "");
        assert_eq!(h.host.as_deref(), Some("www.example.test"));
    }

    #[test]
    fn random_bytes_never_panic() {
        let mut rng = fastrand::Rng::with_seed(7);
        for _ in 0..20_000 {
            let len = rng.usize(..200);
            let mut bytes: Vec<u8> = (0..len).map(|_| rng.u8(..)).collect();
            if rng.bool() && len > 8 {
                bytes[..4].copy_from_slice(b"GET ");
            }
            let _ = Http::parse(&bytes, &bytes);
        }
    }

    #[test]
    fn bare_method_and_custom_method() {
        let h = Http::parse(b"OPTIONS\nHost: www.example.test\n\n", b"").unwrap();
        assert_eq!((h.method.as_str(), h.uri.as_str()), ("OPTIONS", ""));
        let h = Http::parse(b"CCM_POST /x HTTP/1.1\r\nHost: a.test\r\n", b"").unwrap();
        assert_eq!((h.method.as_str(), h.uri.as_str()), ("CCM_POST", "/x"));
        assert_eq!(Http::parse(b"HELLO world\n", b""), None);
    }

    #[test]
    fn upload_and_bare_address_host() {
        let req = b"POST /upload HTTP/1.1\r\nHost: 10.1.2.3:8080\r\nContent-Length: 1648120\r\n";
        let h = Http::parse(req, b"").unwrap();
        assert_eq!(h.content_length, Some(1_648_120));
        assert_eq!(
            h.upload().as_deref(),
            Some("HTTP POST /upload (1648120 bytes)")
        );
        assert_eq!(h.ip_host(), Some([10, 1, 2, 3].into()));
        let small = Http::parse(
            b"POST /f HTTP/1.1\r\nHost: a.test\r\nContent-Length: 4788\r\n",
            b"",
        )
        .unwrap();
        assert_eq!((small.upload(), small.ip_host()), (None, None));
        for (host, ip) in [
            ("[2001:db8::1]:990", Some("2001:db8::1")),
            ("2001:db8::1", Some("2001:db8::1")),
            ("45.9.74.78", Some("45.9.74.78")),
            ("localhost:8080", None),
            ("1.2.3.4.example.test", None),
        ] {
            let h = Http {
                host: Some(host.to_owned()),
                ..Http::default()
            };
            assert_eq!(h.ip_host(), ip.map(|i| i.parse().unwrap()), "{host}");
        }
    }

    #[test]
    fn not_http() {
        assert_eq!(Http::parse(b"\x16\x03\x01\x02\x00", b""), None);
        assert_eq!(Http::parse(b"", b""), None);
    }
}
