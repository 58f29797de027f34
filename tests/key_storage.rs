//! Where the real binary keeps API keys: the OS keychain when one answers, a private file
//! beside the config when none does; either way the config file ends up without keys.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

const BINARY: &str = env!("CARGO_BIN_EXE_modelrelay");

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

fn write_config_with_keys(dir: &Path, secret: &str) -> std::path::PathBuf {
    let path = dir.join("relay.json");
    let config = serde_json::json!({
        "apiKeys": {"groq": secret, "nvidia": [secret, "second-key-0123456789"]},
        "providers": {
            "opencode": {"enabled": false}, "kilocode": {"enabled": false},
            "groq": {"enabled": false}, "nvidia": {"enabled": false}
        },
        "autoPingEnabled": false,
        "keepMe": true
    });
    std::fs::write(&path, serde_json::to_vec_pretty(&config).unwrap()).unwrap();
    path
}

/// Starts the binary, waits until it answers /health, and returns it with its /health body.
/// The caller owns the child and waits for it in `stop`.
#[allow(clippy::zombie_processes)]
fn start(config: &Path, home: &Path, extra_env: &[(&str, &str)]) -> (Child, String) {
    let port = free_port();
    let mut command = Command::new(BINARY);
    command
        .args([
            "--port",
            &port.to_string(),
            "--config",
            config.to_str().unwrap(),
        ])
        .env("HOME", home)
        .env_remove("MODELRELAY_KEY_STORE")
        .stdout(Stdio::null())
        .stderr(Stdio::piped());
    for (name, value) in extra_env {
        command.env(name, value);
    }
    let mut child = command.spawn().unwrap();
    let started = Instant::now();
    loop {
        if let Ok(mut stream) = std::net::TcpStream::connect(("127.0.0.1", port)) {
            use std::io::{Read, Write};
            stream
                .write_all(b"GET /health HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n")
                .unwrap();
            let mut text = String::new();
            stream.read_to_string(&mut text).unwrap();
            return (child, text);
        }
        if started.elapsed() > Duration::from_secs(20) {
            let _ = child.kill();
            let _ = child.wait();
            panic!("the router never started");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

fn stop(child: Child) -> String {
    Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    let output = child.wait_with_output().unwrap();
    assert!(output.status.success());
    String::from_utf8_lossy(&output.stderr).to_string()
}

#[cfg(unix)]
#[test]
fn without_a_keychain_keys_move_to_a_private_file_with_one_warning() {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir().unwrap();
    let secret = "gsk_fallback_secret_0123456789";
    let config = write_config_with_keys(dir.path(), secret);
    let (child, health) = start(
        &config,
        dir.path(),
        &[
            ("DBUS_SESSION_BUS_ADDRESS", "unix:path=/nonexistent/bus"),
            ("DISPLAY", ""),
        ],
    );
    assert!(health.contains("\"key_store\":\"file\""), "{health}");
    let stderr = stop(child);
    assert_eq!(
        stderr.matches("no usable OS keychain").count(),
        1,
        "{stderr}"
    );
    assert!(!stderr.contains(secret), "a key reached the log: {stderr}");

    let saved = std::fs::read_to_string(&config).unwrap();
    assert!(
        !saved.contains(secret) && !saved.contains("apiKeys"),
        "{saved}"
    );
    assert!(saved.contains("keepMe"), "other settings survive");
    let key_file = dir.path().join("relay-keys.json");
    let keys: serde_json::Value =
        serde_json::from_slice(&std::fs::read(&key_file).unwrap()).unwrap();
    assert_eq!(keys["groq"], secret);
    assert!(keys["nvidia"]
        .as_str()
        .unwrap()
        .contains("second-key-0123456789"));
    assert_eq!(
        std::fs::metadata(&key_file).unwrap().permissions().mode() & 0o777,
        0o600
    );

    // A second start reads the keys back from the file.
    let (child, health) = start(
        &config,
        dir.path(),
        &[
            ("DBUS_SESSION_BUS_ADDRESS", "unix:path=/nonexistent/bus"),
            ("DISPLAY", ""),
        ],
    );
    assert!(health.contains("\"key_store\":\"file\""));
    stop(child);
}

/// Needs an unlocked Secret Service: `.ci/run` provides one and sets MODELRELAY_TEST_KEYCHAIN.
#[test]
fn with_a_keychain_keys_move_into_it_and_out_of_the_config() {
    if std::env::var_os("MODELRELAY_TEST_KEYCHAIN").is_none() {
        assert!(
            std::env::var_os("CI").is_none(),
            "CI must run the keychain tests (MODELRELAY_TEST_KEYCHAIN=1)"
        );
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let secret = format!("gsk_keychain_secret_{}", std::process::id());
    let config = write_config_with_keys(dir.path(), &secret);
    let (child, health) = start(&config, dir.path(), &[]);
    assert!(health.contains("\"key_store\":\"keychain\""), "{health}");
    stop(child);
    let saved = std::fs::read_to_string(&config).unwrap();
    assert!(!saved.contains(&secret), "{saved}");
    assert!(
        !dir.path().join("relay-keys.json").exists(),
        "no key file when a keychain works"
    );
    let entry = keyring::Entry::new("modelrelay", "groq").unwrap();
    assert_eq!(entry.get_password().unwrap(), secret);
    entry.delete_credential().unwrap();
    keyring::Entry::new("modelrelay", "nvidia")
        .unwrap()
        .delete_credential()
        .unwrap();
}
