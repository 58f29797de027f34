//! Which API key a request to a provider carries: env beats the stored keys, and a provider
//! with several keys uses them in turn. Keys leave this module only as `SecretString`s.

use std::collections::HashMap;
use std::sync::Mutex;

use secrecy::SecretString;

use crate::engine::config::{EnvOverrides, Settings};

#[derive(Debug, Default)]
pub struct Credentials {
    env: EnvOverrides,
    cursors: Mutex<HashMap<String, usize>>,
}

impl Credentials {
    pub fn new(env: EnvOverrides) -> Self {
        Self {
            env,
            cursors: Mutex::default(),
        }
    }

    pub fn has_key(&self, settings: &Settings, provider: &str) -> bool {
        self.env.keys.contains_key(provider)
            || settings
                .api_keys
                .get(provider)
                .is_some_and(|keys| !keys.is_empty())
    }

    /// The key for the next request to `provider`, rotating through a pool of several.
    pub fn key_for(&self, settings: &Settings, provider: &str) -> Option<SecretString> {
        if let Some(key) = self.env.keys.get(provider) {
            return Some(key.clone());
        }
        let pool = &settings.api_keys.get(provider)?.0;
        match pool.len() {
            0 => None,
            1 => Some(pool[0].clone()),
            len => {
                let mut cursors = self.cursors.lock().unwrap_or_else(|e| e.into_inner());
                let cursor = cursors.entry(provider.to_string()).or_insert(0);
                let key = pool[*cursor % len].clone();
                *cursor = (*cursor + 1) % len;
                Some(key)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::config::EnvSource;
    use secrecy::ExposeSecret;
    use serde_json::json;

    fn settings(value: serde_json::Value) -> Settings {
        Settings::from_json(value.as_object().unwrap()).unwrap()
    }

    #[test]
    fn several_keys_are_used_in_turn() {
        let settings = settings(json!({"apiKeys": {"groq": ["a", "b"]}}));
        let credentials = Credentials::default();
        let keys: Vec<String> = (0..3)
            .map(|_| {
                credentials
                    .key_for(&settings, "groq")
                    .unwrap()
                    .expose_secret()
                    .to_string()
            })
            .collect();
        assert_eq!(keys, ["a", "b", "a"]);
    }

    #[test]
    fn the_environment_overrides_the_file() {
        let settings = settings(json!({"apiKeys": {"groq": "from-file"}}));
        let env = EnvOverrides::read(
            &EnvSource::from_pairs([("GROQ_API_KEY", "from-env")]),
            &[("groq", "GROQ_API_KEY")],
        );
        let credentials = Credentials::new(env);
        assert_eq!(
            credentials
                .key_for(&settings, "groq")
                .unwrap()
                .expose_secret(),
            "from-env"
        );
        assert!(credentials.has_key(&Settings::default(), "groq"));
        assert!(!credentials.has_key(&Settings::default(), "nvidia"));
    }
}
