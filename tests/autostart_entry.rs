//! The OS start-on-login entry (`system::autostart`) on Linux, in a temporary home: the file
//! `auto-launch` (and so tauri-plugin-autostart) writes, read back, and removed. One test per
//! process, because it points `HOME` somewhere else.
#![cfg(target_os = "linux")]
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::Path;

use modelrelay::system::autostart;

#[test]
fn installs_reads_and_removes_the_xdg_autostart_entry() {
    let home = tempfile::tempdir().unwrap();
    // auto-launch uses $HOME/.config, whatever XDG_CONFIG_HOME says; set both so neither
    // can reach the real home.
    std::env::set_var("HOME", home.path());
    std::env::set_var("XDG_CONFIG_HOME", home.path().join(".config"));
    let entry = home.path().join(".config/autostart/modelrelay.desktop");

    assert!(!autostart::is_installed().unwrap());
    autostart::uninstall().unwrap();

    let exe = Path::new("/opt/modelrelay/bin/modelrelay");
    autostart::install(exe).unwrap();
    assert!(autostart::is_installed().unwrap());
    let text = std::fs::read_to_string(&entry).unwrap();
    assert!(text.starts_with("[Desktop Entry]"), "{text}");
    assert!(text.contains("Type=Application"), "{text}");
    assert!(text.contains("Name=modelrelay"), "{text}");
    assert!(
        text.contains("Exec=/opt/modelrelay/bin/modelrelay"),
        "{text}"
    );

    // Installing again replaces the entry rather than failing.
    autostart::install(Path::new("/usr/bin/modelrelay")).unwrap();
    let text = std::fs::read_to_string(&entry).unwrap();
    assert!(text.contains("Exec=/usr/bin/modelrelay"), "{text}");
    assert!(!text.contains("/opt/"), "{text}");

    autostart::uninstall().unwrap();
    assert!(!entry.exists());
    assert!(!autostart::is_installed().unwrap());
    autostart::uninstall().unwrap();

    assert!(autostart::install(Path::new("modelrelay")).is_err());
    assert!(!entry.exists());
}
