//! The typed reading of the config file: what the engine acts on. Secrets are `SecretString`s,
//! so `Debug` never shows them; unknown keys are ignored here and kept by `ConfigFile`.

use std::collections::BTreeMap;
use std::time::Duration;

use secrecy::SecretString;
use serde::{Deserialize, Deserializer};
use serde_json::{Map, Value};

/// Default request body limit (the original's `10mb`).
pub const DEFAULT_MAX_BODY_BYTES: usize = 10 * 1024 * 1024;
/// Hours a row stays retired after its provider said the model is gone.
pub const DEFAULT_RETIRED_ROW_HOURS: f64 = 24.0;
/// Default number of candidates tried for one request.
pub const DEFAULT_MAX_ATTEMPTS: usize = 6;

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct Settings {
    pub api_keys: BTreeMap<String, ApiKeys>,
    pub providers: BTreeMap<String, ProviderSettings>,
    pub banned_models: Vec<String>,
    pub min_swe_score: Option<f64>,
    pub excluded_providers: Vec<String>,
    pub pinning_mode: PinningMode,
    pub auto_ping_enabled: Option<bool>,
    pub max_body_bytes: Option<usize>,
    pub max_attempts: Option<usize>,
    pub timeouts: Timeouts,
    pub model_groups: BTreeMap<String, String>,
    /// User routing tags by group slug (normalised when saved through `/api/models/tags`).
    pub model_tags: BTreeMap<String, Vec<String>>,
    /// The pinned row (persisted, unlike the original's in-memory pin).
    pub pinned: Option<Pin>,
    /// Overall time budget for trying candidates for one request.
    pub routing_deadline_ms: Option<u64>,
    /// Keep a truncated copy of prompts in the in-memory request log.
    pub log_prompts: bool,
    /// Bearer token the UI and `/api` require when bound to a non-loopback address.
    pub admin_token: Option<String>,
    /// When set, `/v1` requires this bearer token.
    pub router_api_key: Option<String>,
    /// Web origins (`https://app.example`) whose pages may call `/v1`; others are refused.
    pub allowed_origins: Vec<String>,
    pub auto_update: AutoUpdate,
    pub autostart: Autostart,
    /// Finishing a stream that broke after bytes reached the client on another row.
    pub continue_streams: ContinueStreams,
    /// Hours a row stays retired after its provider said the model is gone (default 24).
    pub retired_row_hours: Option<f64>,
    /// Team mode: the Redis that routers share what they learn through (off when absent).
    pub shared_state: SharedStateSettings,
    /// The page's first-run setup flow was finished or skipped (`/api/setup/done`).
    pub setup_completed: bool,
    /// Sending a slow request to a second row too (`forward::hedge`).
    pub hedging: Hedging,
}

/// `sharedState` in the config file. The URL's password is moved to the key store at start;
/// `Debug` never shows it.
#[derive(Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct SharedStateSettings {
    /// `redis://host:6379/0` or `rediss://…` (TLS).
    pub redis_url: Option<String>,
    /// The prefix of the team's Redis names (`modelrelay` when absent).
    pub namespace: Option<String>,
}

impl std::fmt::Debug for SharedStateSettings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SharedStateSettings")
            .field("redis_url", &self.redis_url.as_ref().map(|_| "(set)"))
            .field("namespace", &self.namespace)
            .finish()
    }
}

/// `hedging` in the config file.
#[derive(Debug, Clone, PartialEq, Deserialize, serde::Serialize)]
#[serde(rename_all = "camelCase", default)]
pub struct Hedging {
    pub enabled: bool,
    /// A request is hedged no sooner than this, whatever its row's p90.
    pub min_delay_ms: u64,
    /// Hedges may be at most this share of a provider's requests in any hour.
    pub max_share: f64,
    /// A provider whose documented daily quota is below this never gets a hedge.
    pub min_daily_quota: u32,
}

impl Default for Hedging {
    fn default() -> Self {
        Self {
            enabled: true,
            min_delay_ms: 1_000,
            max_share: 0.1,
            min_daily_quota: 500,
        }
    }
}

impl Hedging {
    pub fn min_delay(&self) -> Duration {
        Duration::from_millis(self.min_delay_ms)
    }
}

/// `continueStreams` in the config file.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, serde::Serialize)]
#[serde(rename_all = "camelCase", default)]
pub struct ContinueStreams {
    pub enabled: bool,
    /// Continuations one request may use.
    pub max: u32,
}

impl Default for ContinueStreams {
    fn default() -> Self {
        Self {
            enabled: true,
            max: 1,
        }
    }
}

impl ContinueStreams {
    /// How many continuations a request may use (none when disabled; at most 3).
    pub fn allowed(&self) -> u32 {
        if self.enabled {
            self.max.min(3)
        } else {
            0
        }
    }
}

/// `autoUpdate` in the config file; the desktop shell acts on it.
#[derive(Debug, Clone, PartialEq, Deserialize, serde::Serialize)]
#[serde(rename_all = "camelCase", default)]
pub struct AutoUpdate {
    pub enabled: bool,
    pub interval_hours: f64,
    /// Where the signed update manifest lives (`DEFAULT_UPDATE_ENDPOINT` when absent).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub endpoint: Option<String>,
}

/// The update manifest the desktop updater and `modelrelay update` read by default.
pub const DEFAULT_UPDATE_ENDPOINT: &str = "https://releases.modelrelay.dev/latest.json";

impl AutoUpdate {
    pub fn endpoint(&self) -> String {
        self.endpoint
            .clone()
            .filter(|e| !e.trim().is_empty())
            .unwrap_or_else(|| DEFAULT_UPDATE_ENDPOINT.to_string())
    }
}

impl Default for AutoUpdate {
    fn default() -> Self {
        Self {
            enabled: true,
            interval_hours: 24.0,
            endpoint: None,
        }
    }
}

/// `autostart` in the config file; the desktop shell acts on it.
#[derive(Debug, Clone, Default, PartialEq, Deserialize, serde::Serialize)]
#[serde(rename_all = "camelCase", default)]
pub struct Autostart {
    pub enabled: bool,
}

/// `pinned` in the config file: the row that was pinned and its group.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, serde::Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Pin {
    pub provider: String,
    pub model_id: String,
    pub group: String,
}

/// The default minimum coding score for `auto-*` requests (`minSweScore` overrides; 0 disables).
pub const DEFAULT_QUALITY_FLOOR: f64 = 0.3;
/// Default minutes between probes of a row that carries no traffic.
pub const DEFAULT_PING_INTERVAL_MINUTES: f64 = 10.0;

impl Settings {
    pub fn from_json(raw: &Map<String, Value>) -> Result<Self, serde_json::Error> {
        Self::deserialize(Value::Object(raw.clone()))
    }

    pub fn max_body_bytes(&self) -> usize {
        self.max_body_bytes.unwrap_or(DEFAULT_MAX_BODY_BYTES)
    }

    pub fn max_attempts(&self) -> usize {
        self.max_attempts
            .unwrap_or(DEFAULT_MAX_ATTEMPTS)
            .clamp(1, 20)
    }

    pub fn quality_floor(&self) -> Option<f64> {
        let floor = self.min_swe_score.unwrap_or(DEFAULT_QUALITY_FLOOR);
        (floor > 0.0).then_some(floor)
    }

    pub fn auto_ping_enabled(&self) -> bool {
        self.auto_ping_enabled.unwrap_or(true)
    }

    /// How long a row stays retired after its provider answered that the model is gone:
    /// `retiredRowHours`, a day by default, between a minute and thirty days.
    pub fn retire_for(&self) -> Duration {
        let hours = self
            .retired_row_hours
            .filter(|h| h.is_finite())
            .unwrap_or(DEFAULT_RETIRED_ROW_HOURS)
            .clamp(1.0 / 60.0, 720.0);
        Duration::from_secs_f64(hours * 3600.0)
    }

    pub fn routing_deadline(&self) -> Duration {
        Duration::from_millis(self.routing_deadline_ms.unwrap_or(120_000).max(1_000))
    }

    /// Minutes between probes of an idle row of `provider` (at least one).
    pub fn ping_interval(&self, provider: &str) -> Duration {
        let minutes = self
            .provider(provider)
            .and_then(|p| p.ping_interval_minutes)
            .filter(|m| m.is_finite() && *m >= 1.0)
            .unwrap_or(DEFAULT_PING_INTERVAL_MINUTES);
        Duration::from_secs_f64(minutes * 60.0)
    }

    pub fn provider(&self, key: &str) -> Option<&ProviderSettings> {
        self.providers.get(key)
    }
}

/// How a pin chooses rows: the whole model group, or one provider's row.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum PinningMode {
    #[default]
    Canonical,
    Exact,
}

/// `providers.<key>` in the config file.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct ProviderSettings {
    pub enabled: Option<bool>,
    pub name: Option<String>,
    pub base_url: Option<String>,
    pub model_id: Option<String>,
    pub discover_models: Option<bool>,
    pub ping_interval_minutes: Option<f64>,
    pub max_turns: Option<u32>,
    pub use_bearer_auth: Option<bool>,
    /// Lower is preferred; rows of equal priority are ordered by score.
    pub priority: Option<i32>,
    /// Canonical group for the configured `modelId` of an OpenAI-compatible endpoint.
    pub group: Option<String>,
    /// Kiro only: the desktop auth base (`POST <tokenUrl>/refreshToken`).
    pub token_url: Option<String>,
    /// Kiro only: the AWS SSO OIDC base (`POST <oidcUrl>/token`).
    pub oidc_url: Option<String>,
    /// How the provider's rows finish a cut answer (`prefill`, `prefix-flag`,
    /// `vllm-continue`, `restart`), overriding the catalog's word.
    pub continuation: Option<crate::engine::providers::ContinueMode>,
    /// The `host:port` the stored key was entered for; the key is not sent anywhere else.
    pub key_host: Option<String>,
}

impl ProviderSettings {
    /// Whether the key bound by `keyHost` may go to `base_url` (always, when nothing is bound).
    pub fn key_bound_elsewhere(&self, base_url: &str) -> bool {
        self.key_host.as_deref().is_some_and(|bound| {
            crate::engine::providers::url::key_host(base_url)
                .is_none_or(|host| !host.eq_ignore_ascii_case(bound))
        })
    }
}

/// Per-upstream time limits, in milliseconds in the file.
#[derive(Debug, Clone, Copy, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct Timeouts {
    /// TCP + TLS connect.
    pub connect_ms: u64,
    /// From sending the request to the first byte of the answer (headers and first chunk).
    pub first_byte_ms: u64,
    /// Longest silence between two chunks of a streamed answer.
    pub idle_ms: u64,
    /// A non-streamed answer arrives whole, so it gets a longer budget for its first byte.
    pub response_ms: u64,
}

impl Default for Timeouts {
    fn default() -> Self {
        Self {
            connect_ms: 5_000,
            first_byte_ms: 45_000,
            idle_ms: 30_000,
            response_ms: 180_000,
        }
    }
}

impl Timeouts {
    pub fn connect(&self) -> Duration {
        Duration::from_millis(self.connect_ms.max(1))
    }
    pub fn first_byte(&self) -> Duration {
        Duration::from_millis(self.first_byte_ms.max(1))
    }
    pub fn idle(&self) -> Duration {
        Duration::from_millis(self.idle_ms.max(1))
    }
    pub fn response(&self) -> Duration {
        Duration::from_millis(self.response_ms.max(1))
    }
}

/// `apiKeys.<key>`: one key, or several that are used in turn. Blank entries are dropped and
/// copy-paste debris (trailing whitespace, block characters) trimmed, as the original does.
#[derive(Clone, Default)]
pub struct ApiKeys(pub Vec<SecretString>);

impl std::fmt::Debug for ApiKeys {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "ApiKeys({} redacted)", self.0.len())
    }
}

impl ApiKeys {
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

fn clean_key(key: &str) -> Option<SecretString> {
    let trimmed =
        key.trim_matches(|c: char| c.is_whitespace() || ('\u{2580}'..='\u{259F}').contains(&c));
    (!trimmed.is_empty()).then(|| SecretString::from(trimmed.to_string()))
}

impl<'de> Deserialize<'de> for ApiKeys {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum OneOrMany {
            One(String),
            Many(Vec<String>),
            Nothing(()),
        }
        let keys = match OneOrMany::deserialize(deserializer)? {
            OneOrMany::One(key) => clean_key(&key).into_iter().collect(),
            OneOrMany::Many(keys) => keys.iter().filter_map(|k| clean_key(k)).collect(),
            OneOrMany::Nothing(()) => Vec::new(),
        };
        Ok(Self(keys))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use secrecy::ExposeSecret;
    use serde_json::json;

    fn parse(value: Value) -> Settings {
        Settings::from_json(value.as_object().unwrap()).unwrap()
    }

    #[test]
    fn keys_may_be_one_string_or_a_list_and_are_cleaned() {
        let settings =
            parse(json!({"apiKeys": {"a": "k1  \u{2588}", "b": ["x", "", " y "], "c": null}}));
        assert_eq!(settings.api_keys["a"].0[0].expose_secret(), "k1");
        let b: Vec<_> = settings.api_keys["b"]
            .0
            .iter()
            .map(|k| k.expose_secret().to_string())
            .collect();
        assert_eq!(b, ["x", "y"]);
        assert!(settings.api_keys["c"].is_empty());
    }

    #[test]
    fn debug_output_never_shows_a_key() {
        let settings = parse(json!({"apiKeys": {"groq": "gsk_secret_value"}}));
        assert!(!format!("{settings:?}").contains("gsk_secret_value"));
    }

    #[test]
    fn defaults_apply_when_fields_are_absent() {
        let settings = parse(json!({}));
        assert_eq!(settings.max_body_bytes(), DEFAULT_MAX_BODY_BYTES);
        assert_eq!(settings.max_attempts(), DEFAULT_MAX_ATTEMPTS);
        assert_eq!(settings.pinning_mode, PinningMode::Canonical);
        assert_eq!(settings.timeouts.first_byte_ms, 45_000);
        assert_eq!(settings.hedging, Hedging::default());
        assert!(settings.hedging.enabled);
        assert_eq!(settings.hedging.min_delay(), Duration::from_secs(1));
    }

    #[test]
    fn hedging_reads_camel_case_and_keeps_defaults_for_missing_parts() {
        let settings = parse(json!({"hedging": {"minDelayMs": 50, "maxShare": 0.25}}));
        assert_eq!(
            settings.hedging,
            Hedging {
                enabled: true,
                min_delay_ms: 50,
                max_share: 0.25,
                min_daily_quota: 500,
            }
        );
    }

    #[test]
    fn a_gone_model_is_retired_for_a_day_unless_configured() {
        assert_eq!(
            parse(json!({})).retire_for(),
            Duration::from_secs(24 * 3600)
        );
        assert_eq!(
            parse(json!({"retiredRowHours": 2})).retire_for(),
            Duration::from_secs(7200)
        );
        assert_eq!(
            parse(json!({"retiredRowHours": 0})).retire_for(),
            Duration::from_secs(60)
        );
    }

    #[test]
    fn unknown_fields_are_ignored() {
        let settings = parse(json!({"somethingNew": 1, "providers": {"x": {"newField": true}}}));
        assert!(settings.providers.contains_key("x"));
    }
}
