//! Entra ID client credentials for Graph: `POST <login>/<tenant>/oauth2/v2.0/token` with
//! `grant_type=client_credentials` and the scope `<graph>/.default` (so a national cloud's
//! Graph gets a token for itself). Tokens last about an hour. The app needs
//! `SecurityAlert.Read.All`, and `ThreatHunting.Read.All` for host enrichment.

use crate::edr::oauth::ClientCredentials;

/// Tokens for the app `client_id` of `tenant`, from the authority at `login`, for the Graph
/// at `graph`.
pub fn credentials(
    login: &str,
    tenant: &str,
    graph: &str,
    client_id: &str,
    secret: &str,
) -> ClientCredentials {
    ClientCredentials::new(
        format!(
            "{}/{}/oauth2/v2.0/token",
            login.trim_end_matches('/'),
            tenant.trim()
        ),
        vec![
            ("grant_type", "client_credentials".to_owned()),
            ("client_id", client_id.trim().to_owned()),
            ("client_secret", secret.trim().to_owned()),
            ("scope", format!("{graph}/.default")),
        ],
    )
}
