//! SentinelOne's auth: a console service-user token sent as `Authorization: ApiToken
//! <token>`. There is no refresh: a 401 means the token must be replaced.

use reqwest::header::HeaderValue;

/// The header value, marked sensitive so that no debug output shows it.
pub fn header(token: &str) -> Result<HeaderValue, String> {
    let mut value = HeaderValue::from_str(&format!("ApiToken {}", token.trim()))
        .map_err(|_| "the API token holds characters a header cannot".to_owned())?;
    value.set_sensitive(true);
    Ok(value)
}
