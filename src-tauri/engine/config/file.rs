//! Reading and atomically writing the config file, keeping keys this version does not know.

use std::fs;
use std::io::{self, Write};
use std::path::{Path, PathBuf};

use serde_json::{Map, Value};

use super::settings::Settings;

/// Why the config file could not be used.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("cannot read the config file `{path}`: {source}")]
    Unreadable { path: PathBuf, source: io::Error },
    #[error("the config file `{path}` is not valid: {message} at line {line}, column {column}; fix or move the file (it was left untouched)")]
    Corrupt {
        path: PathBuf,
        message: String,
        line: usize,
        column: usize,
    },
    #[error("the config file `{path}` must hold a JSON object at the top level; fix or move the file (it was left untouched)")]
    NotAnObject { path: PathBuf },
    #[error("cannot save the config file `{path}`: {source}")]
    Unwritable { path: PathBuf, source: io::Error },
    #[error("the config change is not valid: {0}")]
    InvalidChange(String),
}

/// The default location, `~/.modelrelay.json`.
pub fn default_config_path() -> PathBuf {
    dirs::home_dir()
        .unwrap_or_else(|| PathBuf::from("."))
        .join(".modelrelay.json")
}

/// The config file as JSON (so unknown keys survive a save) plus its typed reading.
#[derive(Debug, Clone)]
pub struct ConfigFile {
    path: PathBuf,
    raw: Map<String, Value>,
    settings: Settings,
}

impl ConfigFile {
    /// Loads `path`; a missing file is an empty config. Nothing is written.
    pub fn load(path: &Path) -> Result<Self, ConfigError> {
        let bytes = match fs::read(path) {
            Ok(bytes) => bytes,
            Err(error) if error.kind() == io::ErrorKind::NotFound => {
                return Ok(Self::empty(path));
            }
            Err(source) => {
                return Err(ConfigError::Unreadable {
                    path: path.to_path_buf(),
                    source,
                })
            }
        };
        if bytes.iter().all(u8::is_ascii_whitespace) {
            return Ok(Self::empty(path));
        }
        let corrupt = |error: serde_json::Error| ConfigError::Corrupt {
            path: path.to_path_buf(),
            message: strip_position(&error.to_string()),
            line: error.line(),
            column: error.column(),
        };
        let value: Value = serde_json::from_slice(&bytes).map_err(corrupt)?;
        let Value::Object(raw) = value else {
            return Err(ConfigError::NotAnObject {
                path: path.to_path_buf(),
            });
        };
        // Typed parse from the same bytes so that type errors carry a line and column too.
        serde_json::from_slice::<Settings>(&bytes).map_err(corrupt)?;
        Self::from_raw(path, raw)
    }

    /// An empty config that will be written to `path` on the first save.
    pub fn empty(path: &Path) -> Self {
        Self {
            path: path.to_path_buf(),
            raw: Map::new(),
            settings: Settings::default(),
        }
    }

    fn from_raw(path: &Path, mut raw: Map<String, Value>) -> Result<Self, ConfigError> {
        migrate_legacy_openai_compatible(&mut raw);
        let settings = Settings::from_json(&raw).map_err(|error| ConfigError::Corrupt {
            path: path.to_path_buf(),
            message: error.to_string(),
            line: 0,
            column: 0,
        })?;
        Ok(Self {
            path: path.to_path_buf(),
            raw,
            settings,
        })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    pub fn settings(&self) -> &Settings {
        &self.settings
    }

    /// The JSON document as it will be saved (secrets included: never send this anywhere).
    pub fn raw(&self) -> &Map<String, Value> {
        &self.raw
    }

    /// Applies `change` to the JSON document, checks that it still reads as settings, and
    /// saves it atomically. On any error the file and this value stay as they were.
    pub fn update(
        &mut self,
        change: impl FnOnce(&mut Map<String, Value>),
    ) -> Result<(), ConfigError> {
        let mut raw = self.raw.clone();
        change(&mut raw);
        let settings = Settings::from_json(&raw)
            .map_err(|error| ConfigError::InvalidChange(error.to_string()))?;
        write_atomically(&self.path, &raw)?;
        self.raw = raw;
        self.settings = settings;
        Ok(())
    }
}

/// serde_json appends " at line L column C"; the error names those separately.
fn strip_position(message: &str) -> String {
    match message.rfind(" at line ") {
        Some(index) => message[..index].to_string(),
        None => message.to_string(),
    }
}

/// A bare `openai-compatible` entry (the original's single endpoint) becomes
/// `openai-compatible:default`, unless that already exists.
fn migrate_legacy_openai_compatible(raw: &mut Map<String, Value>) {
    for section in ["providers", "apiKeys"] {
        let Some(Value::Object(entries)) = raw.get_mut(section) else {
            continue;
        };
        if entries.contains_key("openai-compatible:default") {
            continue;
        }
        if let Some(mut legacy) = entries.shift_remove("openai-compatible") {
            if let (Value::Object(fields), "providers") = (&mut legacy, section) {
                fields
                    .entry("name")
                    .or_insert_with(|| Value::String("Default".into()));
            }
            entries.insert("openai-compatible:default".into(), legacy);
        }
    }
}

/// Temp file in the same directory, fsync, rename over the target, fsync the directory.
/// The temp file is created with mode 0600, so the config never becomes world-readable.
pub(crate) fn write_atomically(path: &Path, raw: &Map<String, Value>) -> Result<(), ConfigError> {
    let unwritable = |source: io::Error| ConfigError::Unwritable {
        path: path.to_path_buf(),
        source,
    };
    let directory = match path.parent() {
        Some(parent) if !parent.as_os_str().is_empty() => parent.to_path_buf(),
        _ => PathBuf::from("."),
    };
    fs::create_dir_all(&directory).map_err(unwritable)?;
    let mut bytes = serde_json::to_vec_pretty(raw)
        .map_err(io::Error::other)
        .map_err(unwritable)?;
    bytes.push(b'\n');
    let mut temp = tempfile::Builder::new()
        .prefix(".modelrelay-config-")
        .tempfile_in(&directory)
        .map_err(unwritable)?;
    temp.write_all(&bytes).map_err(unwritable)?;
    temp.as_file().sync_all().map_err(unwritable)?;
    temp.persist(path)
        .map_err(|error| unwritable(error.error))?;
    if let Ok(dir) = fs::File::open(&directory) {
        // Best effort: not every platform can fsync a directory.
        let _ = dir.sync_all();
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn write(dir: &tempfile::TempDir, text: &str) -> PathBuf {
        let path = dir.path().join("config.json");
        fs::write(&path, text).unwrap();
        path
    }

    #[test]
    fn a_missing_file_is_an_empty_config() {
        let dir = tempfile::tempdir().unwrap();
        let config = ConfigFile::load(&dir.path().join("absent.json")).unwrap();
        assert!(config.raw().is_empty());
    }

    #[test]
    fn corrupt_json_names_the_file_line_and_column() {
        let dir = tempfile::tempdir().unwrap();
        let path = write(&dir, "{\n  \"apiKeys\": {,}\n}");
        let error = ConfigFile::load(&path).unwrap_err();
        match &error {
            ConfigError::Corrupt { line, column, .. } => {
                assert_eq!((*line, *column), (2, 15));
            }
            other => panic!("unexpected {other:?}"),
        }
        assert!(error.to_string().contains("config.json"));
    }

    #[test]
    fn a_wrongly_typed_field_is_reported_with_its_position() {
        let dir = tempfile::tempdir().unwrap();
        let path = write(&dir, "{\"bannedModels\": 5}");
        let error = ConfigFile::load(&path).unwrap_err();
        assert!(
            matches!(error, ConfigError::Corrupt { line: 1, .. }),
            "{error}"
        );
    }

    #[test]
    fn a_top_level_array_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let path = write(&dir, "[]");
        assert!(matches!(
            ConfigFile::load(&path),
            Err(ConfigError::NotAnObject { .. })
        ));
    }

    #[test]
    fn unknown_keys_survive_an_update() {
        let dir = tempfile::tempdir().unwrap();
        let path = write(&dir, r#"{"futureFeature": {"x": 1}, "bannedModels": []}"#);
        let mut config = ConfigFile::load(&path).unwrap();
        config
            .update(|raw| {
                raw.insert("bannedModels".into(), json!(["a"]));
            })
            .unwrap();
        let saved: Value = serde_json::from_slice(&fs::read(&path).unwrap()).unwrap();
        assert_eq!(saved["futureFeature"], json!({"x": 1}));
        assert_eq!(saved["bannedModels"], json!(["a"]));
    }

    #[test]
    fn an_invalid_update_leaves_file_and_value_unchanged() {
        let dir = tempfile::tempdir().unwrap();
        let original = r#"{"bannedModels": ["a"]}"#;
        let path = write(&dir, original);
        let mut config = ConfigFile::load(&path).unwrap();
        let result = config.update(|raw| {
            raw.insert("bannedModels".into(), json!("not a list"));
        });
        assert!(result.is_err());
        assert_eq!(fs::read_to_string(&path).unwrap(), original);
        assert_eq!(config.settings().banned_models, vec!["a".to_string()]);
    }

    #[cfg(unix)]
    #[test]
    fn saves_are_private_to_the_user() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("new.json");
        let mut config = ConfigFile::load(&path).unwrap();
        config.update(|_| {}).unwrap();
        let mode = fs::metadata(&path).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
    }

    #[test]
    fn the_legacy_single_endpoint_becomes_the_default_instance() {
        let dir = tempfile::tempdir().unwrap();
        let path = write(
            &dir,
            r#"{"providers": {"openai-compatible": {"baseUrl": "http://x"}}, "apiKeys": {"openai-compatible": "k"}}"#,
        );
        let config = ConfigFile::load(&path).unwrap();
        let provider = &config.settings().providers["openai-compatible:default"];
        assert_eq!(provider.name.as_deref(), Some("Default"));
        assert!(config
            .settings()
            .api_keys
            .contains_key("openai-compatible:default"));
        assert!(!config.raw()["providers"]
            .as_object()
            .unwrap()
            .contains_key("openai-compatible"));
    }
}
