//! Kiro (AWS CodeWhisperer's chat backend): the one upstream that does not speak OpenAI.
//! It owns the request translation, the event-stream decoding and the OAuth token cache (its
//! SDK headers are with the other providers' in `providers::headers`); `forward::kiro` wires them into an attempt. Routing never looks in here.

pub mod auth;
pub mod eventstream;
pub mod request;
pub mod response;

/// Where Kiro's access tokens come from; `providers.kiro.tokenUrl` / `oidcUrl` override them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TokenUrls {
    /// Kiro desktop auth base; refresh is `POST <desktop>/refreshToken`.
    pub desktop: String,
    /// AWS SSO OIDC base (Builder ID / IAM Identity Center); refresh is `POST <oidc>/token`.
    pub oidc: String,
}

pub const DEFAULT_DESKTOP_AUTH_URL: &str = "https://prod.us-east-1.auth.desktop.kiro.dev";
pub const DEFAULT_OIDC_URL: &str = "https://oidc.us-east-1.amazonaws.com";

impl Default for TokenUrls {
    fn default() -> Self {
        Self {
            desktop: DEFAULT_DESKTOP_AUTH_URL.into(),
            oidc: DEFAULT_OIDC_URL.into(),
        }
    }
}
