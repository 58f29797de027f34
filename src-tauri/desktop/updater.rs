//! Signed updates through tauri-plugin-updater. A background task checks on the config's
//! `autoUpdate` schedule (or when the tray asks), downloads and verifies an update, and keeps
//! it until the user quits or restarts; it is installed only after the router has stopped,
//! so checking never blocks the router and installing never cuts a live request.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tauri::AppHandle;
use tauri_plugin_updater::{Update, UpdaterExt};
use tokio::sync::Notify;
use tokio::time::Instant;

use crate::system::shell;
use crate::system::tray_model::{self, UpdateStatus};

use super::Shell;

/// Overrides the manifest address (tests, mirrors, staging); `autoUpdate.endpoint` in the
/// config does too, and `tauri.conf.json` holds the default.
const ENDPOINT_VAR: &str = "MODELRELAY_UPDATE_ENDPOINT";
/// The first automatic check waits until the app has settled.
const FIRST_CHECK_AFTER: Duration = Duration::from_secs(60);
const REQUEST_TIMEOUT: Duration = Duration::from_secs(60);

#[derive(Default)]
pub struct Updates {
    status: Mutex<UpdateStatus>,
    /// A downloaded, verified update waiting for quit or restart.
    pending: Mutex<Option<(Update, Vec<u8>)>>,
    checking: AtomicBool,
    check_now: Notify,
}

impl Updates {
    pub fn status(&self) -> UpdateStatus {
        self.status
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    /// Installs a pending update; call only once the router has stopped.
    pub fn install_pending(&self) {
        let pending = self
            .pending
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .take();
        let Some((update, bytes)) = pending else {
            return;
        };
        match update.install(bytes) {
            Ok(()) => tracing::info!(
                "installed modelrelay {}; it runs from the next start",
                update.version
            ),
            Err(error) => tracing::error!(
                "could not install modelrelay {}: {error}; install the new package by hand",
                update.version
            ),
        }
    }
}

fn set_status(shell: &Shell, status: UpdateStatus) {
    let label = tray_model::update_label(&status);
    *shell
        .updates
        .status
        .lock()
        .unwrap_or_else(|e| e.into_inner()) = status;
    if let Some(tray) = shell.tray() {
        let _ = tray.update.set_text(label);
    }
}

/// The tray's "Check for updates" line: restarts into a downloaded update, or checks now.
pub fn on_click(app: &AppHandle, shell: &Shell) {
    match shell.updates.status() {
        UpdateStatus::Ready { .. } => super::quit(app, true),
        UpdateStatus::Unmanaged => {}
        _ => shell.updates.check_now.notify_one(),
    }
}

/// Runs the periodic check until the engine stops; follows `autoUpdate` as it changes.
pub fn schedule(app: AppHandle, shell: Arc<Shell>) {
    // A binary that no package installed (`cargo run`, `cargo install`) is never replaced
    // by the updater; setting the endpoint variable says "test the updater anyway".
    let packaged = tauri::utils::platform::bundle_type().is_some();
    if !packaged && std::env::var_os(ENDPOINT_VAR).is_none() {
        set_status(&shell, UpdateStatus::Unmanaged);
        return;
    }
    let mut settings = shell.state.config.subscribe();
    tauri::async_runtime::spawn(async move {
        let mut due = Instant::now() + FIRST_CHECK_AFTER;
        loop {
            let interval = shell::update_interval(&settings.borrow_and_update().auto_update);
            if interval.is_none() && shell.updates.status() == UpdateStatus::Idle {
                set_status(&shell, UpdateStatus::Disabled);
            }
            if interval.is_some() && shell.updates.status() == UpdateStatus::Disabled {
                set_status(&shell, UpdateStatus::Idle);
            }
            let wait = async {
                match interval {
                    Some(_) => tokio::time::sleep_until(due).await,
                    None => std::future::pending().await,
                }
            };
            tokio::select! {
                () = shell.stopping.cancelled() => break,
                changed = settings.changed() => {
                    if changed.is_err() { break }
                    continue;
                }
                () = shell.updates.check_now.notified() => {}
                () = wait => {}
            }
            check(&app, &shell).await;
            due = Instant::now() + interval.unwrap_or(Duration::from_secs(24 * 3600));
        }
    });
}

async fn check(app: &AppHandle, shell: &Shell) {
    if matches!(shell.updates.status(), UpdateStatus::Ready { .. })
        || shell.updates.checking.swap(true, Ordering::SeqCst)
    {
        return;
    }
    set_status(shell, UpdateStatus::Checking);
    let status = match find_update(app, shell).await {
        Ok(None) => UpdateStatus::UpToDate,
        Ok(Some((update, bytes))) => {
            let version = update.version.clone();
            tracing::info!("modelrelay {version} is downloaded and verified; it is installed when you quit or restart modelrelay");
            *shell
                .updates
                .pending
                .lock()
                .unwrap_or_else(|e| e.into_inner()) = Some((update, bytes));
            UpdateStatus::Ready { version }
        }
        Err(error) => {
            tracing::warn!("update check failed: {error}");
            UpdateStatus::Failed
        }
    };
    set_status(shell, status);
    shell.updates.checking.store(false, Ordering::SeqCst);
}

async fn find_update(
    app: &AppHandle,
    shell: &Shell,
) -> tauri_plugin_updater::Result<Option<(Update, Vec<u8>)>> {
    let mut builder = app.updater_builder().timeout(REQUEST_TIMEOUT);
    let env_override = std::env::var(ENDPOINT_VAR).ok();
    let settings = shell.state.config.settings();
    if let Some(endpoint) = shell::update_endpoint(env_override.as_deref(), &settings.auto_update) {
        let url = endpoint.parse().map_err(|error| {
            tauri_plugin_updater::Error::Network(format!(
                "the update endpoint `{endpoint}` is not a URL ({error}); fix `autoUpdate.endpoint` or {ENDPOINT_VAR}"
            ))
        })?;
        builder = builder.endpoints(vec![url])?;
    }
    let Some(update) = builder.build()?.check().await? else {
        return Ok(None);
    };
    // `download` verifies the signature against the public key in tauri.conf.json.
    let bytes = update.download(|_, _| {}, || {}).await?;
    Ok(Some((update, bytes)))
}
