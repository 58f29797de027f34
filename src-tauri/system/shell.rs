//! What the tray and the settings window ask of the engine, as plain functions over `AppState`:
//! pin, unpin, the start-on-login wish, the base URL, the tray's model, the update schedule.
//! They call the admin API's own handlers, so a tray click and a POST from the page behave the
//! same. No GUI types here: the desktop shell only forwards events to these.

use std::sync::Arc;
use std::time::Duration;

use axum::extract::State;

use serde_json::json;

use crate::engine::admin::body::JsonBody;
use crate::engine::admin::{actions, views};
use crate::engine::config::AutoUpdate;
use crate::engine::error::ApiError;
use crate::engine::state::AppState;

use super::tray_model::{self, TrayModel};

#[derive(Debug, thiserror::Error)]
pub enum ShellError {
    #[error(transparent)]
    Engine(#[from] ApiError),
}

/// Pins one row (a `provider/model` row id), as `POST /api/pinned` does.
pub async fn pin(state: &Arc<AppState>, row_id: &str) -> Result<(), ShellError> {
    let body = Ok(JsonBody(json!({ "modelId": row_id })));
    let _pinned_view = actions::set_pin(State(state.clone()), body).await?;
    Ok(())
}

/// Clears the pin, as `DELETE /api/pinned` does.
pub async fn unpin(state: &Arc<AppState>) -> Result<(), ShellError> {
    let _pinned_view = actions::clear_pin(State(state.clone())).await?;
    Ok(())
}

/// Records whether the user wants modelrelay to start on login, as
/// `POST /api/settings {"autostart": {"enabled": …}}` does. The shell applies it to the OS.
pub async fn set_autostart_wanted(state: &Arc<AppState>, enabled: bool) -> Result<(), ShellError> {
    let body = Ok(JsonBody(json!({ "autostart": { "enabled": enabled } })));
    let _settings_view = actions::set_settings(State(state.clone()), body).await?;
    Ok(())
}

pub fn autostart_wanted(state: &AppState) -> bool {
    state.config.settings().autostart.enabled
}

/// What to do to the OS entry so it matches the config; `None` when it already does.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AutostartStep {
    Enable,
    Disable,
}

pub fn autostart_step(wanted: bool, installed: bool) -> Option<AutostartStep> {
    match (wanted, installed) {
        (true, false) => Some(AutostartStep::Enable),
        (false, true) => Some(AutostartStep::Disable),
        _ => None,
    }
}

/// The address agents should use (`http://127.0.0.1:7352/v1`).
pub fn base_url(state: &AppState) -> String {
    format!("http://{}/v1", state.public_host())
}

/// The tray's content for the engine's current rankings.
pub fn tray(state: &AppState) -> TrayModel {
    let view = serde_json::from_value(views::models(state)).unwrap_or_default();
    tray_model::tray_model(&view, env!("CARGO_PKG_VERSION"), tray_model::TOP_MODELS)
}

/// How often to check for updates; `None` when automatic checks are off. Intervals under an
/// hour (or nonsense) are read as one hour, so a typo never turns into a request storm.
pub fn update_interval(auto_update: &AutoUpdate) -> Option<Duration> {
    interval(auto_update.enabled, auto_update.interval_hours)
}

/// The update manifest's address when it is not the one in `tauri.conf.json`: the
/// `MODELRELAY_UPDATE_ENDPOINT` variable (`env_override`) first, then `autoUpdate.endpoint`.
pub fn update_endpoint(env_override: Option<&str>, auto_update: &AutoUpdate) -> Option<String> {
    env_override
        .map(str::to_string)
        .or_else(|| auto_update.endpoint.clone())
        .map(|endpoint| endpoint.trim().to_string())
        .filter(|endpoint| !endpoint.is_empty())
}

fn interval(enabled: bool, hours: f64) -> Option<Duration> {
    if !enabled {
        return None;
    }
    let hours = if hours.is_finite() {
        hours.max(1.0)
    } else {
        24.0
    };
    Some(Duration::from_secs_f64(hours.min(24.0 * 365.0) * 3600.0))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_update_endpoint_comes_from_the_environment_then_the_config() {
        let mut auto_update = AutoUpdate::default();
        assert_eq!(update_endpoint(None, &auto_update), None);
        auto_update.endpoint = Some(" https://mirror.example/latest.json ".into());
        assert_eq!(
            update_endpoint(None, &auto_update).as_deref(),
            Some("https://mirror.example/latest.json")
        );
        assert_eq!(
            update_endpoint(Some("http://127.0.0.1:9/latest.json"), &auto_update).as_deref(),
            Some("http://127.0.0.1:9/latest.json")
        );
        assert_eq!(update_endpoint(Some(""), &AutoUpdate::default()), None);
    }

    #[test]
    fn autostart_steps_only_when_the_os_differs_from_the_wish() {
        assert_eq!(autostart_step(true, false), Some(AutostartStep::Enable));
        assert_eq!(autostart_step(false, true), Some(AutostartStep::Disable));
        assert_eq!(autostart_step(true, true), None);
        assert_eq!(autostart_step(false, false), None);
    }

    #[test]
    fn update_interval_follows_the_config_and_can_be_switched_off() {
        assert_eq!(
            update_interval(&AutoUpdate::default()),
            Some(Duration::from_secs(24 * 3600))
        );
        assert_eq!(interval(true, 6.0), Some(Duration::from_secs(6 * 3600)));
        assert_eq!(interval(true, 0.01), Some(Duration::from_secs(3600)));
        assert_eq!(
            interval(true, f64::NAN),
            Some(Duration::from_secs(24 * 3600))
        );
        assert_eq!(interval(false, 6.0), None);
    }
}
