//! The shell's windows: the settings window (the engine's own page over HTTP, hidden rather
//! than closed) and the notice that explains why the router could not start.

use std::sync::Arc;

use tauri::{AppHandle, Manager, WebviewUrl, WebviewWindowBuilder};

use super::Shell;

pub const SETTINGS: &str = "settings";
pub const NOTICE: &str = "notice";

/// Shows the settings window, creating it on first use, and brings it to the front.
pub fn show_settings(app: &AppHandle) {
    if let Some(window) = app.get_webview_window(SETTINGS) {
        let _ = window.unminimize();
        let _ = window.show();
        let _ = window.set_focus();
        return;
    }
    let Some(shell) = app.try_state::<Arc<Shell>>() else {
        return;
    };
    let url = format!("http://{}/", shell.state.public_host());
    let url = match &shell.state.access.token {
        Some(token) => format!("{url}?token={token}"),
        None => url,
    };
    let Ok(url) = url.parse() else {
        tracing::error!("the settings page address `{url}` does not parse");
        return;
    };
    let built = WebviewWindowBuilder::new(app, SETTINGS, WebviewUrl::External(url))
        .title("modelrelay")
        .inner_size(1180.0, 800.0)
        .min_inner_size(720.0, 480.0)
        .on_page_load(|_, payload| {
            if matches!(payload.event(), tauri::webview::PageLoadEvent::Finished) {
                tracing::info!("settings window loaded {}", payload.url());
            }
        })
        .build();
    match built {
        Ok(window) => {
            let _ = window.set_focus();
        }
        Err(error) => tracing::error!("cannot open the settings window: {error}"),
    }
}

/// Why the router could not start, in plain words.
pub struct Notice {
    pub title: String,
    pub message: String,
    pub hint: String,
}

pub fn show_notice(app: &AppHandle, notice: &Notice) -> tauri::Result<()> {
    // The page sets these as text, never as HTML.
    let query = tauri::Url::parse_with_params(
        "http://notice/",
        [
            ("title", notice.title.as_str()),
            ("message", notice.message.as_str()),
            ("hint", notice.hint.as_str()),
        ],
    )
    .ok()
    .and_then(|url| url.query().map(str::to_string))
    .unwrap_or_default();
    WebviewWindowBuilder::new(
        app,
        NOTICE,
        WebviewUrl::App(format!("notice.html?{query}").into()),
    )
    .title(notice.title.as_str())
    .inner_size(560.0, 300.0)
    .resizable(false)
    .center()
    .build()?;
    Ok(())
}
