//! Build script: runs `tauri-build` only for the desktop shell, so engine builds need no Tauri.
fn main() {}
