//! Kiro (AWS CodeWhisperer's chat backend): the one upstream that does not speak OpenAI.
//! It owns the request translation, the event-stream decoding, the OAuth token cache and the
//! SDK headers; `forward::kiro` wires them into an attempt. Routing never looks in here.

pub mod auth;
pub mod eventstream;
pub mod request;
pub mod response;

use http::{HeaderName, HeaderValue};

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

/// The AWS SDK headers Kiro's IDE sends (besides the bearer token).
pub fn sdk_headers() -> Vec<(HeaderName, HeaderValue)> {
    let invocation = uuid::Uuid::new_v4().to_string();
    [
        ("accept", "application/vnd.amazon.eventstream"),
        (
            "x-amz-target",
            "AmazonCodeWhispererStreamingService.GenerateAssistantResponse",
        ),
        ("user-agent", "AWS-SDK-JS/3.0.0 kiro-ide/1.0.0"),
        ("x-amz-user-agent", "aws-sdk-js/3.0.0 kiro-ide/1.0.0"),
        ("amz-sdk-request", "attempt=1; max=3"),
        ("amz-sdk-invocation-id", invocation.as_str()),
        ("x-amzn-bedrock-cache-control", "enable"),
        ("anthropic-beta", "prompt-caching-2024-07-31"),
    ]
    .into_iter()
    .filter_map(super::headers::header_pair)
    .collect()
}
