//! Upstream providers: who they are, where they live, how they authenticate, and how their
//! model lists are discovered. Nothing here decides where a request goes.

pub mod discovery;
pub mod endpoints;
pub mod url;

use std::sync::Arc;

/// How a provider wants to be authenticated.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AuthMode {
    /// Bearer key required; without one the provider is listed but never called.
    Required,
    /// Bearer sent when a key is set; works without.
    Optional,
}

/// How a provider's model list is refreshed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DiscoveryKind {
    None,
    /// `GET <base>/models`, the OpenAI list shape.
    OpenAiModels,
}

/// One upstream account: a built-in provider or a user's OpenAI-compatible endpoint.
#[derive(Debug, Clone, PartialEq)]
pub struct Provider {
    /// Config key: `groq`, `openai-compatible:my-vllm`.
    pub key: String,
    pub name: String,
    /// Normalised base URL without a trailing slash; chat is `<base>/chat/completions`.
    pub base_url: String,
    pub auth: AuthMode,
    pub enabled: bool,
    /// Lower is preferred (config `providers.<key>.priority`, default 0).
    pub priority: i32,
    pub discovery: DiscoveryKind,
    /// Minutes between two discoveries when the last one succeeded.
    pub discovery_ttl_minutes: u64,
}

impl Provider {
    pub fn chat_url(&self) -> String {
        format!("{}/chat/completions", self.base_url)
    }

    pub fn models_url(&self) -> String {
        format!("{}/models", self.base_url)
    }
}

/// Where a row of the catalog came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum RowOrigin {
    /// The built-in catalog.
    Builtin,
    /// A model id the user configured.
    Configured,
    /// Returned by the provider's model list.
    Discovered,
}

/// One model served by one provider: the unit the router ranks and calls.
#[derive(Debug, Clone, PartialEq)]
pub struct ModelRow {
    pub provider: Arc<Provider>,
    /// The exact id sent upstream.
    pub upstream_id: String,
    /// Canonical group slug shared by the same model on every provider.
    pub group: String,
    pub name: String,
    pub context: Option<u32>,
    pub tools: Option<bool>,
    pub vision: Option<bool>,
    /// Coding quality, 0..1.
    pub score: Option<f64>,
    /// Capability and user tags for `tag:<name>` selectors.
    pub tags: Vec<String>,
    pub origin: RowOrigin,
}

impl ModelRow {
    /// `provider/upstream-id`, unique in a catalog.
    pub fn row_id(&self) -> String {
        format!("{}/{}", self.provider.key, self.upstream_id)
    }
}

/// A short, key-free description of a transport error (reqwest's own text repeats the URL).
pub fn describe_http_error(error: &reqwest::Error) -> String {
    let kind = if error.is_timeout() {
        "timed out"
    } else if error.is_connect() {
        "connection failed"
    } else if error.is_decode() || error.is_body() {
        "the body could not be read"
    } else {
        "request failed"
    };
    let mut message = kind.to_string();
    let mut source = std::error::Error::source(error);
    while let Some(cause) = source {
        message.push_str(": ");
        message.push_str(&cause.to_string());
        source = cause.source();
    }
    message
}
