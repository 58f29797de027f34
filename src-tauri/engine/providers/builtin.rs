//! The built-in catalog: providers, model rows and id aliases, compiled in from
//! `src-tauri/catalog/*.toml` (edit those files, not this one).

use std::collections::{BTreeMap, HashMap};

use serde::{Deserialize, Serialize};

use crate::engine::catalog::slug::normalize_model_id;
use crate::engine::config::{EnvOverrides, Settings};

use super::kiro::TokenUrls;
use super::url::{is_loopback_url, normalize_base_url};
use super::{AuthMode, ContinueMode, DiscoveryKind, Flavor, FreeTierLimits, Provider, QuotaCheck};

const PROVIDERS_TOML: &str = include_str!("../../catalog/providers.toml");
const MODELS_TOML: &str = include_str!("../../catalog/models.toml");
const ALIASES_TOML: &str = include_str!("../../catalog/aliases.toml");

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum SpecAuth {
    Required,
    Optional,
    /// Optional when the base URL is on this machine (local Ollama), required otherwise.
    LocalOptional,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ProviderSpec {
    pub key: String,
    pub name: String,
    pub base_url: String,
    pub api_key_env: Option<String>,
    pub auth: SpecAuth,
    pub discovery: DiscoveryKind,
    pub discovery_ttl_minutes: Option<u64>,
    pub enabled_by_default: Option<bool>,
    pub signup_url: Option<String>,
    pub rpm: Option<u32>,
    pub rpd: Option<u32>,
    pub tpm: Option<u32>,
    pub shared_quota: Option<bool>,
    /// Request quirks beyond the OpenAI API (`opencode`, `kiro`); standard when absent.
    #[serde(default)]
    pub flavor: Flavor,
    /// The provider's endpoint to ask about its quota after a 429 (`openrouter-key`).
    pub quota_check: Option<QuotaCheck>,
    /// How its rows finish a cut answer (`prefill`, `prefix-flag`, `vllm-continue`,
    /// `restart`); `restart` unless the provider is documented to continue.
    #[serde(default)]
    pub continuation: ContinueMode,
    pub notes: Option<String>,
}

/// The `score_source` values a row may carry (docs/CATALOG.md says what each means).
pub const SCORE_SOURCES: [&str; 4] = [
    // The original v1.22's offline score (scores.js) for this very id.
    "original-offline-table",
    // The original's score for the same model under another provider's id.
    "original-offline-table-same-model",
    // A published SWE-bench Verified resolve rate.
    "swe-bench-verified",
    // Our own estimate.
    "estimate",
];

/// Where a row's facts come from: checked against named sources (keys of `[sources]` in
/// models.toml) on a date, or an estimate with the reason it could not be checked.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "kind", rename_all = "camelCase")]
pub enum Provenance {
    Verified { date: String, sources: Vec<String> },
    Estimate { reason: String },
}

#[derive(Debug, Clone, Deserialize)]
#[serde(try_from = "ModelTable")]
pub struct ModelSpec {
    pub provider: String,
    pub id: String,
    pub group: String,
    pub name: String,
    pub context: Option<u32>,
    pub tools: Option<bool>,
    pub vision: Option<bool>,
    pub score: Option<f64>,
    /// One of [`SCORE_SOURCES`]; present exactly when `score` is.
    pub score_source: Option<String>,
    pub tags: Vec<String>,
    pub rpm: Option<u32>,
    pub rpd: Option<u32>,
    pub tpm: Option<u32>,
    /// Overrides the provider's `continuation` for this model.
    pub continuation: Option<ContinueMode>,
    pub provenance: Provenance,
}

/// A `[[model]]` table as written; [`ModelSpec`] is it checked.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ModelTable {
    provider: String,
    id: String,
    group: String,
    name: String,
    context: Option<u32>,
    tools: Option<bool>,
    vision: Option<bool>,
    score: Option<f64>,
    score_source: Option<String>,
    #[serde(default)]
    tags: Vec<String>,
    rpm: Option<u32>,
    rpd: Option<u32>,
    tpm: Option<u32>,
    continuation: Option<ContinueMode>,
    verified: Option<VerifiedTable>,
    estimate: Option<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct VerifiedTable {
    /// A TOML local date (`2026-12-08`, unquoted).
    date: toml::value::Datetime,
    sources: Vec<String>,
}

impl TryFrom<ModelTable> for ModelSpec {
    type Error = String;

    fn try_from(row: ModelTable) -> Result<Self, String> {
        let at = format!("row {}/{}", row.provider, row.id);
        let provenance = match (row.verified, row.estimate) {
            (Some(verified), None) => {
                let date_only = verified.date.date.is_some()
                    && verified.date.time.is_none()
                    && verified.date.offset.is_none();
                if !date_only {
                    return Err(format!("{at}: `verified.date` must be a date (YYYY-MM-DD)"));
                }
                if verified.sources.is_empty() {
                    return Err(format!("{at}: `verified.sources` names no source"));
                }
                Provenance::Verified {
                    date: verified.date.to_string(),
                    sources: verified.sources,
                }
            }
            (None, Some(reason)) if !reason.trim().is_empty() => Provenance::Estimate { reason },
            (None, Some(_)) => return Err(format!("{at}: `estimate` must give its reason")),
            (None, None) => {
                return Err(format!(
                    "{at} has neither `verified` (date and sources) nor `estimate` (reason)"
                ))
            }
            (Some(_), Some(_)) => {
                return Err(format!("{at} has both `verified` and `estimate`"));
            }
        };
        match (row.score, row.score_source.as_deref()) {
            (Some(_), None) => return Err(format!("{at} has a score without a score_source")),
            (None, Some(_)) => return Err(format!("{at} has a score_source without a score")),
            (Some(_), Some(source)) if !SCORE_SOURCES.contains(&source) => {
                return Err(format!(
                    "{at}: unknown score_source `{source}` (one of {SCORE_SOURCES:?})"
                ))
            }
            (Some(_), Some("estimate")) if matches!(provenance, Provenance::Verified { .. }) => {
                return Err(format!("{at}: an estimated score cannot be `verified`"))
            }
            _ => {}
        }
        Ok(Self {
            provider: row.provider,
            id: row.id,
            group: row.group,
            name: row.name,
            context: row.context,
            tools: row.tools,
            vision: row.vision,
            score: row.score,
            score_source: row.score_source,
            tags: row.tags,
            rpm: row.rpm,
            rpd: row.rpd,
            tpm: row.tpm,
            continuation: row.continuation,
            provenance,
        })
    }
}

impl ModelSpec {
    pub fn limits(&self) -> FreeTierLimits {
        FreeTierLimits {
            rpm: self.rpm,
            rpd: self.rpd,
            tpm: self.tpm,
        }
    }
}

#[derive(Deserialize)]
struct ProvidersFile {
    provider: Vec<ProviderSpec>,
}

#[derive(Deserialize)]
struct ModelsFile {
    /// What a `verified.sources` key names.
    sources: BTreeMap<String, String>,
    model: Vec<ModelSpec>,
}

#[derive(Deserialize)]
struct AliasesFile {
    aliases: HashMap<String, String>,
}

/// The parsed built-in catalog.
#[derive(Debug, Clone)]
pub struct BuiltinCatalog {
    pub providers: Vec<ProviderSpec>,
    pub models: Vec<ModelSpec>,
    /// `verified.sources` key → what that source is.
    pub sources: BTreeMap<String, String>,
    pub aliases: HashMap<String, String>,
}

#[derive(Debug, thiserror::Error)]
#[error("the built-in catalog file `{file}` is invalid: {source}")]
pub struct CatalogDataError {
    file: &'static str,
    source: toml::de::Error,
}

/// The key aliases are looked up by: the normalised id without an OpenCode `-free` suffix.
pub fn alias_key(id: &str) -> String {
    let normalized = normalize_model_id(id);
    normalized
        .strip_suffix("-free")
        .map(str::to_string)
        .unwrap_or(normalized)
}

impl BuiltinCatalog {
    pub fn load() -> Result<Self, CatalogDataError> {
        let parse_error = |file| move |source| CatalogDataError { file, source };
        let providers: ProvidersFile =
            toml::from_str(PROVIDERS_TOML).map_err(parse_error("providers.toml"))?;
        let models: ModelsFile = toml::from_str(MODELS_TOML).map_err(parse_error("models.toml"))?;
        let aliases: AliasesFile =
            toml::from_str(ALIASES_TOML).map_err(parse_error("aliases.toml"))?;
        Ok(Self {
            providers: providers.provider,
            models: models.model,
            sources: models.sources,
            aliases: aliases.aliases,
        })
    }

    /// The group a provider's spelling of a model id belongs to.
    pub fn group_for(&self, id: &str) -> String {
        let key = alias_key(id);
        self.aliases
            .get(&key)
            .cloned()
            .unwrap_or_else(|| normalize_model_id(id))
    }

    /// `(provider key, env variable)` for every provider whose key an env var can override.
    pub fn key_variables(&self) -> Vec<(&str, &str)> {
        self.providers
            .iter()
            .filter_map(|p| p.api_key_env.as_deref().map(|var| (p.key.as_str(), var)))
            .collect()
    }

    pub fn models_of<'a>(&'a self, provider: &'a str) -> impl Iterator<Item = &'a ModelSpec> + 'a {
        self.models.iter().filter(move |m| m.provider == provider)
    }
}

/// The provider as configured: built-in facts with the user's overrides applied.
pub fn configured_provider(
    spec: &ProviderSpec,
    settings: &Settings,
    env: &EnvOverrides,
) -> Provider {
    let stored = settings.provider(&spec.key).cloned().unwrap_or_default();
    let base_url = env
        .base_urls
        .get(&spec.key)
        .or(stored.base_url.as_ref())
        .filter(|url| !url.trim().is_empty())
        .map(|url| {
            // Kiro's base URL is a whole endpoint, not an OpenAI base.
            if spec.flavor == Flavor::Kiro {
                url.trim().trim_end_matches('/').to_string()
            } else {
                normalize_base_url(url)
            }
        })
        .unwrap_or_else(|| spec.base_url.trim_end_matches('/').to_string());
    let auth = match spec.auth {
        SpecAuth::Required => AuthMode::Required,
        SpecAuth::Optional => AuthMode::Optional,
        SpecAuth::LocalOptional if is_loopback_url(&base_url) => AuthMode::Optional,
        SpecAuth::LocalOptional => AuthMode::Required,
    };
    let key_withheld = stored.key_bound_elsewhere(&base_url);
    Provider {
        key: spec.key.clone(),
        name: spec.name.clone(),
        base_url,
        auth,
        enabled: stored
            .enabled
            .unwrap_or(spec.enabled_by_default.unwrap_or(true)),
        priority: stored.priority.unwrap_or(0),
        discovery: spec.discovery,
        discovery_ttl_minutes: spec.discovery_ttl_minutes.unwrap_or(30),
        flavor: spec.flavor,
        quota_check: spec.quota_check,
        continuation: stored.continuation.unwrap_or(spec.continuation),
        key_withheld,
        parsed_chat_url: std::sync::OnceLock::new(),
        signup_url: spec.signup_url.clone(),
        api_key_env: spec.api_key_env.clone(),
        limits: FreeTierLimits {
            rpm: spec.rpm,
            rpd: spec.rpd,
            tpm: spec.tpm,
        },
        shared_quota: spec.shared_quota.unwrap_or(false),
        token_urls: (spec.flavor == Flavor::Kiro).then(|| {
            let defaults = TokenUrls::default();
            let pick = |url: &Option<String>, default: String| {
                url.as_deref()
                    .map(str::trim)
                    .filter(|u| !u.is_empty())
                    .map(str::to_string)
                    .unwrap_or(default)
            };
            TokenUrls {
                desktop: pick(&stored.token_url, defaults.desktop),
                oidc: pick(&stored.oidc_url, defaults.oidc),
            }
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::catalog::slug::is_valid_slug;
    use std::collections::{BTreeMap, HashSet};

    fn catalog() -> BuiltinCatalog {
        BuiltinCatalog::load().unwrap()
    }

    #[test]
    fn the_catalog_has_every_seed_provider_and_enough_rows() {
        let catalog = catalog();
        let keys: Vec<&str> = catalog.providers.iter().map(|p| p.key.as_str()).collect();
        for key in [
            "nvidia",
            "groq",
            "cerebras",
            "sambanova",
            "openrouter",
            "opencode",
            "ollama",
            "codestral",
            "hyperbolic",
            "scaleway",
            "googleai",
            "kilocode",
        ] {
            assert!(keys.contains(&key), "missing provider {key}");
        }
        assert!(
            catalog.models.len() >= 80,
            "only {} rows",
            catalog.models.len()
        );
    }

    #[test]
    fn rows_are_unique_and_belong_to_known_providers() {
        let catalog = catalog();
        let providers: HashSet<&str> = catalog.providers.iter().map(|p| p.key.as_str()).collect();
        let mut seen = HashSet::new();
        for model in &catalog.models {
            assert!(
                providers.contains(model.provider.as_str()),
                "{} has unknown provider",
                model.id
            );
            assert!(
                seen.insert((&model.provider, &model.id)),
                "duplicate row {}/{}",
                model.provider,
                model.id
            );
            assert!(is_valid_slug(&model.group), "bad slug {}", model.group);
            if let Some(score) = model.score {
                assert!((0.0..=1.0).contains(&score), "{} score {score}", model.id);
                assert!(
                    model.score_source.is_some(),
                    "{} has a score without a source",
                    model.id
                );
            }
        }
    }

    /// Parses one `[[model]]` table (plus `extra` lines) the way the catalog does.
    fn parse_row(extra: &str) -> Result<ModelSpec, String> {
        let text = format!(
            "[sources]\n\n[[model]]\nprovider = \"p\"\nid = \"m\"\ngroup = \"m\"\nname = \"M\"\n{extra}"
        );
        toml::from_str::<ModelsFile>(&text)
            .map(|mut file| file.model.remove(0))
            .map_err(|e| e.to_string())
    }

    #[test]
    fn a_row_needs_verified_or_estimate_but_not_both() {
        let verified = "verified = { date = 2026-12-08, sources = [\"s\"] }";
        let estimate = "estimate = \"unchecked\"";
        let neither = parse_row("").unwrap_err();
        assert!(
            neither.contains("row p/m has neither `verified`"),
            "{neither}"
        );
        let both = parse_row(&format!("{verified}\n{estimate}")).unwrap_err();
        assert!(both.contains("both `verified` and `estimate`"), "{both}");
        assert!(parse_row("estimate = \" \"")
            .unwrap_err()
            .contains("reason"));
        let datetime = parse_row("verified = { date = 2026-12-08T10:00:00Z, sources = [\"s\"] }");
        assert!(datetime.unwrap_err().contains("must be a date"));
        let no_source = parse_row("verified = { date = 2026-12-08, sources = [] }");
        assert!(no_source.unwrap_err().contains("names no source"));
        assert_eq!(
            parse_row(verified).unwrap().provenance,
            Provenance::Verified {
                date: "2026-12-08".into(),
                sources: vec!["s".into()]
            }
        );
        assert_eq!(
            parse_row(estimate).unwrap().provenance,
            Provenance::Estimate {
                reason: "unchecked".into()
            }
        );
    }

    #[test]
    fn a_score_names_a_known_source_and_an_estimated_score_is_not_verified() {
        let estimate = "estimate = \"unchecked\"";
        let bare = parse_row(&format!("score = 0.5\n{estimate}")).unwrap_err();
        assert!(bare.contains("score without a score_source"), "{bare}");
        let unknown = parse_row(&format!(
            "score = 0.5\nscore_source = \"vibes\"\n{estimate}"
        ));
        assert!(unknown
            .unwrap_err()
            .contains("unknown score_source `vibes`"));
        let orphan = parse_row(&format!("score_source = \"estimate\"\n{estimate}"));
        assert!(orphan.unwrap_err().contains("without a score"));
        let guessed = "score = 0.5\nscore_source = \"estimate\"";
        let verified = "verified = { date = 2026-12-08, sources = [\"s\"] }";
        let claimed = parse_row(&format!("{guessed}\n{verified}")).unwrap_err();
        assert!(
            claimed.contains("estimated score cannot be `verified`"),
            "{claimed}"
        );
        assert!(parse_row(&format!("{guessed}\n{estimate}")).is_ok());
    }

    #[test]
    fn every_row_is_verified_against_known_sources_or_an_estimate() {
        let catalog = catalog();
        let mut verified = 0;
        for model in &catalog.models {
            match &model.provenance {
                Provenance::Verified { date, sources } => {
                    verified += 1;
                    assert_eq!(
                        date.len(),
                        10,
                        "{}/{} date {date}",
                        model.provider,
                        model.id
                    );
                    for source in sources {
                        assert!(
                            catalog.sources.contains_key(source),
                            "{}/{} cites unknown source {source}",
                            model.provider,
                            model.id
                        );
                    }
                }
                Provenance::Estimate { reason } => {
                    assert!(!reason.trim().is_empty(), "{}/{}", model.provider, model.id)
                }
            }
        }
        // The original's rows are checked against it; an estimate is the exception.
        assert!(verified * 2 > catalog.models.len(), "{verified} verified");
    }

    #[test]
    fn every_group_slug_resolves_to_itself_by_an_identity_alias() {
        let catalog = catalog();
        for model in &catalog.models {
            assert_eq!(
                catalog.aliases.get(&model.group),
                Some(&model.group),
                "aliases.toml has no identity entry for {}",
                model.group
            );
        }
    }

    #[test]
    fn provider_ids_have_the_provider_spelling() {
        let catalog = catalog();
        // OpenRouter ids are `vendor/model`; bare ids (corethink:free) are KiloCode's gateway.
        for model in catalog.models_of("openrouter") {
            assert!(
                model.id.contains('/'),
                "{} is not an OpenRouter id",
                model.id
            );
        }
        // Groq serves Llama 4 as `-instruct`; `-preview` ids are gone.
        for model in catalog.models_of("groq") {
            assert!(!model.id.ends_with("-preview"), "{}", model.id);
        }
    }

    #[test]
    fn every_provider_has_a_row_or_a_discovery_path() {
        let catalog = catalog();
        for provider in &catalog.providers {
            let rows = catalog.models_of(&provider.key).count();
            assert!(
                rows > 0 || provider.discovery != DiscoveryKind::None,
                "{} has no models",
                provider.key
            );
        }
    }

    #[test]
    fn no_slug_names_two_different_models() {
        // One group shares one display name: two names under one slug would mean two models.
        let catalog = catalog();
        let mut names: BTreeMap<&str, HashSet<String>> = BTreeMap::new();
        for model in &catalog.models {
            names
                .entry(&model.group)
                .or_default()
                .insert(model.name.to_ascii_lowercase());
        }
        for (slug, names) in names {
            assert_eq!(names.len(), 1, "slug {slug} names {names:?}");
        }
    }

    #[test]
    fn aliases_point_at_groups_and_cover_every_static_spelling() {
        let catalog = catalog();
        let groups: HashSet<&str> = catalog.models.iter().map(|m| m.group.as_str()).collect();
        for (alias, group) in &catalog.aliases {
            assert!(
                groups.contains(group.as_str()),
                "alias {alias} → unknown group {group}"
            );
        }
        for model in &catalog.models {
            assert_eq!(
                catalog.group_for(&model.id),
                model.group,
                "{}/{} would be regrouped by discovery",
                model.provider,
                model.id
            );
        }
    }

    #[test]
    fn seed_slugs_exist() {
        let catalog = catalog();
        for slug in [
            "kimi-k2.5",
            "minimax-m2.5",
            "glm-5",
            "deepseek-v3.2",
            "qwen3-coder",
            "gpt-oss-120b",
        ] {
            assert!(
                catalog.models.iter().any(|m| m.group == slug),
                "no group {slug}"
            );
        }
        let gpt_oss: HashSet<&str> = catalog
            .models
            .iter()
            .filter(|m| m.group == "gpt-oss-120b")
            .map(|m| m.provider.as_str())
            .collect();
        assert!(gpt_oss.len() >= 4, "{gpt_oss:?}");
    }

    #[test]
    fn overrides_apply_to_built_in_providers() {
        let catalog = catalog();
        let settings = Settings::from_json(
            serde_json::json!({"providers": {"groq": {"baseUrl": "http://127.0.0.1:9", "priority": 3}, "kilocode": {"enabled": true}}})
                .as_object()
                .unwrap(),
        )
        .unwrap();
        let spec = |key: &str| {
            catalog
                .providers
                .iter()
                .find(|p| p.key == key)
                .unwrap()
                .clone()
        };
        let groq = configured_provider(&spec("groq"), &settings, &EnvOverrides::default());
        assert_eq!(groq.base_url, "http://127.0.0.1:9/v1");
        assert_eq!(groq.priority, 3);
        assert!(
            configured_provider(&spec("kilocode"), &settings, &EnvOverrides::default()).enabled
        );
        assert!(
            !configured_provider(
                &spec("kilocode"),
                &Settings::default(),
                &EnvOverrides::default()
            )
            .enabled
        );
        let hosted = configured_provider(
            &spec("ollama"),
            &Settings::default(),
            &EnvOverrides::default(),
        );
        assert_eq!(hosted.auth, AuthMode::Required);
        let mut env = EnvOverrides::default();
        env.base_urls
            .insert("ollama".into(), "http://127.0.0.1:11434".into());
        let local = configured_provider(&spec("ollama"), &Settings::default(), &env);
        assert_eq!(local.auth, AuthMode::Optional);
        assert_eq!(local.base_url, "http://127.0.0.1:11434/v1");
    }
}
