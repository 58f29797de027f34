//! The live config: the file plus a `watch` channel that tells the engine when settings change,
//! whether the change came through the engine or was typed into the file.

use std::sync::{Arc, Mutex};

use serde_json::{Map, Value};
use tokio::sync::watch;

use super::{ConfigError, ConfigFile, Settings};

pub struct ConfigStore {
    file: Mutex<ConfigFile>,
    settings: watch::Sender<Arc<Settings>>,
}

impl ConfigStore {
    pub fn new(file: ConfigFile) -> Self {
        let (settings, _) = watch::channel(Arc::new(file.settings().clone()));
        Self {
            file: Mutex::new(file),
            settings,
        }
    }

    /// A store over a config file holding `text` in a fresh temporary directory (kept alive by
    /// the returned `TempDir`), for unit tests.
    #[cfg(test)]
    pub fn in_temp_dir(text: &str) -> (tempfile::TempDir, std::path::PathBuf, Self) {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("c.json");
        std::fs::write(&path, text).unwrap();
        let store = Self::new(ConfigFile::load(&path).unwrap());
        (dir, path, store)
    }

    pub fn path(&self) -> std::path::PathBuf {
        self.file
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .path()
            .to_path_buf()
    }

    pub fn subscribe(&self) -> watch::Receiver<Arc<Settings>> {
        self.settings.subscribe()
    }

    pub fn settings(&self) -> Arc<Settings> {
        self.settings.borrow().clone()
    }

    /// Applies a change to the file as it is on disk, saves it atomically and publishes the new
    /// settings (hand edits included); on error nothing changes.
    pub fn update(&self, change: impl FnOnce(&mut Map<String, Value>)) -> Result<(), ConfigError> {
        let mut file = self.file.lock().unwrap_or_else(|e| e.into_inner());
        file.update(change)?;
        self.settings
            .send_replace(Arc::new(file.settings().clone()));
        Ok(())
    }

    /// Loads the file again after it was edited outside the engine and publishes a valid edit;
    /// `Ok(false)` when the file holds what the engine last read or wrote (its own saves).
    pub fn reload(&self) -> Result<bool, ConfigError> {
        let mut file = self.file.lock().unwrap_or_else(|e| e.into_inner());
        let changed = file.reload()?;
        if changed {
            self.settings
                .send_replace(Arc::new(file.settings().clone()));
        }
        Ok(changed)
    }

    /// A copy of the document as saved (contains secrets: for export and tests only).
    pub fn document(&self) -> Map<String, Value> {
        self.file
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .raw()
            .clone()
    }
}
