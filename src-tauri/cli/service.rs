//! Start-on-login and updates from the command line: `autostart`, `install|start|uninstall
//! --autostart`, `autoupdate` and `update`, honest about what a headless build can do.

use std::path::Path;
use std::process::{Command as Process, Stdio};

use serde_json::{json, Value};

use crate::engine::config::{ConfigFile, ConfigStore};

use super::output;
use super::CliError;

/// `modelrelay autostart [--install|--start|--uninstall|--status]`.
#[derive(Debug, Clone, Copy, Default, clap::Args)]
#[group(multiple = false)]
pub struct AutostartAction {
    /// Start modelrelay when you log in (and start it now).
    #[arg(long)]
    pub install: bool,
    /// Start the router in the background now.
    #[arg(long)]
    pub start: bool,
    /// Stop starting modelrelay when you log in.
    #[arg(long)]
    pub uninstall: bool,
    /// Say whether modelrelay starts when you log in (the default).
    #[arg(long)]
    pub status: bool,
}

fn current_exe() -> Result<std::path::PathBuf, CliError> {
    std::env::current_exe()
        .map_err(|e| CliError::Failed(format!("cannot find this program's path: {e}")))
}

/// Registers the login item (the same mechanism the desktop app's autostart plugin uses) and,
/// when `start_now`, starts the router in the background.
pub fn install_autostart(start_now: bool) -> Result<(), CliError> {
    let exe = current_exe()?;
    crate::system::autostart::install(&exe).map_err(|e| CliError::Failed(e.to_string()))?;
    output::line(&format!(
        "modelrelay will start when you log in ({}).",
        autostart_location()
    ));
    if start_now {
        start_background(&exe)?;
    }
    Ok(())
}

pub fn uninstall_autostart() -> Result<(), CliError> {
    crate::system::autostart::uninstall().map_err(|e| CliError::Failed(e.to_string()))?;
    output::line("modelrelay will no longer start when you log in.");
    Ok(())
}

pub fn autostart_status() -> Result<(), CliError> {
    let installed =
        crate::system::autostart::is_installed().map_err(|e| CliError::Failed(e.to_string()))?;
    output::line(if installed {
        "Start on login: enabled"
    } else {
        "Start on login: disabled"
    });
    Ok(())
}

/// Where the login item lives on this platform, for messages.
fn autostart_location() -> &'static str {
    if cfg!(target_os = "macos") {
        "a LaunchAgent in ~/Library/LaunchAgents"
    } else if cfg!(windows) {
        "the Run key of your user registry"
    } else {
        "an entry in ~/.config/autostart"
    }
}

/// Starts `modelrelay --headless` detached, unless a router already answers on the port.
pub fn start_background(exe: &Path) -> Result<(), CliError> {
    if std::net::TcpStream::connect(("127.0.0.1", crate::engine::DEFAULT_PORT)).is_ok() {
        output::line(&format!(
            "A router is already running on port {}.",
            crate::engine::DEFAULT_PORT
        ));
        return Ok(());
    }
    Process::new(exe)
        .arg("--headless")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .map_err(|e| CliError::Failed(format!("cannot start the router: {e}")))?;
    output::line(&format!(
        "Started the router in the background on http://127.0.0.1:{}/",
        crate::engine::DEFAULT_PORT
    ));
    Ok(())
}

pub fn autostart(action: AutostartAction) -> Result<(), CliError> {
    if action.install {
        install_autostart(true)
    } else if action.start {
        start_background(&current_exe()?)
    } else if action.uninstall {
        uninstall_autostart()
    } else {
        autostart_status()
    }
}

/// `modelrelay autoupdate [--enable|--disable|--status] [--interval H]`.
#[derive(Debug, Clone, Copy, Default, clap::Args)]
pub struct AutoupdateArgs {
    #[arg(long, conflicts_with = "disable")]
    pub enable: bool,
    #[arg(long)]
    pub disable: bool,
    #[arg(long)]
    pub status: bool,
    /// Hours between update checks (at least 1).
    #[arg(long, value_name = "HOURS")]
    pub interval: Option<f64>,
}

pub fn autoupdate(config_path: &Path, args: AutoupdateArgs) -> Result<(), CliError> {
    if let Some(hours) = args.interval {
        if !hours.is_finite() || hours < 1.0 {
            return Err(CliError::Usage("--interval must be at least 1 hour".into()));
        }
    }
    let config = ConfigStore::new(ConfigFile::load(config_path)?);
    if args.enable || args.disable || args.interval.is_some() {
        config.update(|raw| {
            let section = raw.entry("autoUpdate").or_insert_with(|| json!({}));
            if !section.is_object() {
                *section = json!({});
            }
            if let Value::Object(section) = section {
                if args.enable || args.disable {
                    section.insert("enabled".into(), json!(args.enable));
                }
                if let Some(hours) = args.interval {
                    section.insert("intervalHours".into(), json!(hours));
                }
            }
        })?;
    }
    let settings = config.settings();
    output::line(&format!(
        "Automatic updates: {}, every {} hours",
        if settings.auto_update.enabled {
            "enabled"
        } else {
            "disabled"
        },
        settings.auto_update.interval_hours
    ));
    if !cfg!(feature = "desktop") {
        output::line("This is a headless build: it checks for updates with `modelrelay update` but installs them only through your package manager.");
    }
    Ok(())
}

/// `modelrelay update`: reads the signed update manifest and says whether a newer version
/// exists. Installing is the desktop app's job (its updater verifies the signature); a
/// headless build points at the package instead of replacing itself.
pub async fn update(config_path: &Path) -> Result<(), CliError> {
    let settings = ConfigFile::load(config_path)?.settings().clone();
    let endpoint = settings.auto_update.endpoint();
    let http = reqwest::Client::builder()
        .timeout(std::time::Duration::from_secs(20))
        .build()
        .map_err(|e| CliError::Failed(e.to_string()))?;
    let manifest: Value = http
        .get(&endpoint)
        .send()
        .await
        .and_then(reqwest::Response::error_for_status)
        .map_err(|e| {
            CliError::Failed(format!(
                "cannot read the update manifest at {endpoint}: {}",
                crate::engine::providers::describe_http_error(&e)
            ))
        })?
        .json()
        .await
        .map_err(|e| {
            CliError::Failed(format!(
                "the update manifest at {endpoint} is not JSON: {e}"
            ))
        })?;
    let latest = manifest["version"]
        .as_str()
        .map(|v| v.trim_start_matches('v').to_string())
        .ok_or_else(|| {
            CliError::Failed(format!(
                "the update manifest at {endpoint} names no version"
            ))
        })?;
    let current = env!("CARGO_PKG_VERSION");
    if !is_newer(&latest, current) {
        output::line(&format!("modelrelay {current} is up to date."));
        return Ok(());
    }
    output::line(&format!(
        "modelrelay {latest} is available (this is {current})."
    ));
    if let Some(notes) = manifest["notes"].as_str() {
        output::line(notes);
    }
    if cfg!(feature = "desktop") {
        output::line("Choose “Check for updates” in the tray menu to install it; it is applied when modelrelay restarts.");
    } else {
        output::line("This headless build does not replace itself: install the new package with your package manager.");
    }
    Ok(())
}

/// `1.10.0` is newer than `1.9.3`; pre-release suffixes are ignored.
pub fn is_newer(candidate: &str, current: &str) -> bool {
    let parts = |v: &str| -> Vec<u64> {
        v.split(['-', '+'])
            .next()
            .unwrap_or("")
            .split('.')
            .map(|p| p.parse().unwrap_or(0))
            .collect()
    };
    parts(candidate) > parts(current)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn compares_versions_numerically() {
        assert!(is_newer("1.10.0", "1.9.3"));
        assert!(is_newer("0.2.0", "0.1.9"));
        assert!(!is_newer("0.1.0", "0.1.0"));
        assert!(!is_newer("0.1.0-beta", "0.1.0"));
    }
}
