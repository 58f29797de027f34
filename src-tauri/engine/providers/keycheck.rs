//! Checking a provider key with one cheap, unbilled call (the provider's model list) before it
//! is stored. Used by `modelrelay onboard` and the page's setup flow; the key is only sent to
//! the provider's own base URL.

use std::time::Duration;

use secrecy::{ExposeSecret, SecretString};

/// The answer of one key check.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum KeyCheck {
    Valid,
    Refused(u16),
    Unverified(String),
}

/// `GET <base>/models` with the key as a bearer token.
pub async fn check_key(http: &reqwest::Client, base_url: &str, key: &SecretString) -> KeyCheck {
    let url = format!("{}/models", base_url.trim_end_matches('/'));
    match http
        .get(url)
        .bearer_auth(key.expose_secret())
        .timeout(Duration::from_secs(10))
        .send()
        .await
    {
        Ok(response) if response.status().is_success() => KeyCheck::Valid,
        Ok(response) if matches!(response.status().as_u16(), 401 | 403) => {
            KeyCheck::Refused(response.status().as_u16())
        }
        Ok(response) => KeyCheck::Unverified(format!("HTTP {}", response.status().as_u16())),
        Err(error) => KeyCheck::Unverified(super::describe_http_error(&error)),
    }
}
