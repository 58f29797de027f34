//! The desktop app's logic that needs no GUI toolkit, so it builds and tests in the default
//! (headless) build: the OS start-on-login entry, the tray's menu model, and the handlers the
//! shell calls on the engine. Nothing here names `tauri`.

pub mod autostart;
pub mod shell;
pub mod tray_model;
