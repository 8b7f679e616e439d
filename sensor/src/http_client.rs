//! The one way the agent builds an outbound HTTPS client: TLS always verified against the
//! system's roots, plus an optional PEM file of extra roots (a private CA, a test CA).

use std::{path::Path, time::Duration};

/// A client with `timeout`, trusting the system roots and those in `ca_file`.
pub fn build(ca_file: Option<&Path>, timeout: Duration) -> Result<reqwest::Client, String> {
    let mut builder = reqwest::Client::builder()
        .timeout(timeout)
        .user_agent(concat!("sensor/", env!("CARGO_PKG_VERSION")));
    if let Some(ca) = ca_file {
        let pem = std::fs::read(ca)
            .map_err(|e| format!("failed to read ca_file {}: {e}", ca.display()))?;
        let cert = reqwest::Certificate::from_pem(&pem)
            .map_err(|e| format!("ca_file {} is not PEM: {e}", ca.display()))?;
        builder = builder.add_root_certificate(cert);
    }
    builder
        .build()
        .map_err(|e| format!("failed to build the HTTP client: {e}"))
}

/// An error and its causes on one line (reqwest's top line rarely says why).
pub fn chain(err: &(dyn std::error::Error + 'static)) -> String {
    let mut out = err.to_string();
    let mut source = err.source();
    while let Some(s) = source {
        out = format!("{out}: {s}");
        source = s.source();
    }
    out
}
