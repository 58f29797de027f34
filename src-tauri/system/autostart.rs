//! The OS start-on-login entry: an XDG autostart file on Linux, a LaunchAgent on macOS, a Run
//! key on Windows. It goes through `auto-launch` with the same name and options as
//! `tauri-plugin-autostart`, so the headless CLI and the tray see and change one entry. It must
//! not name Tauri: the CLI uses it in builds without the desktop libraries.

use std::path::{Path, PathBuf};

use auto_launch::{AutoLaunch, AutoLaunchBuilder, LinuxLaunchMode, MacOSLaunchMode};

/// The entry's name (`~/.config/autostart/modelrelay.desktop` on Linux). The desktop shell
/// gives the plugin the same name.
pub const APP_NAME: &str = "modelrelay";

#[derive(Debug, thiserror::Error)]
pub enum AutostartError {
    #[error("cannot start `{}` on login: {reason}", path.display())]
    BadExecutable { path: PathBuf, reason: &'static str },
    #[error("could not change the start-on-login entry `{APP_NAME}`: {0}; check that your user's autostart folder (on Linux `~/.config/autostart`) is writable")]
    Os(String),
}

fn launcher(exe: &Path) -> Result<AutoLaunch, AutostartError> {
    let bad = |reason| AutostartError::BadExecutable {
        path: exe.to_path_buf(),
        reason,
    };
    if !exe.is_absolute() {
        return Err(bad("the path must be absolute"));
    }
    let path = exe.to_str().ok_or_else(|| bad("the path is not UTF-8"))?;
    AutoLaunchBuilder::new()
        .set_app_name(APP_NAME)
        .set_app_path(path)
        .set_linux_launch_mode(LinuxLaunchMode::XdgAutostart)
        .set_macos_launch_mode(MacOSLaunchMode::LaunchAgent)
        .build()
        .map_err(|error| AutostartError::Os(error.to_string()))
}

/// Removing and checking the entry go by name only; the path is needed to build a launcher.
fn any_launcher() -> Result<AutoLaunch, AutostartError> {
    let exe = std::env::current_exe()
        .ok()
        .filter(|p| p.is_absolute() && p.to_str().is_some())
        .unwrap_or_else(|| {
            PathBuf::from(if cfg!(windows) {
                r"C:\modelrelay"
            } else {
                "/modelrelay"
            })
        });
    launcher(&exe)
}

/// Starts `exe` (with no arguments) when the user logs in. Replaces an existing entry.
pub fn install(exe: &Path) -> Result<(), AutostartError> {
    launcher(exe)?
        .enable()
        .map_err(|error| AutostartError::Os(error.to_string()))
}

/// Removes the entry; removing an entry that is not there succeeds.
pub fn uninstall() -> Result<(), AutostartError> {
    match any_launcher()?.disable() {
        Ok(()) => Ok(()),
        Err(auto_launch::Error::Io(error)) if error.kind() == std::io::ErrorKind::NotFound => {
            Ok(())
        }
        Err(error) => Err(AutostartError::Os(error.to_string())),
    }
}

/// Whether an entry named `modelrelay` exists.
pub fn is_installed() -> Result<bool, AutostartError> {
    any_launcher()?
        .is_enabled()
        .map_err(|error| AutostartError::Os(error.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn relative_paths_are_refused_before_touching_the_system() {
        let error = install(Path::new("bin/modelrelay")).unwrap_err();
        assert!(matches!(error, AutostartError::BadExecutable { .. }));
        assert!(error.to_string().contains("`bin/modelrelay`"), "{error}");
    }
}
