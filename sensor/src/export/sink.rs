//! Where exported lines go: syslog over UDP or TCP (RFC 5424 framing, one message per
//! line on TCP), an HTTP collector (newline-delimited, in batches, retried with backoff),
//! or a file.

use std::{path::PathBuf, time::Duration};

use tokio::{
    io::AsyncWriteExt as _,
    net::{TcpStream, UdpSocket},
};

use super::{Destination, Transport};

/// Why a batch was not delivered. Header values and URLs' credentials are never in here.
#[derive(Debug, thiserror::Error)]
pub enum SinkError {
    /// The destination could not be reached or refused the batch.
    #[error("failed to deliver to {to}: {reason}")]
    Deliver {
        /// Where (the configured name of the destination).
        to: String,
        /// What happened.
        reason: String,
    },
    /// The exporter is misconfigured.
    #[error("bad export configuration: {0}")]
    Config(String),
}

/// Attempts per HTTP batch before the batch waits for the next round.
const HTTP_ATTEMPTS: u32 = 4;
/// First backoff between HTTP attempts; doubled each time.
const HTTP_BACKOFF: Duration = Duration::from_millis(250);

/// An open destination.
pub enum Sink {
    /// Syslog.
    Syslog {
        /// `host:port`.
        address: String,
        /// UDP or TCP.
        transport: Transport,
        /// The TCP connection, opened on first use and after a failure.
        stream: Option<TcpStream>,
        /// Our host name, for the syslog header.
        host: String,
    },
    /// HTTP.
    Http {
        /// The client (TLS verified).
        client: reqwest::Client,
        /// The URL.
        url: String,
        /// Extra headers.
        headers: reqwest::header::HeaderMap,
    },
    /// A file.
    File {
        /// The file.
        path: PathBuf,
    },
}

impl std::fmt::Debug for Sink {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Headers may hold secrets: never print them.
        match self {
            Self::Syslog { address, .. } => write!(f, "Syslog({address})"),
            Self::Http { .. } => write!(f, "Http(..)"),
            Self::File { path } => write!(f, "File({})", path.display()),
        }
    }
}

fn hostname() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|h| h.trim().to_owned())
        .ok()
        .filter(|h| !h.is_empty())
        .unwrap_or_else(|| "-".to_owned())
}

/// The URL without its credentials or query, for messages.
fn redacted(url: &str) -> String {
    let url = url.split(['?', '#']).next().unwrap_or(url);
    match url.split_once("://") {
        Some((scheme, rest)) => {
            let host = rest.rsplit_once('@').map_or(rest, |(_, h)| h);
            format!("{scheme}://{host}")
        }
        None => url.to_owned(),
    }
}

impl Sink {
    /// Opens a destination (network connections are made on first send).
    pub fn open(dest: &Destination) -> Result<Self, SinkError> {
        Ok(match dest {
            Destination::Syslog { address, transport } => Self::Syslog {
                address: address.clone(),
                transport: *transport,
                stream: None,
                host: hostname(),
            },
            Destination::Http {
                url,
                headers,
                ca_file,
            } => {
                let client = crate::http_client::build(ca_file.as_deref(), Duration::from_secs(30))
                    .map_err(SinkError::Config)?;
                let mut map = reqwest::header::HeaderMap::new();
                for (k, v) in headers {
                    let name = reqwest::header::HeaderName::from_bytes(k.as_bytes())
                        .map_err(|_| SinkError::Config(format!("bad header name {k}")))?;
                    let mut value = reqwest::header::HeaderValue::from_str(v)
                        .map_err(|_| SinkError::Config(format!("bad value for header {k}")))?;
                    value.set_sensitive(true);
                    map.insert(name, value);
                }
                Self::Http {
                    client,
                    url: url.clone(),
                    headers: map,
                }
            }
            Destination::File { path } => Self::File { path: path.clone() },
        })
    }

    /// Delivers `lines` (with `msgid` naming their kind in syslog headers), or fails
    /// whole: the caller keeps its cursor and tries again later.
    pub async fn send(&mut self, msgid: &str, lines: &[String]) -> Result<(), SinkError> {
        if lines.is_empty() {
            return Ok(());
        }
        match self {
            Self::Syslog {
                address,
                transport,
                stream,
                host,
            } => {
                let fail = |reason: String| SinkError::Deliver {
                    to: address.clone(),
                    reason,
                };
                let pid = std::process::id();
                let frame = |line: &str| {
                    // local0.info; RFC 5424 with the time in UTC.
                    format!(
                        "<134>1 {} {host} sensor {pid} {msgid} - {line}",
                        chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
                    )
                };
                match transport {
                    Transport::Udp => {
                        let target = tokio::net::lookup_host(address.as_str())
                            .await
                            .map_err(|e| fail(e.to_string()))?
                            .next()
                            .ok_or_else(|| fail("no address".to_owned()))?;
                        let bind = if target.is_ipv4() {
                            "0.0.0.0:0"
                        } else {
                            "[::]:0"
                        };
                        let socket = UdpSocket::bind(bind)
                            .await
                            .map_err(|e| fail(e.to_string()))?;
                        for line in lines {
                            socket
                                .send_to(frame(line).as_bytes(), target)
                                .await
                                .map_err(|e| fail(e.to_string()))?;
                        }
                    }
                    Transport::Tcp => {
                        if stream.is_none() {
                            *stream = Some(
                                TcpStream::connect(address.as_str())
                                    .await
                                    .map_err(|e| fail(e.to_string()))?,
                            );
                        }
                        let mut buf = String::new();
                        for line in lines {
                            buf.push_str(&frame(line));
                            buf.push('\n');
                        }
                        let result = match stream.as_mut() {
                            Some(s) => s.write_all(buf.as_bytes()).await,
                            None => Ok(()),
                        };
                        if let Err(e) = result {
                            *stream = None;
                            return Err(fail(e.to_string()));
                        }
                    }
                }
                Ok(())
            }
            Self::Http {
                client,
                url,
                headers,
            } => {
                let mut body = lines.join("\n");
                body.push('\n');
                let mut wait = HTTP_BACKOFF;
                let mut last = String::new();
                for attempt in 1..=HTTP_ATTEMPTS {
                    let result = client
                        .post(url.as_str())
                        .headers(headers.clone())
                        .header(reqwest::header::CONTENT_TYPE, "application/x-ndjson")
                        .body(body.clone())
                        .send()
                        .await;
                    match result {
                        Ok(r) if r.status().is_success() => return Ok(()),
                        Ok(r) if r.status().is_server_error() || r.status().as_u16() == 429 => {
                            last = format!("HTTP {}", r.status());
                        }
                        Ok(r) => {
                            return Err(SinkError::Deliver {
                                to: redacted(url),
                                reason: format!("HTTP {} (not retried)", r.status()),
                            });
                        }
                        Err(e) => {
                            // The error's chain says why (TLS verification, refused, ...);
                            // reqwest strips URL credentials from it.
                            last = crate::http_client::chain(&e.without_url());
                        }
                    }
                    if attempt < HTTP_ATTEMPTS {
                        tokio::time::sleep(wait).await;
                        wait *= 2;
                    }
                }
                Err(SinkError::Deliver {
                    to: redacted(url),
                    reason: format!("{last} after {HTTP_ATTEMPTS} attempts"),
                })
            }
            Self::File { path } => {
                use std::{io::Write as _, os::unix::fs::OpenOptionsExt as _};
                let fail = |e: std::io::Error| SinkError::Deliver {
                    to: path.display().to_string(),
                    reason: e.to_string(),
                };
                let mut file = std::fs::OpenOptions::new()
                    .create(true)
                    .append(true)
                    .mode(0o600)
                    .open(&*path)
                    .map_err(fail)?;
                let mut buf = lines.join("\n");
                buf.push('\n');
                file.write_all(buf.as_bytes()).map_err(fail)?;
                Ok(())
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::redacted;

    #[test]
    fn urls_lose_credentials_and_queries_in_messages() {
        assert_eq!(
            redacted("https://user:secret@siem.example:8443/ingest?token=abc"),
            "https://siem.example:8443/ingest"
        );
        assert_eq!(redacted("http://127.0.0.1:9/x"), "http://127.0.0.1:9/x");
    }
}
