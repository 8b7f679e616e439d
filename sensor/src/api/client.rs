//! The CLI's side of the API: one HTTP/1 request per call over the unix socket, on a
//! small runtime of its own.

use std::path::{Path, PathBuf};

use http_body_util::{BodyExt as _, Full};
use hyper::{Method, Request, StatusCode, body::Bytes};
use hyper_util::rt::TokioIo;
use serde::{Serialize, de::DeserializeOwned};
use tokio::net::UnixStream;

use super::ErrorBody;

/// Why a call failed; the messages say what to do.
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    /// Nobody listens on the socket.
    #[error(
        "no agent answers on {socket}: start one with `sensor run --iface IF`, or pass \
         --socket if it listens elsewhere"
    )]
    NoAgent {
        /// The socket.
        socket: PathBuf,
    },
    /// The socket is root's.
    #[error("permission denied on {socket}: the agent's API is for root only (try sudo)")]
    Denied {
        /// The socket.
        socket: PathBuf,
    },
    /// The agent answered with an error.
    #[error("the agent said: {message}")]
    Agent {
        /// The HTTP status.
        status: u16,
        /// Its message.
        message: String,
    },
    /// The exchange itself failed.
    #[error("failed to talk to the agent on {socket}: {reason}")]
    Transport {
        /// The socket.
        socket: PathBuf,
        /// What failed.
        reason: String,
    },
}

/// A client of one agent's socket.
#[derive(Clone, Debug)]
pub struct Client {
    socket: PathBuf,
}

impl Client {
    /// A client of the agent listening on `socket`.
    pub fn new(socket: &Path) -> Self {
        Self {
            socket: socket.to_path_buf(),
        }
    }

    /// `GET path` (with its query), decoded from JSON.
    pub fn get<T: DeserializeOwned>(&self, path: &str) -> Result<T, ClientError> {
        self.json(Method::GET, path, None)
    }

    /// `POST path` with a JSON body, decoded from JSON.
    pub fn post<B: Serialize, T: DeserializeOwned>(
        &self,
        path: &str,
        body: &B,
    ) -> Result<T, ClientError> {
        let body = serde_json::to_vec(body).map_err(|e| self.transport(&e))?;
        self.json(Method::POST, path, Some(body))
    }

    /// `GET path` as text (for `/metrics`).
    pub fn get_text(&self, path: &str) -> Result<String, ClientError> {
        let bytes = self.call(Method::GET, path, None)?;
        Ok(String::from_utf8_lossy(&bytes).into_owned())
    }

    fn json<T: DeserializeOwned>(
        &self,
        method: Method,
        path: &str,
        body: Option<Vec<u8>>,
    ) -> Result<T, ClientError> {
        let bytes = self.call(method, path, body)?;
        serde_json::from_slice(&bytes).map_err(|e| self.transport(&e))
    }

    fn transport(&self, err: &dyn std::fmt::Display) -> ClientError {
        ClientError::Transport {
            socket: self.socket.clone(),
            reason: err.to_string(),
        }
    }

    fn call(
        &self,
        method: Method,
        path: &str,
        body: Option<Vec<u8>>,
    ) -> Result<Bytes, ClientError> {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_io()
            .build()
            .map_err(|e| self.transport(&e))?;
        runtime.block_on(self.exchange(method, path, body))
    }

    async fn exchange(
        &self,
        method: Method,
        path: &str,
        body: Option<Vec<u8>>,
    ) -> Result<Bytes, ClientError> {
        let stream = UnixStream::connect(&self.socket)
            .await
            .map_err(|e| match e.kind() {
                std::io::ErrorKind::NotFound | std::io::ErrorKind::ConnectionRefused => {
                    ClientError::NoAgent {
                        socket: self.socket.clone(),
                    }
                }
                std::io::ErrorKind::PermissionDenied => ClientError::Denied {
                    socket: self.socket.clone(),
                },
                _ => self.transport(&e),
            })?;
        let (mut sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
            .await
            .map_err(|e| self.transport(&e))?;
        let driver = tokio::spawn(conn);
        let request = Request::builder()
            .method(method)
            .uri(path)
            .header(hyper::header::HOST, "sensor")
            .header(hyper::header::CONTENT_TYPE, "application/json")
            .body(Full::new(Bytes::from(body.unwrap_or_default())))
            .map_err(|e| self.transport(&e))?;
        let response = sender
            .send_request(request)
            .await
            .map_err(|e| self.transport(&e))?;
        let status = response.status();
        let bytes = response
            .into_body()
            .collect()
            .await
            .map_err(|e| self.transport(&e))?
            .to_bytes();
        driver.abort();
        if status.is_success() {
            return Ok(bytes);
        }
        let message = serde_json::from_slice::<ErrorBody>(&bytes).map_or_else(
            |_| String::from_utf8_lossy(&bytes).trim().to_owned(),
            |b| b.error,
        );
        Err(ClientError::Agent {
            status: status.as_u16(),
            message: if message.is_empty() {
                status.canonical_reason().unwrap_or("error").to_owned()
            } else {
                message
            },
        })
    }
}

/// `path?query` with the query's fields form-encoded (absent ones left out).
pub fn with_query<Q: Serialize>(path: &str, query: &Q) -> String {
    match serde_urlencoded::to_string(query) {
        Ok(q) if !q.is_empty() => format!("{path}?{q}"),
        _ => path.to_owned(),
    }
}

/// A path segment, percent-encoded (host names may hold anything).
pub fn segment(s: &str) -> String {
    percent_encoding::utf8_percent_encode(s, percent_encoding::NON_ALPHANUMERIC).to_string()
}

/// Whether an error is the agent's 404.
pub fn is_not_found(err: &ClientError) -> bool {
    matches!(err, ClientError::Agent { status, .. } if *status == StatusCode::NOT_FOUND.as_u16())
}
