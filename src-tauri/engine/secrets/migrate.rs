//! Moving plaintext keys out of the config file into the secret store without ever losing
//! one: write each key, read it back, and only then remove `apiKeys` from the file.

use secrecy::ExposeSecret;

use crate::engine::config::{ConfigError, ConfigStore};

use super::{decode_keys, encode_keys, SecretError, SecretStore};

#[derive(Debug, thiserror::Error)]
pub enum MigrationError {
    #[error("could not move the API keys of `{account}` out of the config file: {source}; the file was left as it was")]
    Store {
        account: String,
        source: SecretError,
    },
    #[error(transparent)]
    Config(#[from] ConfigError),
}

/// Returns how many accounts were moved. On error the config file is untouched.
pub fn migrate_keys_out_of_config(
    config: &ConfigStore,
    store: &dyn SecretStore,
) -> Result<usize, MigrationError> {
    let settings = config.settings();
    let accounts: Vec<_> = settings
        .api_keys
        .iter()
        .filter(|(_, keys)| !keys.is_empty())
        .collect();
    if !config.document().contains_key("apiKeys") {
        return Ok(0);
    }
    for (account, keys) in &accounts {
        let wrap = |source| MigrationError::Store {
            account: account.to_string(),
            source,
        };
        let encoded = encode_keys(&keys.0);
        store.set(account, &encoded).map_err(wrap)?;
        let read_back = store.get(account).map_err(wrap)?;
        let matches = read_back.as_ref().is_some_and(|stored| {
            let stored = decode_keys(stored);
            stored.len() == keys.0.len()
                && stored
                    .iter()
                    .zip(&keys.0)
                    .all(|(a, b)| a.expose_secret() == b.expose_secret())
        });
        if !matches {
            return Err(wrap(SecretError::Mismatch(account.to_string())));
        }
    }
    config.update(|raw| {
        raw.shift_remove("apiKeys");
    })?;
    Ok(accounts.len())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::secrets::MemoryStore;

    #[test]
    fn keys_move_to_the_store_and_leave_the_file() {
        let (_dir, path, config) = ConfigStore::in_temp_dir(
            r#"{"apiKeys": {"groq": "gsk_1", "nvidia": ["a", "b"]}, "other": 1}"#,
        );
        let store = MemoryStore::new();
        assert_eq!(migrate_keys_out_of_config(&config, &store).unwrap(), 2);
        assert_eq!(store.get("groq").unwrap().unwrap().expose_secret(), "gsk_1");
        assert_eq!(decode_keys(&store.get("nvidia").unwrap().unwrap()).len(), 2);
        let saved = std::fs::read_to_string(&path).unwrap();
        assert!(
            !saved.contains("gsk_1") && !saved.contains("apiKeys"),
            "{saved}"
        );
        assert!(saved.contains("\"other\""));
    }

    #[test]
    fn a_failing_store_leaves_the_file_untouched() {
        let original = r#"{"apiKeys": {"groq": "gsk_1"}}"#;
        let (_dir, path, config) = ConfigStore::in_temp_dir(original);
        let store = MemoryStore::new();
        store.fail_writes(true);
        assert!(migrate_keys_out_of_config(&config, &store).is_err());
        assert_eq!(std::fs::read_to_string(&path).unwrap(), original);
        assert!(config.settings().api_keys.contains_key("groq"));
    }

    #[test]
    fn nothing_happens_without_keys_in_the_file() {
        let original = r#"{"bannedModels": []}"#;
        let (_dir, path, config) = ConfigStore::in_temp_dir(original);
        assert_eq!(
            migrate_keys_out_of_config(&config, &MemoryStore::new()).unwrap(),
            0
        );
        assert_eq!(std::fs::read_to_string(&path).unwrap(), original);
    }
}
