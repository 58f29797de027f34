//! The `modelrelay` binary: flags, startup, refusal of corrupt config, graceful exit.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

const BINARY: &str = env!("CARGO_BIN_EXE_modelrelay");

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// A config with the keyless built-in providers off, so the binary never reaches the internet.
fn offline_config(dir: &std::path::Path) -> std::path::PathBuf {
    let path = dir.join("c.json");
    std::fs::write(
        &path,
        r#"{"providers": {"opencode": {"enabled": false}, "kilocode": {"enabled": false}}, "autoPingEnabled": false}"#,
    )
    .unwrap();
    path
}

fn run(args: &[&str]) -> std::process::Output {
    Command::new(BINARY)
        .args(args)
        .env_remove("MODELRELAY_CONFIG")
        .env("HOME", std::env::temp_dir())
        .output()
        .unwrap()
}

#[test]
fn version_and_help_describe_the_program() {
    let version = run(&["--version"]);
    assert!(version.status.success());
    assert!(String::from_utf8_lossy(&version.stdout).contains(env!("CARGO_PKG_VERSION")));
    let help = String::from_utf8_lossy(&run(&["--help"]).stdout).to_string();
    for flag in [
        "--port",
        "--bind",
        "--config",
        "--log",
        "--ban",
        "--headless",
    ] {
        assert!(help.contains(flag), "--help lacks {flag}");
    }
}

#[test]
fn a_corrupt_config_stops_startup_and_is_left_untouched() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("config.json");
    let original = b"{\n  \"apiKeys\": {\"groq\": \"gsk_secret\"},\n  \"providers\": {\n}\n,}";
    std::fs::write(&path, original).unwrap();
    let port = free_port().to_string();
    let output = run(&["--config", path.to_str().unwrap(), "--port", &port]);
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("config.json"), "{stderr}");
    assert!(stderr.contains("line 5"), "{stderr}");
    assert!(
        !stderr.contains("gsk_secret"),
        "a key leaked into the error: {stderr}"
    );
    assert_eq!(std::fs::read(&path).unwrap(), original);
}

#[test]
fn a_port_held_by_another_program_is_reported_plainly() {
    let holder = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = holder.local_addr().unwrap().port().to_string();
    let dir = tempfile::tempdir().unwrap();
    let config = offline_config(dir.path());
    let output = run(&["--config", config.to_str().unwrap(), "--port", &port]);
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("holds this port"), "{stderr}");
}

#[test]
fn serves_on_the_given_port_and_exits_cleanly_on_sigterm() {
    let dir = tempfile::tempdir().unwrap();
    let config = offline_config(dir.path());
    let before = std::fs::read(&config).unwrap();
    let port = free_port();
    let mut child = Command::new(BINARY)
        .args(["--port", &port.to_string(), "--headless", "--ban", "a,b"])
        .env("MODELRELAY_CONFIG", &config)
        .env("HOME", dir.path())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let started = Instant::now();
    let health = loop {
        if let Ok(mut stream) = std::net::TcpStream::connect(("127.0.0.1", port)) {
            use std::io::{Read, Write};
            stream
                .write_all(b"GET /health HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n")
                .unwrap();
            let mut text = String::new();
            stream.read_to_string(&mut text).unwrap();
            break text;
        }
        assert!(
            started.elapsed() < Duration::from_secs(20),
            "the router never started listening"
        );
        std::thread::sleep(Duration::from_millis(20));
    };
    assert!(health.starts_with("HTTP/1.1 200"), "{health}");
    assert!(health.contains("\"status\":\"ok\""));
    let pid = child.id().to_string();
    assert!(Command::new("kill")
        .args(["-TERM", &pid])
        .status()
        .unwrap()
        .success());
    let status = child.wait().unwrap();
    assert!(status.success(), "exit status {status:?}");
    assert_eq!(
        std::fs::read(&config).unwrap(),
        before,
        "starting must not rewrite a config without keys"
    );
}
