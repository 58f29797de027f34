//! The fallback `SecretStore`: a JSON file readable only by the user, written atomically. A
//! file that others can read is made private before a key is read from it, or refused.

use std::path::PathBuf;
use std::sync::Mutex;

use secrecy::{ExposeSecret, SecretString};
use serde_json::{Map, Value};

use crate::engine::config::write_atomically;

use super::{SecretError, SecretStore};

pub struct FileStore {
    path: PathBuf,
    lock: Mutex<()>,
}

impl FileStore {
    pub fn new(path: PathBuf) -> Self {
        Self {
            path,
            lock: Mutex::new(()),
        }
    }

    pub fn path(&self) -> &std::path::Path {
        &self.path
    }

    fn error(&self, message: impl ToString) -> SecretError {
        SecretError::File {
            path: self.path.clone(),
            message: message.to_string(),
        }
    }

    /// A key file made by hand or by an older version may be readable by others: its mode
    /// becomes 0600 (logged, so the fix is seen once), or nothing is read from it.
    #[cfg(unix)]
    fn make_private(&self) -> Result<(), SecretError> {
        use std::os::unix::fs::PermissionsExt;
        let mode = match std::fs::metadata(&self.path) {
            Ok(meta) => meta.permissions().mode() & 0o777,
            Err(error) if error.kind() == std::io::ErrorKind::NotFound => return Ok(()),
            Err(error) => return Err(self.error(error)),
        };
        if mode & 0o077 == 0 {
            return Ok(());
        }
        std::fs::set_permissions(&self.path, std::fs::Permissions::from_mode(0o600)).map_err(
            |error| {
                self.error(format!(
                    "other users can read it (mode {mode:o}) and it could not be made private \
                     ({error}); run `chmod 600` on it, or remove it and set your keys again"
                ))
            },
        )?;
        tracing::warn!(
            "the key file `{}` was readable by other users (mode {mode:o}); it is now readable only by you (mode 600)",
            self.path.display()
        );
        Ok(())
    }

    #[cfg(not(unix))]
    fn make_private(&self) -> Result<(), SecretError> {
        Ok(())
    }

    fn read(&self) -> Result<Map<String, Value>, SecretError> {
        self.make_private()?;
        match std::fs::read(&self.path) {
            Ok(bytes) => match serde_json::from_slice(&bytes) {
                Ok(Value::Object(map)) => Ok(map),
                Ok(_) => Err(self.error("not a JSON object; fix or move it")),
                Err(error) => Err(self.error(format!("not valid JSON ({error}); fix or move it"))),
            },
            Err(error) if error.kind() == std::io::ErrorKind::NotFound => Ok(Map::new()),
            Err(error) => Err(self.error(error)),
        }
    }

    fn modify(&self, change: impl FnOnce(&mut Map<String, Value>)) -> Result<(), SecretError> {
        let _guard = self.lock.lock().unwrap_or_else(|e| e.into_inner());
        let mut map = self.read()?;
        change(&mut map);
        write_atomically(&self.path, &map).map_err(|error| self.error(error))
    }
}

impl SecretStore for FileStore {
    fn kind(&self) -> &'static str {
        "file"
    }

    fn get(&self, account: &str) -> Result<Option<SecretString>, SecretError> {
        let _guard = self.lock.lock().unwrap_or_else(|e| e.into_inner());
        Ok(self
            .read()?
            .get(account)
            .and_then(Value::as_str)
            .map(|s| SecretString::from(s.to_string())))
    }

    fn set(&self, account: &str, secret: &SecretString) -> Result<(), SecretError> {
        self.modify(|map| {
            map.insert(
                account.into(),
                Value::String(secret.expose_secret().to_string()),
            );
        })
    }

    fn delete(&self, account: &str) -> Result<(), SecretError> {
        self.modify(|map| {
            map.shift_remove(account);
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_file_store_keeps_the_contract() {
        let dir = tempfile::tempdir().unwrap();
        super::super::memory::contract::check(&FileStore::new(dir.path().join("keys.json")));
    }

    #[cfg(unix)]
    #[test]
    fn the_key_file_is_private() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let store = FileStore::new(dir.path().join("keys.json"));
        store.set("groq", &SecretString::from("k")).unwrap();
        let mode = std::fs::metadata(store.path())
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600);
    }

    #[cfg(unix)]
    #[test]
    fn a_world_readable_key_file_is_made_private_before_it_is_used() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("keys.json");
        std::fs::write(&path, r#"{"groq": "gsk_1"}"#).unwrap();
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).unwrap();
        let store = FileStore::new(path.clone());
        assert_eq!(store.get("groq").unwrap().unwrap().expose_secret(), "gsk_1");
        let mode = std::fs::metadata(&path).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
    }

    #[test]
    fn a_corrupt_key_file_is_reported_and_not_overwritten() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("keys.json");
        std::fs::write(&path, "{oops").unwrap();
        let store = FileStore::new(path.clone());
        assert!(store.get("a").is_err());
        assert!(store.set("a", &SecretString::from("k")).is_err());
        assert_eq!(std::fs::read_to_string(&path).unwrap(), "{oops");
    }
}
