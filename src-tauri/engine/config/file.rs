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
    #[error("the config file `{path}` is not valid: {message} at line {line}, column {column}; fix it or remove it (it was left untouched)")]
    Corrupt {
        path: PathBuf,
        message: String,
        line: usize,
        column: usize,
    },
    #[error("the config file `{path}` must hold a JSON object at the top level; fix it or remove it (it was left untouched)")]
    NotAnObject { path: PathBuf },
    #[error("cannot save the config file `{path}`: {source}")]
    Unwritable { path: PathBuf, source: io::Error },
    #[error("the config file `{path}` is read-only, so this change was not saved; make it writable (`chmod u+w`) to change settings from modelrelay, or edit it by hand (it was left untouched)")]
    ReadOnly { path: PathBuf },
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

    /// Reads the file again after an edit made outside the engine. A valid edit replaces this
    /// value (`true` when anything changed); on an error this value stays as it was.
    pub fn reload(&mut self) -> Result<bool, ConfigError> {
        let fresh = Self::load(&self.path)?;
        if fresh.raw == self.raw {
            return Ok(false);
        }
        *self = fresh;
        Ok(true)
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

    /// Applies `change` to the JSON document on disk, checks that it still reads as settings,
    /// and saves it atomically. The file is read again first, so edits typed into it since it
    /// was loaded are kept, and a file that no longer parses is refused. On any error the file
    /// and this value stay as they were.
    pub fn update(
        &mut self,
        change: impl FnOnce(&mut Map<String, Value>),
    ) -> Result<(), ConfigError> {
        let mut raw = Self::load(&self.path)?.raw;
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

/// The file a save must replace: `path` itself, or the end of its chain of symlinks, so that
/// a linked config stays a link and its target gets the change. A dangling link names the
/// file to create.
pub(crate) fn link_target(path: &Path) -> io::Result<PathBuf> {
    let mut current = path.to_path_buf();
    // The usual limit of the OS, so a loop of links ends with an error.
    for _ in 0..40 {
        match fs::symlink_metadata(&current) {
            Ok(meta) if meta.file_type().is_symlink() => {
                let link = fs::read_link(&current)?;
                current = match current.parent() {
                    Some(parent) => parent.join(link),
                    None => link,
                };
            }
            Ok(_) => return Ok(current),
            Err(error) if error.kind() == io::ErrorKind::NotFound => return Ok(current),
            Err(error) => return Err(error),
        }
    }
    Err(io::Error::other("too many levels of symbolic links"))
}

/// Temp file beside the target, fsync, rename over the target, fsync the directory. A symlink
/// is written through to its target; a read-only target is refused, not replaced. The temp
/// file is created with mode 0600, so the config never becomes world-readable.
pub(crate) fn write_atomically(path: &Path, raw: &Map<String, Value>) -> Result<(), ConfigError> {
    let unwritable = |source: io::Error| ConfigError::Unwritable {
        path: path.to_path_buf(),
        source,
    };
    let target = link_target(path).map_err(unwritable)?;
    // A rename would replace a read-only file (the directory is what is writable), so the
    // file's own permission is checked: the user set it to keep the file as it is.
    if fs::metadata(&target).is_ok_and(|meta| meta.permissions().readonly()) {
        return Err(ConfigError::ReadOnly { path: target });
    }
    let directory = match target.parent() {
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
    temp.persist(&target)
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
    fn an_update_keeps_what_was_typed_into_the_file_since_it_was_loaded() {
        let dir = tempfile::tempdir().unwrap();
        let path = write(&dir, r#"{"bannedModels": []}"#);
        let mut config = ConfigFile::load(&path).unwrap();
        fs::write(
            &path,
            r#"{"bannedModels": [], "handEdit": 1, "providers": {"groq": {"enabled": false}}}"#,
        )
        .unwrap();
        config
            .update(|raw| {
                raw.insert("pinningMode".into(), json!("exact"));
            })
            .unwrap();
        let saved: Value = serde_json::from_slice(&fs::read(&path).unwrap()).unwrap();
        assert_eq!(saved["handEdit"], json!(1));
        assert_eq!(saved["providers"]["groq"]["enabled"], json!(false));
        assert_eq!(saved["pinningMode"], json!("exact"));
        assert_eq!(config.raw()["handEdit"], json!(1));
    }

    #[test]
    fn an_update_is_refused_when_the_file_no_longer_parses() {
        let dir = tempfile::tempdir().unwrap();
        let path = write(&dir, r#"{"bannedModels": []}"#);
        let mut config = ConfigFile::load(&path).unwrap();
        fs::write(&path, "{\"bannedModels\": [,").unwrap();
        let error = config
            .update(|raw| {
                raw.insert("pinningMode".into(), json!("exact"));
            })
            .unwrap_err();
        assert!(matches!(error, ConfigError::Corrupt { .. }), "{error}");
        let message = error.to_string();
        assert!(message.contains("config.json") && message.contains("fix it or remove it"));
        assert_eq!(fs::read_to_string(&path).unwrap(), "{\"bannedModels\": [,");
    }

    #[cfg(unix)]
    #[test]
    fn a_read_only_file_is_refused_and_left_untouched() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let original = r#"{"bannedModels": ["a"]}"#;
        let path = write(&dir, original);
        fs::set_permissions(&path, fs::Permissions::from_mode(0o444)).unwrap();
        let mut config = ConfigFile::load(&path).unwrap();
        let error = config.update(|raw| {
            raw.insert("bannedModels".into(), json!([]));
        });
        let error = error.unwrap_err();
        assert!(matches!(error, ConfigError::ReadOnly { .. }), "{error}");
        assert!(error.to_string().contains("config.json"), "{error}");
        assert_eq!(fs::read_to_string(&path).unwrap(), original);
        let mode = fs::metadata(&path).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o444);
        assert_eq!(config.settings().banned_models, vec!["a".to_string()]);
    }

    #[cfg(unix)]
    #[test]
    fn a_save_writes_through_a_symlink_to_its_target() {
        let dir = tempfile::tempdir().unwrap();
        fs::create_dir(dir.path().join("dotfiles")).unwrap();
        let target = dir.path().join("dotfiles").join("real.json");
        fs::write(&target, r#"{"bannedModels": []}"#).unwrap();
        let link = dir.path().join("config.json");
        std::os::unix::fs::symlink("dotfiles/real.json", &link).unwrap();
        let mut config = ConfigFile::load(&link).unwrap();
        config
            .update(|raw| {
                raw.insert("bannedModels".into(), json!(["b"]));
            })
            .unwrap();
        assert!(fs::symlink_metadata(&link)
            .unwrap()
            .file_type()
            .is_symlink());
        let saved: Value = serde_json::from_slice(&fs::read(&target).unwrap()).unwrap();
        assert_eq!(saved["bannedModels"], json!(["b"]));
        let leftovers: Vec<_> = fs::read_dir(dir.path().join("dotfiles"))
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(leftovers, ["real.json"]);
    }

    #[test]
    fn a_reload_picks_up_a_valid_edit_and_keeps_the_old_value_on_a_broken_one() {
        let dir = tempfile::tempdir().unwrap();
        let path = write(&dir, r#"{"bannedModels": []}"#);
        let mut config = ConfigFile::load(&path).unwrap();
        assert!(!config.reload().unwrap(), "nothing changed yet");
        fs::write(&path, r#"{"bannedModels": ["x"]}"#).unwrap();
        assert!(config.reload().unwrap());
        assert_eq!(config.settings().banned_models, vec!["x".to_string()]);
        fs::write(&path, "{").unwrap();
        assert!(config.reload().is_err());
        assert_eq!(config.settings().banned_models, vec!["x".to_string()]);
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
