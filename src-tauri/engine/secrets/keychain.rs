//! The OS keychain (Secret Service, macOS Keychain, Windows Credential Manager) through the
//! `keyring` crate: service `modelrelay`, one entry per provider or endpoint.

use secrecy::{ExposeSecret, SecretString};

use super::{SecretError, SecretStore, SERVICE};

pub struct KeychainStore;

fn unavailable(error: keyring::Error) -> SecretError {
    SecretError::Unavailable(error.to_string())
}

fn entry(account: &str) -> Result<keyring::Entry, SecretError> {
    keyring::Entry::new(SERVICE, account).map_err(unavailable)
}

impl KeychainStore {
    /// Returns the store if the keychain answers a read; a missing entry is an answer.
    pub fn probe() -> Result<Self, SecretError> {
        match entry("__probe__")?.get_password() {
            Ok(_) | Err(keyring::Error::NoEntry) => Ok(Self),
            Err(error) => Err(unavailable(error)),
        }
    }
}

impl SecretStore for KeychainStore {
    fn kind(&self) -> &'static str {
        "keychain"
    }

    fn get(&self, account: &str) -> Result<Option<SecretString>, SecretError> {
        match entry(account)?.get_password() {
            Ok(secret) => Ok(Some(SecretString::from(secret))),
            Err(keyring::Error::NoEntry) => Ok(None),
            Err(error) => Err(unavailable(error)),
        }
    }

    fn set(&self, account: &str, secret: &SecretString) -> Result<(), SecretError> {
        entry(account)?
            .set_password(secret.expose_secret())
            .map_err(unavailable)
    }

    fn delete(&self, account: &str) -> Result<(), SecretError> {
        match entry(account)?.delete_credential() {
            Ok(()) | Err(keyring::Error::NoEntry) => Ok(()),
            Err(error) => Err(unavailable(error)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Runs only where a Secret Service is unlocked (`.ci/run` starts one and sets
    /// MODELRELAY_TEST_KEYCHAIN=1); in CI without it the test fails rather than skipping.
    #[test]
    fn the_keychain_store_keeps_the_contract_under_a_real_secret_service() {
        if std::env::var_os("MODELRELAY_TEST_KEYCHAIN").is_none() {
            assert!(
                std::env::var_os("CI").is_none(),
                "CI must run the keychain test (MODELRELAY_TEST_KEYCHAIN=1)"
            );
            return;
        }
        let store = KeychainStore::probe().expect("the Secret Service answers");
        super::super::memory::contract::check(&store);
    }
}
