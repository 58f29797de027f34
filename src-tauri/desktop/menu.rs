//! The tray icon and its menu. It renders `system::tray_model::TrayModel` into one menu built
//! once: texts, checks and the icon change in place, and model lines are inserted or removed
//! only when their number changes, so the menu neither flickers nor leaks items. Clicks become
//! `system::shell` calls.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use tauri::image::Image;
use tauri::menu::{CheckMenuItem, IsMenuItem, Menu, MenuEvent, MenuItem, PredefinedMenuItem};
use tauri::tray::{MouseButton, MouseButtonState, TrayIcon, TrayIconBuilder, TrayIconEvent};
use tauri::{AppHandle, Manager, Wry};
use tauri_plugin_clipboard_manager::ClipboardExt;

use crate::system::shell;
use crate::system::tray_model::{self, IconState, TrayModel, TOP_MODELS};

use super::{window, Shell};

const ICON: &[u8] = include_bytes!("../../icons/tray.png");
const ICON_DIMMED: &[u8] = include_bytes!("../../icons/tray-dimmed.png");
/// Menu position of the first model line (after the header and a separator).
const FIRST_MODEL: usize = 2;
/// Rankings change on health events; the menu follows at most this often.
const REDRAW_EVERY: Duration = Duration::from_secs(1);
/// Cooldowns end without an event; look again this often.
const RECHECK_EVERY: Duration = Duration::from_secs(15);

/// What the menu shows now, so a redraw touches only what changed.
#[derive(Default)]
struct Shown {
    model: Option<TrayModel>,
    /// Row id behind each visible model line.
    rows: Vec<String>,
}

pub struct Tray {
    icon: TrayIcon,
    menu: Menu<Wry>,
    header: MenuItem<Wry>,
    /// The model lines, created once; the first `shown.rows.len()` are in the menu.
    slots: Vec<CheckMenuItem<Wry>>,
    /// Shown instead of model lines while none is ranked.
    empty: MenuItem<Wry>,
    unpin: MenuItem<Wry>,
    pub autostart: CheckMenuItem<Wry>,
    pub update: MenuItem<Wry>,
    shown: Mutex<Shown>,
}

fn image(bytes: &[u8]) -> tauri::Result<Image<'_>> {
    Image::from_bytes(bytes)
}

impl Tray {
    pub fn build(app: &AppHandle, shell: &Shell) -> tauri::Result<Self> {
        let header = MenuItem::with_id(app, "header", "modelrelay", false, None::<&str>)?;
        let slots = (0..TOP_MODELS)
            .map(|i| {
                CheckMenuItem::with_id(app, format!("model-{i}"), "", true, false, None::<&str>)
            })
            .collect::<tauri::Result<Vec<_>>>()?;
        let empty = MenuItem::with_id(
            app,
            "empty",
            "No model ranked yet: add an API key in settings",
            false,
            None::<&str>,
        )?;
        let unpin = MenuItem::with_id(app, "unpin", "Unpin", false, None::<&str>)?;
        let open = MenuItem::with_id(app, "open", "Open settings", true, None::<&str>)?;
        let copy = MenuItem::with_id(
            app,
            "copy",
            format!("Copy base URL ({})", shell::base_url(&shell.state)),
            true,
            None::<&str>,
        )?;
        let autostart = CheckMenuItem::with_id(
            app,
            "autostart",
            "Start on login",
            true,
            shell::autostart_wanted(&shell.state),
            None::<&str>,
        )?;
        let update = MenuItem::with_id(
            app,
            "update",
            tray_model::update_label(&shell.updates.status()),
            true,
            None::<&str>,
        )?;
        let quit = MenuItem::with_id(app, "quit", "Quit", true, None::<&str>)?;
        let separators = (0..3)
            .map(|_| PredefinedMenuItem::separator(app))
            .collect::<tauri::Result<Vec<_>>>()?;
        let items: [&dyn IsMenuItem<Wry>; 11] = [
            &header,
            &separators[0],
            &empty,
            &unpin,
            &separators[1],
            &open,
            &copy,
            &autostart,
            &update,
            &separators[2],
            &quit,
        ];
        let menu = Menu::with_items(app, &items)?;
        let icon = TrayIconBuilder::with_id("main")
            .icon(image(ICON_DIMMED)?)
            .tooltip("modelrelay")
            .menu(&menu)
            // Windows opens the window on a left click; elsewhere a click opens the menu.
            .show_menu_on_left_click(!cfg!(windows))
            .on_menu_event(on_menu_event)
            .on_tray_icon_event(|tray, event| {
                if let TrayIconEvent::Click {
                    button: MouseButton::Left,
                    button_state: MouseButtonState::Up,
                    ..
                } = event
                {
                    if cfg!(windows) {
                        window::show_settings(tray.app_handle());
                    }
                }
            })
            .build(app)?;
        let tray = Self {
            icon,
            menu,
            header,
            slots,
            empty,
            unpin,
            autostart,
            update,
            shown: Mutex::new(Shown::default()),
        };
        tray.render(&shell::tray(&shell.state))?;
        Ok(tray)
    }

    /// Shows `model`, changing only what differs from what is on screen.
    pub fn render(&self, model: &TrayModel) -> tauri::Result<()> {
        let mut shown = self.shown.lock().unwrap_or_else(|e| e.into_inner());
        if shown.model.as_ref() == Some(model) {
            return Ok(());
        }
        let before = shown.rows.len();
        let after = model.models.len().min(self.slots.len());
        if before == 0 && after > 0 {
            self.menu.remove(&self.empty)?;
        }
        for (i, slot) in self.slots.iter().enumerate().take(after).skip(before) {
            self.menu.insert(slot, FIRST_MODEL + i)?;
        }
        for slot in self.slots.iter().take(before).skip(after) {
            self.menu.remove(slot)?;
        }
        if before > 0 && after == 0 {
            self.menu.insert(&self.empty, FIRST_MODEL)?;
        }
        let old = shown.model.take();
        for (i, entry) in model.models.iter().take(after).enumerate() {
            let slot = &self.slots[i];
            let old_entry = old.as_ref().and_then(|m| m.models.get(i));
            if old_entry.map(|e| &e.label) != Some(&entry.label) {
                slot.set_text(&entry.label)?;
            }
            // Always: a click toggles the check by itself, whatever the pin became.
            slot.set_checked(entry.pinned)?;
        }
        if old.as_ref().map(|m| &m.header) != Some(&model.header) {
            self.header.set_text(&model.header)?;
        }
        if old.as_ref().map(|m| &m.unpin) != Some(&model.unpin) {
            self.unpin
                .set_text(model.unpin.as_deref().unwrap_or("Unpin"))?;
            self.unpin.set_enabled(model.unpin.is_some())?;
        }
        if old.as_ref().map(|m| &m.tooltip) != Some(&model.tooltip) {
            self.icon.set_tooltip(Some(&model.tooltip))?;
        }
        if old.as_ref().map(|m| m.icon) != Some(model.icon) {
            let bytes = match model.icon {
                IconState::Active => ICON,
                IconState::Dimmed => ICON_DIMMED,
            };
            self.icon.set_icon(Some(image(bytes)?))?;
        }
        shown.rows = model
            .models
            .iter()
            .take(after)
            .map(|m| m.row_id.clone())
            .collect();
        shown.model = Some(model.clone());
        Ok(())
    }

    /// Forgets what is on screen, so the next render rewrites every line (after a click
    /// toggled a check by itself).
    pub fn invalidate(&self) {
        self.shown.lock().unwrap_or_else(|e| e.into_inner()).model = None;
    }

    fn row_at(&self, slot: usize) -> Option<String> {
        self.shown
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .rows
            .get(slot)
            .cloned()
    }
}

fn refresh(shell: &Shell, tray: &Tray) {
    if let Err(error) = tray.render(&shell::tray(&shell.state)) {
        tracing::warn!("cannot update the tray menu: {error}");
    }
}

/// Redraws the tray when rankings, health or settings change (at most once a second), and
/// every few seconds for cooldowns that end silently. Stops with the engine.
pub fn follow_rankings(_app: AppHandle, shell: Arc<Shell>, tray: Arc<Tray>) {
    let mut health = shell.state.health.subscribe();
    let mut catalog = shell.state.catalog.subscribe();
    let mut settings = shell.state.config.subscribe();
    tauri::async_runtime::spawn(async move {
        loop {
            tokio::select! {
                () = shell.stopping.cancelled() => break,
                changed = health.changed() => if changed.is_err() { break },
                changed = catalog.changed() => if changed.is_err() { break },
                changed = settings.changed() => if changed.is_err() { break },
                () = tokio::time::sleep(RECHECK_EVERY) => {}
            }
            refresh(&shell, &tray);
            tokio::select! {
                () = shell.stopping.cancelled() => break,
                () = tokio::time::sleep(REDRAW_EVERY) => {}
            }
        }
    });
}

fn on_menu_event(app: &AppHandle, event: MenuEvent) {
    let Some(shell) = app.try_state::<Arc<Shell>>().map(|s| s.inner().clone()) else {
        return;
    };
    let id = event.id().as_ref();
    match id {
        "open" => window::show_settings(app),
        "quit" => super::quit(app, false),
        "copy" => {
            let url = shell::base_url(&shell.state);
            if let Err(error) = app.clipboard().write_text(url) {
                tracing::warn!("cannot copy the base URL: {error}");
            }
        }
        "update" => super::updater::on_click(app, &shell),
        "autostart" => {
            let wanted = !shell::autostart_wanted(&shell.state);
            tauri::async_runtime::spawn(async move {
                if let Err(error) = shell::set_autostart_wanted(&shell.state, wanted).await {
                    tracing::warn!("cannot change start on login: {error}");
                }
                // The config watcher applies it and sets the check to the real state.
            });
        }
        "unpin" => spawn_and_refresh(
            shell,
            |shell| async move { shell::unpin(&shell.state).await },
        ),
        _ => {
            let Some(slot) = id.strip_prefix("model-").and_then(|i| i.parse().ok()) else {
                return;
            };
            // Not on this (the main) thread: a redraw may hold `shown` while it waits for
            // the main thread to change a menu item.
            spawn_and_refresh(shell, move |shell| async move {
                match shell.tray().and_then(|tray| tray.row_at(slot)) {
                    Some(row) => shell::pin(&shell.state, &row).await,
                    None => Ok(()),
                }
            });
        }
    }
}

fn spawn_and_refresh<F, Fut>(shell: Arc<Shell>, action: F)
where
    F: FnOnce(Arc<Shell>) -> Fut + Send + 'static,
    Fut: std::future::Future<Output = Result<(), shell::ShellError>> + Send,
{
    tauri::async_runtime::spawn(async move {
        if let Err(error) = action(shell.clone()).await {
            tracing::warn!("{error}");
        }
        if let Some(tray) = shell.tray() {
            tray.invalidate();
            refresh(&shell, &tray);
        }
    });
}
