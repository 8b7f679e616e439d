//! HTTP/1.x: the request's method, host, URI and user agent, and the response status.

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
}

/// Headers read from a snippet at most.
const MAX_HEADERS: usize = 32;

impl Http {
    /// Parses the originator's request (possibly cut short) and the responder's status line.
    pub fn parse(request: &[u8], response: &[u8]) -> Option<Self> {
        let mut headers = [httparse::EMPTY_HEADER; MAX_HEADERS];
        let mut req = httparse::Request::new(&mut headers);
        // A snippet usually ends inside the headers: a partial parse is what we want, and
        // httparse fills in whatever complete headers it has seen.
        if req.parse(request).is_err() {
            return None;
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
        })
    }
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
    fn not_http() {
        assert_eq!(Http::parse(b"\x16\x03\x01\x02\x00", b""), None);
        assert_eq!(Http::parse(b"", b""), None);
    }
}
