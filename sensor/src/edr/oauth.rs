//! `OAuth2` client credentials, as Falcon and Entra ID (for Microsoft Graph) issue them: a
//! token from a form post, reused until shortly before it runs out, renewed at once when
//! the API answers 401 (revoked, or the clock lied). Requests carry it as a bearer token.
//! The secret and the tokens never reach a log or an error message.

use std::{
    sync::Mutex,
    time::{Duration, Instant},
};

use serde_json::Value;

use super::poll::FetchError;

/// A token and when to stop using it.
struct Token {
    value: String,
    renew_at: Instant,
}

/// Where tokens come from and the one in use.
pub struct ClientCredentials {
    url: String,
    form: Vec<(&'static str, String)>,
    token: Mutex<Option<Token>>,
}

impl std::fmt::Debug for ClientCredentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Never the form (it holds the secret) or the token.
        f.debug_struct("ClientCredentials")
            .field("url", &self.url)
            .finish_non_exhaustive()
    }
}

/// When to renew a token that lasts `lifetime`: a minute early, or half way for short ones.
fn renew_after(lifetime: Duration) -> Duration {
    lifetime
        .checked_sub(Duration::from_mins(1))
        .filter(|early| *early > Duration::from_mins(1))
        .unwrap_or(lifetime / 2)
}

impl ClientCredentials {
    /// Tokens from a form post of `form` to `url`.
    pub fn new(url: String, form: Vec<(&'static str, String)>) -> Self {
        Self {
            url,
            form,
            token: Mutex::new(None),
        }
    }

    /// A token: the one in use unless it is due for renewal or `renew` is set.
    async fn token(&self, client: &reqwest::Client, renew: bool) -> Result<String, FetchError> {
        if !renew
            && let Ok(guard) = self.token.lock()
            && let Some(t) = guard.as_ref()
            && Instant::now() < t.renew_at
        {
            return Ok(t.value.clone());
        }
        let r = client
            .post(&self.url)
            .form(&self.form)
            .send()
            .await
            .map_err(FetchError::transport)?;
        let body = FetchError::json(r).await?;
        let value = body["access_token"]
            .as_str()
            .filter(|t| !t.is_empty())
            .ok_or_else(|| FetchError::Body("no access_token in the token answer".to_owned()))?
            .to_owned();
        let lifetime = Duration::from_secs(body["expires_in"].as_u64().unwrap_or(1799));
        if let Ok(mut guard) = self.token.lock() {
            *guard = Some(Token {
                value: value.clone(),
                renew_at: Instant::now() + renew_after(lifetime),
            });
        }
        Ok(value)
    }

    /// Sends the request `build` makes (given a token) and reads its JSON answer; on a 401
    /// renews the token and tries once more.
    pub async fn send(
        &self,
        client: &reqwest::Client,
        build: impl Fn(&str) -> reqwest::RequestBuilder,
    ) -> Result<Value, FetchError> {
        let mut renewed = false;
        loop {
            let token = self.token(client, renewed).await?;
            let r = build(&token).send().await.map_err(FetchError::transport)?;
            if r.status() == reqwest::StatusCode::UNAUTHORIZED && !renewed {
                renewed = true;
                continue;
            }
            return FetchError::json(r).await;
        }
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    #[test]
    fn tokens_are_renewed_before_they_run_out() {
        // Falcon's 30 minutes, Entra's hour: a minute early.
        assert_eq!(
            super::renew_after(Duration::from_secs(1799)),
            Duration::from_secs(1739)
        );
        assert_eq!(
            super::renew_after(Duration::from_secs(3599)),
            Duration::from_secs(3539)
        );
        // A short-lived token is not renewed on every request.
        assert_eq!(
            super::renew_after(Duration::from_secs(4)),
            Duration::from_secs(2)
        );
    }
}
