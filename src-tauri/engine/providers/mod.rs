//! Upstream providers: who they are, where they live, how they authenticate, and how their
//! model lists are discovered. Nothing here decides where a request goes.

pub mod builtin;
pub mod discovery;
pub mod endpoints;
pub mod headers;
pub mod keycheck;
pub mod kiro;
pub mod openrouter;
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

/// How a provider's model list is refreshed, and how the result merges with built-in rows.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum DiscoveryKind {
    None,
    /// `GET <base>/models`; built-in rows are kept, discovered ones added.
    OpenaiModels,
    /// `GET <base>/models`, only ids ending `:free`; replaces the built-in rows.
    OpenrouterFree,
    /// Same as `OpenrouterFree`, for KiloCode's gateway.
    KilocodeFree,
    /// `GET <base>/models`, ids ending `-free` or already in the catalog; replaces them.
    OpencodeZen,
    /// `GET <host>/api/tags` with context windows from `POST <host>/api/show`; replaces.
    OllamaTags,
}

impl DiscoveryKind {
    /// Whether a successful discovery replaces the provider's built-in rows.
    pub fn replaces_builtin_rows(self) -> bool {
        !matches!(self, Self::None | Self::OpenaiModels)
    }
}

/// Request quirks beyond the OpenAI API.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Flavor {
    #[default]
    Standard,
    /// OpenCode Zen wants `x-opencode-*` session headers.
    OpenCode,
    /// Kiro: OAuth tokens, its own request shape and an AWS event-stream answer
    /// (`providers::kiro`); the base URL is the whole endpoint.
    Kiro,
}

/// A provider's own endpoint that tells, after a 429, how much of the account's quota is left
/// (asked by `upstream::account_quota`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum QuotaCheck {
    /// OpenRouter's `GET <base>/key`.
    OpenrouterKey,
}

/// How a row can finish an answer another row started (after a stream was cut).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Deserialize, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum ContinueMode {
    /// The conversation plus the partial answer as a final `assistant` message.
    Prefill,
    /// Prefill with `"prefix": true` on that message (DeepSeek, Mistral); an echoed prefix is
    /// stripped.
    PrefixFlag,
    /// Prefill with vLLM's `continue_final_message: true` and `add_generation_prompt: false`.
    VllmContinue,
    /// The original request again; only a reply that begins with the delivered text is used.
    #[default]
    Restart,
}

impl ContinueMode {
    pub fn name(self) -> &'static str {
        match self {
            Self::Prefill => "prefill",
            Self::PrefixFlag => "prefix-flag",
            Self::VllmContinue => "vllm-continue",
            Self::Restart => "restart",
        }
    }

    pub fn is_prefill(self) -> bool {
        self != Self::Restart
    }
}

/// Documented free-tier limits; `None` where unknown.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Deserialize, serde::Serialize)]
pub struct FreeTierLimits {
    pub rpm: Option<u32>,
    pub rpd: Option<u32>,
    pub tpm: Option<u32>,
}

impl FreeTierLimits {
    /// Probes a provider with these limits may be sent per day: a tenth of a daily quota, a
    /// twentieth of a per-minute quota, or one a minute when no limit is documented.
    pub fn daily_probe_budget(&self) -> f64 {
        match (self.rpd, self.rpm) {
            (Some(rpd), _) => (f64::from(rpd) / 10.0).max(1.0),
            (None, Some(rpm)) => f64::from(rpm) * 60.0 * 24.0 / 20.0,
            (None, None) => 1440.0,
        }
    }
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
    pub flavor: Flavor,
    /// Where a user gets a key.
    pub signup_url: Option<String>,
    /// The variable that overrides the stored key.
    pub api_key_env: Option<String>,
    pub limits: FreeTierLimits,
    /// The free quota is shared by every model of the account.
    pub shared_quota: bool,
    /// Kiro's token endpoints (`Flavor::Kiro` only).
    pub token_urls: Option<kiro::TokenUrls>,
    /// Where to ask about the account's quota after a 429, when the provider has such an endpoint.
    pub quota_check: Option<QuotaCheck>,
    /// How this provider's rows finish another row's cut answer, unless a row says otherwise.
    pub continuation: ContinueMode,
    /// The stored key was entered for another host than `base_url` points at now: it is not
    /// sent until the user enters it again or confirms the move (`keyHost` in the config).
    pub key_withheld: bool,
    /// `chat_url()` parsed once (URL parsing with IDNA showed in the flame graph), with the
    /// base URL it was parsed from.
    pub parsed_chat_url: std::sync::OnceLock<(String, reqwest::Url)>,
}

impl Provider {
    /// A provider with neutral defaults: optional auth, enabled, no discovery.
    pub fn new(key: &str, name: &str, base_url: &str) -> Self {
        Self {
            key: key.into(),
            name: name.into(),
            base_url: base_url.trim_end_matches('/').into(),
            auth: AuthMode::Optional,
            enabled: true,
            priority: 0,
            discovery: DiscoveryKind::None,
            discovery_ttl_minutes: 30,
            flavor: Flavor::Standard,
            signup_url: None,
            api_key_env: None,
            limits: FreeTierLimits::default(),
            shared_quota: false,
            token_urls: None,
            quota_check: None,
            // An endpoint the user added: try a plain prefill and learn from its answers.
            continuation: ContinueMode::Prefill,
            key_withheld: false,
            parsed_chat_url: std::sync::OnceLock::new(),
        }
    }

    pub fn chat_url(&self) -> String {
        match self.flavor {
            Flavor::Kiro => self.base_url.clone(),
            _ => format!("{}/chat/completions", self.base_url),
        }
    }

    /// Whether a stored key may be sent to where this provider points now.
    pub fn may_send_key(&self) -> bool {
        !self.key_withheld
    }

    /// The chat endpoint as a parsed URL, parsed once per provider.
    pub fn chat_target(&self) -> Result<reqwest::Url, ::url::ParseError> {
        if let Some((base, url)) = self.parsed_chat_url.get() {
            if *base == self.base_url {
                return Ok(url.clone());
            }
        }
        let url = reqwest::Url::parse(&self.chat_url())?;
        let _ = self
            .parsed_chat_url
            .set((self.base_url.clone(), url.clone()));
        Ok(url)
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

/// What the provider's own model list said of a row at its last successful discovery.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Listing {
    /// No list to go by: the provider has no discovery, none succeeded yet, or the row came
    /// from the user.
    #[default]
    Unknown,
    Listed,
    /// The list no longer has this model: the row is retired until a list has it again.
    /// `last_seen` (unix ms) is when a list last had it, if one did since the start.
    NotListed {
        last_seen: Option<u64>,
    },
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
    /// Coding quality, 0..1, and where that number comes from.
    pub score: Option<f64>,
    pub score_source: Option<String>,
    /// Capability and user tags for `tag:<name>` selectors.
    pub tags: Vec<String>,
    pub limits: FreeTierLimits,
    pub origin: RowOrigin,
    /// How this row finishes another row's cut answer (the catalog's word; traffic may teach
    /// the health book better).
    pub continuation: ContinueMode,
    /// Whether the provider's model list still offers it.
    pub listing: Listing,
    /// Where a built-in row's facts were checked, or why they are an estimate (`None` for rows
    /// discovery or the user added).
    pub provenance: Option<builtin::Provenance>,
}

impl ModelRow {
    /// A row with unknown capabilities, as discovery or configuration produce them.
    pub fn new(provider: Arc<Provider>, upstream_id: &str, group: &str, origin: RowOrigin) -> Self {
        Self {
            upstream_id: upstream_id.into(),
            group: group.into(),
            name: upstream_id.into(),
            context: None,
            tools: None,
            vision: None,
            score: None,
            score_source: None,
            tags: Vec::new(),
            limits: FreeTierLimits::default(),
            continuation: provider.continuation,
            listing: Listing::Unknown,
            provenance: None,
            provider,
            origin,
        }
    }

    /// The provider's model list no longer has this row's model.
    pub fn is_unlisted(&self) -> bool {
        matches!(self.listing, Listing::NotListed { .. })
    }

    /// `provider/upstream-id`, unique in a catalog.
    pub fn row_id(&self) -> String {
        format!("{}/{}", self.provider.key, self.upstream_id)
    }

    /// Whether `id` is this row's `provider/upstream-id` (no string built).
    pub fn is_row_id(&self, id: &str) -> bool {
        id.strip_prefix(self.provider.key.as_str())
            .and_then(|rest| rest.strip_prefix('/'))
            == Some(self.upstream_id.as_str())
    }

    /// `is_row_id` with ASCII case ignored.
    pub fn is_row_id_ignoring_case(&self, id: &str) -> bool {
        let key = &self.provider.key;
        id.len() == key.len() + 1 + self.upstream_id.len()
            && id.is_char_boundary(key.len())
            && id[..key.len()].eq_ignore_ascii_case(key)
            && id[key.len()..].starts_with('/')
            && id[key.len() + 1..].eq_ignore_ascii_case(&self.upstream_id)
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
