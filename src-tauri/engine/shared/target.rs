//! Where the team's Redis is: `MODELRELAY_REDIS_URL`, else `sharedState.redisUrl`. A password in
//! the config file's URL is moved to the key store at start (the file keeps the URL without
//! it); the URL is only ever shown without its password.

use secrecy::{ExposeSecret, SecretString};
use serde_json::{json, Value};

use crate::engine::config::ConfigStore;
use crate::engine::secrets::SecretStore;

/// The key store account of the Redis password (not a provider).
pub const PASSWORD_ACCOUNT: &str = "modelrelay-shared-state-redis";
/// The prefix of every Redis name a team uses, unless `sharedState.namespace` says otherwise.
pub const DEFAULT_NAMESPACE: &str = "modelrelay";

/// A Redis to connect to: the full URL (a secret, since it may carry the password) and the
/// URL as it may be shown.
pub struct RedisTarget {
    pub url: SecretString,
    pub shown: String,
    pub namespace: String,
}

impl std::fmt::Debug for RedisTarget {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RedisTarget")
            .field("url", &self.shown)
            .field("namespace", &self.namespace)
            .finish()
    }
}

#[derive(Debug, thiserror::Error)]
pub enum TargetError {
    #[error("`{source_name}` is not a Redis URL ({reason}); write it as `redis://host:6379/0`, or `rediss://host:6380/0` for TLS, with the password as `redis://:password@host:6379/0`")]
    Invalid {
        source_name: &'static str,
        reason: String,
    },
}

/// A Redis URL split into what may be shown and its password.
fn parse(text: &str, source_name: &'static str) -> Result<(url::Url, Option<String>), TargetError> {
    let invalid = |reason: String| TargetError::Invalid {
        source_name,
        reason,
    };
    let mut url = url::Url::parse(text.trim()).map_err(|e| invalid(e.to_string()))?;
    if !matches!(url.scheme(), "redis" | "rediss") {
        return Err(invalid(format!("the scheme is `{}`", url.scheme())));
    }
    if url.host_str().is_none_or(str::is_empty) {
        return Err(invalid("it names no host".into()));
    }
    let password = url.password().map(str::to_string).filter(|p| !p.is_empty());
    // Cannot fail on a URL with a host.
    let _ = url.set_password(None);
    Ok((url, password))
}

fn with_password(url: &url::Url, password: Option<&str>) -> SecretString {
    let mut full = url.clone();
    if let Some(password) = password {
        let _ = full.set_password(Some(password));
    }
    SecretString::from(full.to_string())
}

/// The Redis this engine shares state through, if any. `env_url` (`MODELRELAY_REDIS_URL`)
/// beats the config file and is never stored; the config file's password moves to `store`.
pub fn resolve(
    config: &ConfigStore,
    env_url: Option<&SecretString>,
    store: &dyn SecretStore,
) -> Result<Option<RedisTarget>, TargetError> {
    let settings = config.settings();
    let namespace = settings
        .shared_state
        .namespace
        .clone()
        .map(|n| n.trim().to_string())
        .filter(|n| !n.is_empty())
        .unwrap_or_else(|| DEFAULT_NAMESPACE.to_string());
    if let Some(env_url) = env_url {
        let (url, password) = parse(env_url.expose_secret(), "MODELRELAY_REDIS_URL")?;
        return Ok(Some(RedisTarget {
            url: with_password(&url, password.as_deref()),
            shown: url.to_string(),
            namespace,
        }));
    }
    let Some(text) = settings
        .shared_state
        .redis_url
        .clone()
        .filter(|u| !u.trim().is_empty())
    else {
        return Ok(None);
    };
    let (url, password) = parse(&text, "sharedState.redisUrl")?;
    let password = match password {
        Some(password) => {
            keep_password(config, store, &url, &password);
            Some(password)
        }
        None => match store.get(PASSWORD_ACCOUNT) {
            Ok(stored) => stored.map(|p| p.expose_secret().to_string()),
            Err(error) => {
                tracing::warn!("cannot read the Redis password from the key store: {error}");
                None
            }
        },
    };
    Ok(Some(RedisTarget {
        url: with_password(&url, password.as_deref()),
        shown: url.to_string(),
        namespace,
    }))
}

/// Stores the password and, once it reads back, leaves only the URL without it in the file.
fn keep_password(config: &ConfigStore, store: &dyn SecretStore, url: &url::Url, password: &str) {
    let secret = SecretString::from(password.to_string());
    let stored = store
        .set(PASSWORD_ACCOUNT, &secret)
        .and_then(|()| store.get(PASSWORD_ACCOUNT));
    match stored {
        Ok(Some(read)) if read.expose_secret() == password => {
            let shown = url.to_string();
            let moved = config.update(|raw| {
                let section = raw.entry("sharedState").or_insert_with(|| json!({}));
                if let Value::Object(section) = section {
                    section.insert("redisUrl".into(), Value::String(shown));
                }
            });
            match moved {
                Ok(()) => tracing::info!(
                    "moved the Redis password from the config file to the {} store",
                    store.kind()
                ),
                Err(error) => tracing::warn!("the Redis password is in the key store, but the config file still holds it: {error}"),
            }
        }
        Ok(_) => tracing::warn!(
            "the Redis password did not read back from the key store; it stays in the config file"
        ),
        Err(error) => tracing::warn!(
            "cannot keep the Redis password in the key store ({error}); it stays in the config file"
        ),
    }
}

/// `error`'s text with the password (if it appears) blanked out: errors are logged and shown.
pub fn scrub(text: &str, target: &RedisTarget) -> String {
    let Ok(url) = url::Url::parse(target.url.expose_secret()) else {
        return text.to_string();
    };
    match url.password().filter(|p| !p.is_empty()) {
        Some(password) => text.replace(password, "***"),
        None => text.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::secrets::MemoryStore;

    #[test]
    fn the_password_moves_to_the_key_store_and_is_never_shown() {
        let (_dir, path, config) = ConfigStore::in_temp_dir(
            r#"{"sharedState": {"redisUrl": "rediss://:s3cret@redis.example:6380/2", "namespace": "team"}}"#,
        );
        let store = MemoryStore::new();
        let target = resolve(&config, None, &store).unwrap().unwrap();
        assert_eq!(target.shown, "rediss://redis.example:6380/2");
        assert_eq!(target.namespace, "team");
        assert!(target.url.expose_secret().contains("s3cret"));
        assert!(!format!("{target:?}").contains("s3cret"));
        assert_eq!(
            store
                .get(PASSWORD_ACCOUNT)
                .unwrap()
                .unwrap()
                .expose_secret(),
            "s3cret"
        );
        let saved = std::fs::read_to_string(&path).unwrap();
        assert!(!saved.contains("s3cret"), "{saved}");
        assert!(saved.contains("rediss://redis.example:6380/2"));
        // The next start finds the password in the store.
        let again = resolve(&config, None, &store).unwrap().unwrap();
        assert_eq!(again.url.expose_secret(), target.url.expose_secret());
    }

    #[test]
    fn the_environment_beats_the_file_and_is_not_stored() {
        let (_dir, _path, config) =
            ConfigStore::in_temp_dir(r#"{"sharedState": {"redisUrl": "redis://a:1/0"}}"#);
        let store = MemoryStore::new();
        let env = SecretString::from("redis://:pw@b:2/0".to_string());
        let target = resolve(&config, Some(&env), &store).unwrap().unwrap();
        assert_eq!(target.shown, "redis://b:2/0");
        assert_eq!(target.namespace, DEFAULT_NAMESPACE);
        assert!(store.get(PASSWORD_ACCOUNT).unwrap().is_none());
        assert_eq!(scrub("WRONGPASS pw here", &target), "WRONGPASS *** here");
    }

    #[test]
    fn off_by_default_and_a_bad_url_is_a_clear_error() {
        let (_dir, _path, config) = ConfigStore::in_temp_dir("{}");
        assert!(resolve(&config, None, &MemoryStore::new())
            .unwrap()
            .is_none());
        let (_dir, _path, config) = config_with_url("http://redis.example:6379");
        let error = resolve(&config, None, &MemoryStore::new()).unwrap_err();
        assert!(
            error.to_string().contains("`sharedState.redisUrl`"),
            "{error}"
        );
    }

    fn config_with_url(url: &str) -> (tempfile::TempDir, std::path::PathBuf, ConfigStore) {
        ConfigStore::in_temp_dir(&json!({"sharedState": {"redisUrl": url}}).to_string())
    }
}
