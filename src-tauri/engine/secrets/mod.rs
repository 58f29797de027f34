//! Where API keys live: the OS keychain in production, a private file where no keychain
//! works, memory in tests, all behind one `SecretStore` trait. Secrets cross this boundary
//! only as `SecretString`s.

mod file;
mod keychain;
mod memory;
mod migrate;

use std::path::{Path, PathBuf};
use std::sync::Arc;

use secrecy::{ExposeSecret, SecretString};

pub use file::FileStore;
pub use keychain::KeychainStore;
pub use memory::MemoryStore;
pub use migrate::{migrate_keys_out_of_config, MigrationError};

/// The keychain service name every entry is stored under.
pub const SERVICE: &str = "modelrelay";

#[derive(Debug, thiserror::Error)]
pub enum SecretError {
    #[error("the keychain cannot be used: {0}")]
    Unavailable(String),
    #[error("cannot read or write the key file `{path}`: {message}")]
    File { path: PathBuf, message: String },
    #[error("the stored key for `{0}` did not read back as written")]
    Mismatch(String),
}

/// A place that keeps one secret per account (a provider or endpoint key).
pub trait SecretStore: Send + Sync {
    /// `keychain`, `file` or `memory`: what `status` and `/health` report.
    fn kind(&self) -> &'static str;
    fn get(&self, account: &str) -> Result<Option<SecretString>, SecretError>;
    fn set(&self, account: &str, secret: &SecretString) -> Result<(), SecretError>;
    fn delete(&self, account: &str) -> Result<(), SecretError>;
}

/// Several keys for one account are stored as one JSON array.
pub fn encode_keys(keys: &[SecretString]) -> SecretString {
    match keys {
        [one] => one.clone(),
        many => {
            let list: Vec<&str> = many.iter().map(|k| k.expose_secret()).collect();
            SecretString::from(serde_json::to_string(&list).unwrap_or_default())
        }
    }
}

pub fn decode_keys(stored: &SecretString) -> Vec<SecretString> {
    let text = stored.expose_secret().trim();
    if text.starts_with('[') {
        if let Ok(list) = serde_json::from_str::<Vec<String>>(text) {
            return list
                .into_iter()
                .filter(|k| !k.trim().is_empty())
                .map(SecretString::from)
                .collect();
        }
    }
    if text.is_empty() {
        Vec::new()
    } else {
        vec![SecretString::from(text.to_string())]
    }
}

/// The key file used when no keychain works: `~/.modelrelay.json` → `~/.modelrelay-keys.json`.
pub fn key_file_beside(config_path: &Path) -> PathBuf {
    let stem = config_path
        .file_stem()
        .map(|s| s.to_string_lossy().to_string())
        .unwrap_or_else(|| "modelrelay".into());
    config_path.with_file_name(format!("{stem}-keys.json"))
}

/// Every account a key may be stored under: the built-in providers, the configured
/// OpenAI-compatible endpoints and the legacy default endpoint.
pub fn known_accounts(
    builtin: &crate::engine::providers::builtin::BuiltinCatalog,
    settings: &crate::engine::config::Settings,
) -> Vec<String> {
    let mut accounts: Vec<String> = builtin.providers.iter().map(|p| p.key.clone()).collect();
    accounts.extend(
        settings
            .providers
            .keys()
            .chain(settings.api_keys.keys())
            .filter(|key| {
                key.starts_with(crate::engine::providers::endpoints::OPENAI_COMPATIBLE_PREFIX)
            })
            .cloned(),
    );
    accounts.push(crate::engine::config::DEFAULT_OPENAI_COMPATIBLE.to_string());
    accounts.sort();
    accounts.dedup();
    accounts
}

/// The OS keychain when it answers, else the private key file with one warning.
/// `MODELRELAY_KEY_STORE=file` skips the keychain.
pub fn default_store(config_path: &Path, prefer_file: bool) -> Arc<dyn SecretStore> {
    let file = || Arc::new(FileStore::new(key_file_beside(config_path))) as Arc<dyn SecretStore>;
    if prefer_file {
        return file();
    }
    match KeychainStore::probe() {
        Ok(store) => Arc::new(store),
        Err(error) => {
            tracing::warn!(
                "no usable OS keychain ({error}); API keys are kept in `{}` (readable only by you)",
                key_file_beside(config_path).display()
            );
            file()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_or_many_keys_round_trip() {
        let one = vec![SecretString::from("k1")];
        assert_eq!(encode_keys(&one).expose_secret(), "k1");
        let many = vec![SecretString::from("a"), SecretString::from("b")];
        let decoded = decode_keys(&encode_keys(&many));
        assert_eq!(
            decoded
                .iter()
                .map(|k| k.expose_secret())
                .collect::<Vec<_>>(),
            ["a", "b"]
        );
        assert!(decode_keys(&SecretString::from(" ")).is_empty());
    }

    #[test]
    fn the_key_file_sits_beside_the_config() {
        assert_eq!(
            key_file_beside(Path::new("/h/.modelrelay.json")),
            Path::new("/h/.modelrelay-keys.json")
        );
        assert_eq!(
            key_file_beside(Path::new("/t/c.json")),
            Path::new("/t/c-keys.json")
        );
    }
}
