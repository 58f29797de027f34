//! Kiro access tokens: exchanged for a refresh token (Builder ID / IDC OIDC flow when a client
//! id and secret are set, Kiro's desktop endpoint otherwise) and cached until 60 s before they
//! expire. Tokens stay `SecretString`s and are never logged.

use std::collections::HashMap;
use std::path::Path;
use std::sync::Mutex;
use std::time::Duration;

use secrecy::{ExposeSecret, SecretString};
use serde_json::{json, Value};
use tokio::time::Instant;

use super::TokenUrls;
use crate::engine::providers::describe_http_error;

/// A token is replaced this long before it expires.
const EXPIRY_MARGIN: Duration = Duration::from_secs(60);
/// When the token endpoint does not say how long a token lives.
const DEFAULT_LIFETIME: Duration = Duration::from_secs(50 * 60 + 60);
/// Refresh tokens Kiro issues start with this (AWS SSO cache discovery).
const REFRESH_TOKEN_PREFIX: &str = "aorAAAAAG";

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AuthError {
    #[error("the Kiro token endpoint could not be reached: {0}")]
    Transport(String),
    #[error("the Kiro token endpoint answered HTTP {0}: check `KIRO_REFRESH_TOKEN` (or sign in to Kiro again)")]
    Status(u16),
    #[error("the Kiro token endpoint answered without an `accessToken`")]
    Body,
}

/// An access token ready to send, and whether it was just exchanged.
#[derive(Clone)]
pub struct AccessToken {
    pub token: SecretString,
    pub profile_arn: Option<String>,
    /// Just fetched: a 401/403 with it is not worth another refresh.
    pub fresh: bool,
}

struct Cached {
    token: SecretString,
    profile_arn: Option<String>,
    until: Instant,
}

/// The engine's Kiro token cache, keyed by (a hash of) the refresh token.
pub struct KiroAuth {
    client_id: Option<String>,
    client_secret: Option<SecretString>,
    cache: Mutex<HashMap<String, Cached>>,
}

impl std::fmt::Debug for KiroAuth {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KiroAuth")
            .field("oidc_client", &self.client_id.is_some())
            .finish()
    }
}

fn cache_key(refresh: &SecretString) -> String {
    sha1_smol::Sha1::from(refresh.expose_secret().as_bytes())
        .digest()
        .to_string()
}

impl KiroAuth {
    /// `client_id` and `client_secret` (both) select the OIDC refresh flow.
    pub fn new(client_id: Option<String>, client_secret: Option<SecretString>) -> Self {
        Self {
            client_id,
            client_secret,
            cache: Mutex::default(),
        }
    }

    /// A cached token still valid at `now`, else a newly exchanged one.
    pub async fn access_token(
        &self,
        http: &reqwest::Client,
        urls: &TokenUrls,
        refresh: &SecretString,
        now: Instant,
    ) -> Result<AccessToken, AuthError> {
        let key = cache_key(refresh);
        {
            let cache = self.cache.lock().unwrap_or_else(|e| e.into_inner());
            if let Some(cached) = cache.get(&key).filter(|c| c.until > now) {
                return Ok(AccessToken {
                    token: cached.token.clone(),
                    profile_arn: cached.profile_arn.clone(),
                    fresh: false,
                });
            }
        }
        let (token, profile_arn, lifetime) = self.exchange(http, urls, refresh).await?;
        let until = Instant::now() + lifetime.saturating_sub(EXPIRY_MARGIN);
        self.cache.lock().unwrap_or_else(|e| e.into_inner()).insert(
            key,
            Cached {
                token: token.clone(),
                profile_arn: profile_arn.clone(),
                until,
            },
        );
        Ok(AccessToken {
            token,
            profile_arn,
            fresh: true,
        })
    }

    /// Drops the cached token of `refresh` (Kiro refused it).
    pub fn forget(&self, refresh: &SecretString) {
        self.cache
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .remove(&cache_key(refresh));
    }

    async fn exchange(
        &self,
        http: &reqwest::Client,
        urls: &TokenUrls,
        refresh: &SecretString,
    ) -> Result<(SecretString, Option<String>, Duration), AuthError> {
        let request = match (&self.client_id, &self.client_secret) {
            (Some(id), Some(secret)) => http
                .post(format!("{}/token", urls.oidc.trim_end_matches('/')))
                .json(&json!({
                    "clientId": id,
                    "clientSecret": secret.expose_secret(),
                    "refreshToken": refresh.expose_secret(),
                    "grantType": "refresh_token",
                })),
            _ => http
                .post(format!(
                    "{}/refreshToken",
                    urls.desktop.trim_end_matches('/')
                ))
                .json(&json!({"refreshToken": refresh.expose_secret()})),
        };
        let response = request
            .timeout(Duration::from_secs(20))
            .send()
            .await
            .map_err(|e| AuthError::Transport(describe_http_error(&e)))?;
        if !response.status().is_success() {
            return Err(AuthError::Status(response.status().as_u16()));
        }
        let body: Value = response.json().await.map_err(|_| AuthError::Body)?;
        let token = body["accessToken"].as_str().ok_or(AuthError::Body)?;
        let lifetime = body["expiresIn"]
            .as_u64()
            .map(Duration::from_secs)
            .unwrap_or(DEFAULT_LIFETIME);
        Ok((
            SecretString::from(token.to_string()),
            body["profileArn"].as_str().map(str::to_string),
            lifetime,
        ))
    }
}

/// The first Kiro refresh token in an AWS SSO cache directory (`~/.aws/sso/cache`).
pub fn sso_cache_refresh_token(dir: &Path) -> Option<SecretString> {
    let mut files: Vec<_> = std::fs::read_dir(dir)
        .ok()?
        .filter_map(Result::ok)
        .map(|entry| entry.path())
        .filter(|path| path.extension().is_some_and(|ext| ext == "json"))
        .collect();
    files.sort();
    files.into_iter().find_map(|path| {
        let text = std::fs::read_to_string(path).ok()?;
        let value: Value = serde_json::from_str(&text).ok()?;
        let token = value["refreshToken"].as_str()?;
        token
            .starts_with(REFRESH_TOKEN_PREFIX)
            .then(|| SecretString::from(token.to_string()))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_sso_cache_yields_the_first_kiro_refresh_token() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("a.json"), r#"{"refreshToken":"other"}"#).unwrap();
        std::fs::write(
            dir.path().join("b.json"),
            r#"{"refreshToken":"aorAAAAAGxyz"}"#,
        )
        .unwrap();
        std::fs::write(
            dir.path().join("c.txt"),
            r#"{"refreshToken":"aorAAAAAGno"}"#,
        )
        .unwrap();
        let token = sso_cache_refresh_token(dir.path()).unwrap();
        assert_eq!(token.expose_secret(), "aorAAAAAGxyz");
        assert!(sso_cache_refresh_token(&dir.path().join("missing")).is_none());
    }

    #[test]
    fn debug_output_shows_no_secret() {
        let auth = KiroAuth::new(Some("id".into()), Some(SecretString::from("hush")));
        assert!(!format!("{auth:?}").contains("hush"));
    }
}
