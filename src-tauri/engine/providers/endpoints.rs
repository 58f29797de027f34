//! The user's OpenAI-compatible endpoints (`providers."openai-compatible:<id>"`), merged with
//! the legacy `OPENAI_COMPATIBLE_*` variables that describe `openai-compatible:default`.

use crate::engine::config::{EnvOverrides, Settings, DEFAULT_OPENAI_COMPATIBLE};

use super::url::normalize_base_url;
use super::{AuthMode, ContinueMode, DiscoveryKind, Provider};

pub const OPENAI_COMPATIBLE_PREFIX: &str = "openai-compatible:";

/// An endpoint and the model id the user configured for it, if any.
#[derive(Debug, Clone, PartialEq)]
pub struct Endpoint {
    pub provider: Provider,
    pub model_id: Option<String>,
    pub group: Option<String>,
}

/// Every configured endpoint with a base URL, in key order.
pub fn openai_compatible_endpoints(settings: &Settings, env: &EnvOverrides) -> Vec<Endpoint> {
    let mut keys: Vec<&str> = settings
        .providers
        .keys()
        .map(String::as_str)
        .filter(|key| key.starts_with(OPENAI_COMPATIBLE_PREFIX))
        .collect();
    if env.base_urls.contains_key(DEFAULT_OPENAI_COMPATIBLE)
        && !keys.contains(&DEFAULT_OPENAI_COMPATIBLE)
    {
        keys.push(DEFAULT_OPENAI_COMPATIBLE);
    }
    keys.sort_unstable();
    keys.into_iter()
        .filter_map(|key| {
            let stored = settings.provider(key).cloned().unwrap_or_default();
            let base = env
                .base_urls
                .get(key)
                .cloned()
                .or(stored.base_url.clone())
                .filter(|url| !url.trim().is_empty())?;
            let model_id = env
                .model_ids
                .get(key)
                .cloned()
                .or(stored.model_id.clone())
                .filter(|id| !id.trim().is_empty());
            let instance = key.trim_start_matches(OPENAI_COMPATIBLE_PREFIX);
            Some(Endpoint {
                provider: Provider {
                    auth: AuthMode::Optional,
                    enabled: stored.enabled.unwrap_or(true),
                    priority: stored.priority.unwrap_or(0),
                    continuation: stored.continuation.unwrap_or(ContinueMode::Prefill),
                    key_withheld: stored.key_bound_elsewhere(&normalize_base_url(&base)),
                    discovery: if stored.discover_models.unwrap_or(true) {
                        DiscoveryKind::OpenaiModels
                    } else {
                        DiscoveryKind::None
                    },
                    ..Provider::new(
                        key,
                        stored.name.as_deref().unwrap_or(instance),
                        &normalize_base_url(&base),
                    )
                },
                model_id,
                group: stored.group,
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::config::EnvSource;
    use serde_json::json;

    fn settings(value: serde_json::Value) -> Settings {
        Settings::from_json(value.as_object().unwrap()).unwrap()
    }

    #[test]
    fn reads_endpoints_from_the_seed_format() {
        let settings = settings(json!({"providers": {
            "openai-compatible:my-vllm": {"enabled": true, "name": "Local vLLM", "baseUrl": "http://localhost:8000", "modelId": "qwen-coder", "priority": 2},
            "openai-compatible:off": {"enabled": false, "baseUrl": "http://x/v1", "discoverModels": false},
            "openai-compatible:no-url": {"modelId": "m"},
            "groq": {"enabled": true}
        }}));
        let endpoints = openai_compatible_endpoints(&settings, &EnvOverrides::default());
        assert_eq!(endpoints.len(), 2);
        let vllm = &endpoints[0];
        assert_eq!(vllm.provider.key, "openai-compatible:my-vllm");
        assert_eq!(vllm.provider.base_url, "http://localhost:8000/v1");
        assert_eq!(vllm.provider.priority, 2);
        assert_eq!(vllm.model_id.as_deref(), Some("qwen-coder"));
        assert_eq!(vllm.provider.discovery, DiscoveryKind::OpenaiModels);
        assert!(!endpoints[1].provider.enabled);
        assert_eq!(endpoints[1].provider.discovery, DiscoveryKind::None);
    }

    #[test]
    fn legacy_env_variables_create_the_default_endpoint() {
        let env = EnvOverrides::read(
            &EnvSource::from_pairs([
                ("OPENAI_COMPATIBLE_BASE_URL", "http://127.0.0.1:9/v1"),
                ("OPENAI_COMPATIBLE_MODEL", "m1"),
            ]),
            &[],
        );
        let endpoints = openai_compatible_endpoints(&Settings::default(), &env);
        assert_eq!(endpoints.len(), 1);
        assert_eq!(endpoints[0].provider.key, DEFAULT_OPENAI_COMPATIBLE);
        assert_eq!(endpoints[0].model_id.as_deref(), Some("m1"));
    }
}
