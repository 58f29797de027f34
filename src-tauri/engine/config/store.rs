//! The live config: the file plus a `watch` channel that tells the engine when settings change.

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

    /// Saves a change atomically and publishes the new settings; on error nothing changes.
    pub fn update(&self, change: impl FnOnce(&mut Map<String, Value>)) -> Result<(), ConfigError> {
        let mut file = self.file.lock().unwrap_or_else(|e| e.into_inner());
        file.update(change)?;
        self.settings
            .send_replace(Arc::new(file.settings().clone()));
        Ok(())
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
