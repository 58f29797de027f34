//! The desktop shell (feature `desktop`): one process that runs the same engine as the headless
//! binary, plus a tray, a settings window and the autostart, updater, single-instance and
//! clipboard plugins. It only translates GUI events into calls on the engine's API (through
//! `system::shell`) and must never hold routing or config logic of its own.

mod autostart;
mod menu;
mod updater;
mod window;

use std::panic::AssertUnwindSafe;
use std::process::ExitCode;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

use tauri::{AppHandle, Manager, RunEvent, WindowEvent};

use crate::cli::{self, output, Cli};
use crate::engine::state::AppState;
use crate::engine::{self, EngineOptions, RunningEngine, StartError};

/// Set to `1` to open the settings window at start (tests, and users who want it).
const SHOW_SETTINGS_VAR: &str = "MODELRELAY_SHOW_SETTINGS";

/// What the running app holds: the engine and the tray. Managed as Tauri state.
pub(crate) struct Shell {
    pub state: Arc<AppState>,
    engine: Mutex<Option<RunningEngine>>,
    /// Cancelled when the engine shuts down; every task the shell starts watches it.
    pub stopping: tokio_util::sync::CancellationToken,
    pub tray: Mutex<Option<Arc<menu::Tray>>>,
    pub updates: updater::Updates,
    /// True once the user chose Quit or Restart (a pending update may be installed then).
    user_quit: AtomicBool,
}

impl Shell {
    pub fn tray(&self) -> Option<Arc<menu::Tray>> {
        self.tray.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }
}

/// The router could not start; the app shows why and exits with 1 when that window closes.
struct StartFailure;

/// Runs the tray app, or the headless router when there is no display to show it on.
pub fn run(cli: Cli) -> ExitCode {
    if !has_display() {
        tracing::info!("no display (DISPLAY and WAYLAND_DISPLAY are unset): running the router without a window; pass --headless to say so");
        return cli::run(cli);
    }
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(error) => {
            output::error(&format!("cannot start the async runtime: {error}"));
            return ExitCode::FAILURE;
        }
    };
    // Tauri's own tasks and the engine share one runtime, so nothing is started twice.
    tauri::async_runtime::set(runtime.handle().clone());
    let options = cli.engine_options();
    let app = match build(options) {
        Ok(app) => app,
        Err(error) => {
            output::error(&format!("cannot start the desktop app: {error}"));
            return ExitCode::FAILURE;
        }
    };
    let code = app.run_return(on_event);
    drop(runtime);
    ExitCode::from(u8::try_from(code).unwrap_or(1))
}

fn has_display() -> bool {
    if cfg!(any(target_os = "macos", windows)) {
        return true;
    }
    ["DISPLAY", "WAYLAND_DISPLAY"]
        .iter()
        .any(|name| std::env::var_os(name).is_some_and(|v| !v.is_empty()))
}

fn build(options: EngineOptions) -> tauri::Result<tauri::App> {
    // The entry's name is the one `system::autostart` (the CLI) uses.
    let autostart = tauri_plugin_autostart::Builder::new()
        .app_name(crate::system::autostart::APP_NAME)
        .build();
    tauri::Builder::default()
        // First: a second launch hands over to the running app and exits before it
        // would try to bind the router's port.
        .plugin(tauri_plugin_single_instance::init(|app, _argv, _cwd| {
            tracing::info!("modelrelay was launched again; showing the running app");
            window::show_settings(app);
        }))
        .plugin(autostart)
        .plugin(tauri_plugin_updater::Builder::new().build())
        .plugin(tauri_plugin_clipboard_manager::init())
        .setup(move |app| {
            setup(app.handle(), options.clone());
            Ok(())
        })
        .on_window_event(|window, event| match event {
            WindowEvent::CloseRequested { api, .. } if window.label() == window::SETTINGS => {
                // Closing the settings window hides it; the router keeps serving.
                api.prevent_close();
                let _ = window.hide();
            }
            WindowEvent::Destroyed
                if window.label() == window::NOTICE
                    && window.app_handle().try_state::<StartFailure>().is_some() =>
            {
                window.app_handle().exit(1);
            }
            _ => {}
        })
        .build(tauri::generate_context!())
}

/// Starts the engine (after single-instance had its say), then the tray and the watchers.
/// Never fails: a router that cannot start is explained in a window.
fn setup(app: &AppHandle, options: EngineOptions) {
    let first_run = !options.config_path.exists();
    let port = options.port;
    let engine = match tauri::async_runtime::block_on(engine::start(options)) {
        Ok(engine) => engine,
        Err(error) => {
            start_failed(app, &error, port);
            return;
        }
    };
    let shell = Arc::new(Shell {
        state: engine.state().clone(),
        stopping: engine.shutdown_token(),
        engine: Mutex::new(Some(engine)),
        tray: Mutex::new(None),
        updates: updater::Updates::default(),
        user_quit: AtomicBool::new(false),
    });
    app.manage(shell.clone());
    watch_signals(app, &shell);

    // A missing appindicator library panics inside the tray builder instead of failing.
    let tray = std::panic::catch_unwind(AssertUnwindSafe(|| menu::Tray::build(app, &shell)));
    let tray_ok = match tray {
        Ok(Ok(tray)) => {
            let tray = Arc::new(tray);
            *shell.tray.lock().unwrap_or_else(|e| e.into_inner()) = Some(tray.clone());
            menu::follow_rankings(app.clone(), shell.clone(), tray);
            true
        }
        Ok(Err(error)) => {
            tracing::warn!("no tray icon: {error}; use the settings window instead");
            false
        }
        Err(_) => {
            tracing::warn!("no tray icon: the system tray library is missing (on Linux: libayatana-appindicator3-1); use the settings window instead");
            false
        }
    };
    autostart::follow_config(app.clone(), shell.clone());
    updater::schedule(app.clone(), shell.clone());

    let asked = std::env::var(SHOW_SETTINGS_VAR).is_ok_and(|v| v == "1");
    if first_run || asked || !tray_ok {
        window::show_settings(app);
    }
}

fn start_failed(app: &AppHandle, error: &StartError, port: u16) {
    let in_use = matches!(error, StartError::Bind { source, .. } if source.kind() == std::io::ErrorKind::AddrInUse);
    output::error(&error.to_string());
    let notice = if in_use {
        window::Notice {
            title: format!("Port {port} is already in use"),
            message: format!(
                "Another program is listening on port {port}, so modelrelay cannot start its router there."
            ),
            hint: "Quit that program (it may be a modelrelay started from a terminal), or start modelrelay with --port <N> or MODELRELAY_PORT=<N>.".to_string(),
        }
    } else {
        window::Notice {
            title: "modelrelay could not start".to_string(),
            message: error.to_string(),
            hint: String::new(),
        }
    };
    app.manage(StartFailure);
    let handle = app.clone();
    tauri::async_runtime::spawn(async move {
        terminated().await;
        handle.exit(1);
    });
    if let Err(error) = window::show_notice(app, &notice) {
        tracing::error!("cannot show the start failure: {error}");
        app.exit(1);
    }
}

/// SIGTERM and Ctrl-C quit like the menu's Quit, so the router shuts down gracefully.
fn watch_signals(app: &AppHandle, shell: &Shell) {
    let app = app.clone();
    let stopping = shell.stopping.clone();
    tauri::async_runtime::spawn(async move {
        tokio::select! {
            () = terminated() => {
                tracing::info!("shutting down; letting in-flight requests finish");
                app.exit(0);
            }
            () = stopping.cancelled() => {}
        }
    });
}

async fn terminated() {
    let interrupt = async {
        if tokio::signal::ctrl_c().await.is_err() {
            std::future::pending::<()>().await;
        }
    };
    #[cfg(unix)]
    {
        use tokio::signal::unix::{signal, SignalKind};
        let terminate = async {
            match signal(SignalKind::terminate()) {
                Ok(mut signal) => {
                    signal.recv().await;
                }
                Err(_) => std::future::pending::<()>().await,
            }
        };
        tokio::select! {
            () = interrupt => {}
            () = terminate => {}
        }
    }
    #[cfg(not(unix))]
    interrupt.await;
}

/// Asks the app to quit; Quit and Restart from the menu may install a downloaded update.
pub(crate) fn quit(app: &AppHandle, restart: bool) {
    if let Some(shell) = app.try_state::<Arc<Shell>>() {
        shell.user_quit.store(true, Ordering::SeqCst);
    }
    if restart {
        app.request_restart();
    } else {
        app.exit(0);
    }
}

impl Shell {
    fn take_engine(&self) -> Option<RunningEngine> {
        self.engine.lock().unwrap_or_else(|e| e.into_inner()).take()
    }
}

fn on_event(app: &AppHandle, event: RunEvent) {
    match event {
        // The last window closed: a tray app keeps running.
        RunEvent::ExitRequested {
            code: None, api, ..
        } if app.try_state::<StartFailure>().is_none() => {
            api.prevent_exit();
        }
        // Quit, restart or a signal: stop the router first, with the event loop still
        // running, then exit for real (the engine is gone, so this arm does not match again).
        RunEvent::ExitRequested {
            code: Some(code),
            api,
            ..
        } => {
            let Some(shell) = app.try_state::<Arc<Shell>>() else {
                return;
            };
            let Some(engine) = shell.take_engine() else {
                return;
            };
            api.prevent_exit();
            // The page's live-update stream would hold the graceful shutdown for its whole
            // grace period; closing the window ends it.
            if let Some(window) = app.get_webview_window(window::SETTINGS) {
                let _ = window.destroy();
            }
            let app = app.clone();
            tauri::async_runtime::spawn(async move {
                engine.shutdown().await;
                tracing::info!("the router has stopped");
                if code == tauri::RESTART_EXIT_CODE {
                    app.request_restart();
                } else {
                    app.exit(code);
                }
            });
        }
        RunEvent::Exit => {
            let Some(shell) = app.try_state::<Arc<Shell>>() else {
                return;
            };
            // `AppHandle::restart` on the main thread skips `ExitRequested`.
            if let Some(engine) = shell.take_engine() {
                tauri::async_runtime::block_on(engine.shutdown());
                tracing::info!("the router has stopped");
            }
            // Only after the router stopped, so no live request is cut.
            if shell.user_quit.load(Ordering::SeqCst) {
                shell.updates.install_pending();
            }
        }
        _ => {}
    }
}
