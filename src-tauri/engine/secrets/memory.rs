//! An in-memory `SecretStore` for tests; it can be told to fail writes.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Mutex;

use secrecy::{ExposeSecret, SecretString};

use super::{SecretError, SecretStore};

#[derive(Default)]
pub struct MemoryStore {
    entries: Mutex<HashMap<String, SecretString>>,
    fail_writes: AtomicBool,
}

impl MemoryStore {
    pub fn new() -> Self {
        Self::default()
    }

    /// Makes every later `set` fail, as a locked keychain would.
    pub fn fail_writes(&self, fail: bool) {
        self.fail_writes.store(fail, Ordering::SeqCst);
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, SecretString>> {
        self.entries.lock().unwrap_or_else(|e| e.into_inner())
    }
}

impl SecretStore for MemoryStore {
    fn kind(&self) -> &'static str {
        "memory"
    }

    fn get(&self, account: &str) -> Result<Option<SecretString>, SecretError> {
        Ok(self.lock().get(account).cloned())
    }

    fn set(&self, account: &str, secret: &SecretString) -> Result<(), SecretError> {
        if self.fail_writes.load(Ordering::SeqCst) {
            return Err(SecretError::Unavailable("writes are failing (test)".into()));
        }
        self.lock().insert(
            account.to_string(),
            SecretString::from(secret.expose_secret().to_string()),
        );
        Ok(())
    }

    fn delete(&self, account: &str) -> Result<(), SecretError> {
        self.lock().remove(account);
        Ok(())
    }
}

#[cfg(test)]
pub(crate) mod contract {
    //! The behaviour every `SecretStore` must have; run against each implementation.
    use super::*;

    pub fn check(store: &dyn SecretStore) {
        let account = format!("contract-test-{}", uuid::Uuid::new_v4().simple());
        assert!(store.get(&account).unwrap().is_none(), "absent is None");
        store.set(&account, &SecretString::from("first")).unwrap();
        assert_eq!(
            store.get(&account).unwrap().unwrap().expose_secret(),
            "first"
        );
        store.set(&account, &SecretString::from("second")).unwrap();
        assert_eq!(
            store.get(&account).unwrap().unwrap().expose_secret(),
            "second",
            "set replaces"
        );
        store.delete(&account).unwrap();
        assert!(store.get(&account).unwrap().is_none(), "deleted");
        store.delete(&account).unwrap();
    }

    #[test]
    fn the_memory_store_keeps_the_contract() {
        check(&MemoryStore::new());
    }

    #[test]
    fn a_failing_memory_store_refuses_writes() {
        let store = MemoryStore::new();
        store.fail_writes(true);
        assert!(store.set("a", &SecretString::from("x")).is_err());
    }
}
