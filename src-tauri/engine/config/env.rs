//! Environment variables that override the config file (keys, base URLs, model ids).
//! Read once at startup through an injectable lookup, so tests never touch the process env.

use std::collections::BTreeMap;
use std::sync::Arc;

use secrecy::SecretString;

/// Where environment variables come from: the process, or a fixed table in tests.
#[derive(Clone)]
pub struct EnvSource(Arc<EnvLookup>);

type EnvLookup = dyn Fn(&str) -> Option<String> + Send + Sync;

impl EnvSource {
    pub fn process() -> Self {
        Self(Arc::new(|name| std::env::var(name).ok()))
    }

    pub fn from_pairs<const N: usize>(pairs: [(&str, &str); N]) -> Self {
        let table: BTreeMap<String, String> = pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        Self(Arc::new(move |name| table.get(name).cloned()))
    }

    pub fn empty() -> Self {
        Self(Arc::new(|_| None))
    }

    /// The variable's value when it is set and not blank.
    pub fn get(&self, name: &str) -> Option<String> {
        (self.0)(name)
            .map(|value| value.trim().to_string())
            .filter(|value| !value.is_empty())
    }
}

impl std::fmt::Debug for EnvSource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("EnvSource")
    }
}

/// What the environment says, keyed by provider key. Never written to the config file.
#[derive(Default, Clone)]
pub struct EnvOverrides {
    pub keys: BTreeMap<String, SecretString>,
    pub base_urls: BTreeMap<String, String>,
    pub model_ids: BTreeMap<String, String>,
    /// `KIRO_OAUTH_CLIENT_ID` / `_SECRET`: refresh Kiro tokens with the OIDC (Builder ID) flow.
    pub kiro_client_id: Option<String>,
    pub kiro_client_secret: Option<SecretString>,
    /// `~/.aws/sso/cache`, where a signed-in Kiro IDE leaves its refresh token.
    pub sso_cache_dir: Option<std::path::PathBuf>,
    /// `MODELRELAY_REDIS_URL`: team mode's Redis, beating `sharedState.redisUrl` (may hold a
    /// password, so a secret).
    pub redis_url: Option<SecretString>,
}

impl std::fmt::Debug for EnvOverrides {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EnvOverrides")
            .field("keys", &self.keys.keys().collect::<Vec<_>>())
            .field("base_urls", &self.base_urls)
            .field("model_ids", &self.model_ids)
            .field("kiro_client_id", &self.kiro_client_id)
            .field("sso_cache_dir", &self.sso_cache_dir)
            .finish()
    }
}

/// The legacy single-endpoint variables apply to this endpoint.
pub const DEFAULT_OPENAI_COMPATIBLE: &str = "openai-compatible:default";

impl EnvOverrides {
    /// Reads the key variable of each `(provider key, variable)` pair, plus the base URL and
    /// model variables of Ollama and the default OpenAI-compatible endpoint.
    pub fn read(env: &EnvSource, key_variables: &[(&str, &str)]) -> Self {
        let mut overrides = Self::default();
        let mut key_variables = key_variables.to_vec();
        key_variables.push((DEFAULT_OPENAI_COMPATIBLE, "OPENAI_COMPATIBLE_API_KEY"));
        for (provider, variable) in key_variables {
            if let Some(value) = env.get(variable) {
                overrides
                    .keys
                    .insert(provider.to_string(), SecretString::from(value));
            }
        }
        for (provider, base, model) in [
            ("ollama", "OLLAMA_BASE_URL", "OLLAMA_MODEL"),
            (
                DEFAULT_OPENAI_COMPATIBLE,
                "OPENAI_COMPATIBLE_BASE_URL",
                "OPENAI_COMPATIBLE_MODEL",
            ),
        ] {
            if let Some(value) = env.get(base) {
                overrides.base_urls.insert(provider.to_string(), value);
            }
            if let Some(value) = env.get(model) {
                overrides.model_ids.insert(provider.to_string(), value);
            }
        }
        overrides.kiro_client_id = env.get("KIRO_OAUTH_CLIENT_ID");
        overrides.kiro_client_secret = env.get("KIRO_OAUTH_CLIENT_SECRET").map(SecretString::from);
        overrides.redis_url = env.get("MODELRELAY_REDIS_URL").map(SecretString::from);
        overrides.sso_cache_dir = env
            .get("HOME")
            .or_else(|| env.get("USERPROFILE"))
            .map(|home| {
                std::path::Path::new(&home)
                    .join(".aws")
                    .join("sso")
                    .join("cache")
            });
        overrides
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use secrecy::ExposeSecret;

    #[test]
    fn legacy_variables_apply_to_the_default_endpoint() {
        let env = EnvSource::from_pairs([
            ("OPENAI_COMPATIBLE_API_KEY", "sk-1"),
            ("OPENAI_COMPATIBLE_BASE_URL", "http://localhost:8000"),
            ("OPENAI_COMPATIBLE_MODEL", "qwen"),
            ("GROQ_API_KEY", "  "),
        ]);
        let overrides = EnvOverrides::read(&env, &[("groq", "GROQ_API_KEY")]);
        assert_eq!(
            overrides.keys[DEFAULT_OPENAI_COMPATIBLE].expose_secret(),
            "sk-1"
        );
        assert_eq!(
            overrides.base_urls[DEFAULT_OPENAI_COMPATIBLE],
            "http://localhost:8000"
        );
        assert_eq!(overrides.model_ids[DEFAULT_OPENAI_COMPATIBLE], "qwen");
        assert!(
            !overrides.keys.contains_key("groq"),
            "blank values are ignored"
        );
        assert!(!format!("{overrides:?}").contains("sk-1"));
    }
}
