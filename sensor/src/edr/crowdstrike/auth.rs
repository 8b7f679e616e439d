//! Falcon's `OAuth2` token: `POST <base>/oauth2/token` with the API client's id and secret;
//! tokens last 30 minutes.

use crate::edr::oauth::ClientCredentials;

/// Tokens for the API client `client_id` of the region at `base`.
pub fn credentials(base: &str, client_id: &str, secret: &str) -> ClientCredentials {
    ClientCredentials::new(
        format!("{base}/oauth2/token"),
        vec![
            ("client_id", client_id.trim().to_owned()),
            ("client_secret", secret.trim().to_owned()),
        ],
    )
}
