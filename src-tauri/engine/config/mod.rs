//! The config file (`~/.modelrelay.json`): loading, typed settings, env overrides and atomic saves.
//! It owns the file on disk and loads hand edits into the running engine; it must never
//! overwrite a file it could not parse, a read-only file, or edits typed into the file.

mod env;
mod file;
mod settings;
mod store;
mod watch;

pub use env::{EnvOverrides, EnvSource, DEFAULT_OPENAI_COMPATIBLE};
pub(crate) use file::write_atomically;
pub use file::{default_config_path, ConfigError, ConfigFile};
pub use settings::{
    ApiKeys, AutoUpdate, Autostart, Hedging, Pin, PinningMode, ProviderSettings, Settings,
    Timeouts, DEFAULT_MAX_ATTEMPTS, DEFAULT_MAX_BODY_BYTES, DEFAULT_PING_INTERVAL_MINUTES,
    DEFAULT_QUALITY_FLOOR,
};
pub use store::ConfigStore;
pub use watch::watch_file;
