//! Start on login through tauri-plugin-autostart: applies the config's `autostart.enabled`
//! (set from the tray, the page or the CLI) to the OS, and writes the real OS state back to
//! the config when they differ, so every view shows what will actually happen at login.

use std::sync::Arc;

use tauri::AppHandle;
use tauri_plugin_autostart::ManagerExt;

use crate::system::shell::{self, AutostartStep};

use super::Shell;

fn installed(app: &AppHandle) -> Option<bool> {
    match app.autolaunch().is_enabled() {
        Ok(enabled) => Some(enabled),
        Err(error) => {
            tracing::warn!("cannot read the start-on-login entry: {error}");
            None
        }
    }
}

fn apply(app: &AppHandle, wanted: bool) -> Option<bool> {
    let before = installed(app)?;
    let result = match shell::autostart_step(wanted, before) {
        None => Ok(()),
        Some(AutostartStep::Enable) => app.autolaunch().enable(),
        Some(AutostartStep::Disable) => app.autolaunch().disable(),
    };
    if let Err(error) = result {
        tracing::warn!("cannot change start on login: {error}");
    }
    installed(app)
}

/// At start the OS entry is the truth (the CLI may have changed it while the app was not
/// running); afterwards every config change is applied and the real state reflected back.
pub fn follow_config(app: AppHandle, shell: Arc<Shell>) {
    let mut settings = shell.state.config.subscribe();
    tauri::async_runtime::spawn(async move {
        let mut real = installed(&app);
        loop {
            if let Some(real) = real {
                if real != shell::autostart_wanted(&shell.state) {
                    if let Err(error) = shell::set_autostart_wanted(&shell.state, real).await {
                        tracing::warn!("cannot record the start-on-login state: {error}");
                    }
                }
                if let Some(tray) = shell.tray() {
                    let _ = tray.autostart.set_checked(real);
                }
            }
            tokio::select! {
                () = shell.stopping.cancelled() => break,
                changed = settings.changed() => if changed.is_err() { break },
            }
            let wanted = settings.borrow_and_update().autostart.enabled;
            let app = app.clone();
            real = tokio::task::spawn_blocking(move || apply(&app, wanted))
                .await
                .ok()
                .flatten();
        }
    });
}
