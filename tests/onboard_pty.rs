//! The interactive `modelrelay onboard` driven through a real pseudo-terminal by
//! tests/clients/onboard_pty.py: arrow keys to Groq in the provider menu, a key typed at the
//! hidden prompt (checked against a fake Groq), "Done", OpenCode yes, OpenClaw no, start-on-login
//! no.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::{json, Value};
use support::*;

const BINARY: &str = env!("CARGO_BIN_EXE_modelrelay");
const KEY: &str = "gsk-typed-at-the-prompt-0123456789";

/// The driver, killed and waited on however the test ends.
struct Driver(Child);

impl Drop for Driver {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn driver_script() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/clients/onboard_pty.py")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[allow(
    clippy::print_stderr,
    reason = "the run time is for whoever runs the tests"
)]
async fn interactive_onboarding_through_a_pseudo_terminal() {
    let fake = FakeUpstream::start().await;
    fake.require_bearer(KEY);
    fake.otherwise(Script::text("hello from groq"));
    let home = tempfile::tempdir().unwrap();
    let config = json!({
        "autoPingEnabled": false,
        "providers": {
            "groq": {"baseUrl": fake.base_url()},
            "opencode": {"enabled": false},
            "kilocode": {"enabled": false}
        }
    });
    std::fs::write(
        home.path().join(".modelrelay.json"),
        serde_json::to_vec_pretty(&config).unwrap(),
    )
    .unwrap();

    let started = Instant::now();
    let mut driver = Driver(
        Command::new("python3")
            .arg(driver_script())
            .args(["--binary", BINARY, "--port", "7398", "--provider", "Groq"])
            .args(["--key", KEY, "--opencode", "y", "--openclaw", "n"])
            .args(["--claude-code", "n", "--autostart", "n", "--timeout", "30"])
            .env("HOME", home.path())
            .env("MODELRELAY_KEY_STORE", "file")
            .env_remove("MODELRELAY_CONFIG")
            .env_remove("MODELRELAY_PORT")
            .env_remove("GROQ_API_KEY")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("python3 runs"),
    );
    let mut stdout = driver.0.stdout.take().unwrap();
    let reader = std::thread::spawn(move || {
        let mut text = String::new();
        stdout.read_to_string(&mut text).unwrap();
        text
    });
    // The driver bounds itself at 30 s; this is the backstop.
    let status = loop {
        if let Some(status) = driver.0.try_wait().unwrap() {
            break status;
        }
        assert!(
            started.elapsed() < Duration::from_secs(60),
            "the PTY driver did not finish within 60 s"
        );
        tokio::time::sleep(ms(50)).await;
    };
    let elapsed = started.elapsed();
    let mut errors = String::new();
    driver
        .0
        .stderr
        .take()
        .unwrap()
        .read_to_string(&mut errors)
        .unwrap();
    let output = reader.join().unwrap();
    let summary: Value = serde_json::from_str(&output)
        .unwrap_or_else(|e| panic!("the driver printed no JSON ({e}): {output}\n{errors}"));
    let transcript = summary["transcript"].as_str().unwrap_or("");
    assert!(
        status.success(),
        "driver failed ({status}): {}\n--- transcript ---\n{transcript}\n--- stderr ---\n{errors}",
        summary["error"]
    );
    assert_eq!(summary["exit_code"], 0, "onboard's own exit code");
    assert_eq!(
        summary["steps"],
        json!([
            "down",
            "down",
            "choose Groq",
            "type the key",
            "choose Done",
            "OpenCode: y",
            "OpenClaw: n",
            "Claude Code: n",
            "autostart: n"
        ]),
        "from the default \"Done\", two down arrows wrap to NVIDIA NIM, then Groq"
    );
    assert!(
        summary["key_check"]
            .as_str()
            .unwrap()
            .starts_with("✓ Groq: key works and is stored"),
        "{}",
        summary["key_check"]
    );
    assert_eq!(summary["key_echoed"], false, "the key prompt hides the key");
    assert!(
        transcript.contains("Groq               key set"),
        "the menu shows the stored key the second time: {transcript}"
    );

    // The key went to the file store, not into the config.
    let keys: Value =
        serde_json::from_slice(&std::fs::read(home.path().join(".modelrelay-keys.json")).unwrap())
            .unwrap();
    assert_eq!(keys["groq"], KEY);
    assert!(
        !std::fs::read_to_string(home.path().join(".modelrelay.json"))
            .unwrap()
            .contains(KEY)
    );

    // The key was checked with one model-list call carrying it.
    let checks: Vec<_> = fake
        .received()
        .into_iter()
        .filter(|r| r.path == "/v1/models")
        .collect();
    assert_eq!(checks.len(), 1, "one key check");
    assert_eq!(checks[0].headers["authorization"], format!("Bearer {KEY}"));
    assert!(fake.chat_requests().is_empty(), "no billed call");

    // OpenCode configured, OpenClaw not, no autostart entry.
    let opencode: Value = serde_json::from_slice(
        &std::fs::read(home.path().join(".config/opencode/opencode.json")).unwrap(),
    )
    .unwrap();
    assert_eq!(opencode["model"], "router/auto-fastest");
    assert_eq!(
        opencode["provider"]["router"]["options"]["baseURL"],
        "http://127.0.0.1:7398/v1"
    );
    assert!(
        !home.path().join(".openclaw").exists(),
        "OpenClaw was declined"
    );
    assert!(
        !home.path().join(".config/autostart").exists(),
        "start-on-login was declined"
    );
    eprintln!(
        "PTY onboarding took {:.1} s (driver: {} s)",
        elapsed.as_secs_f64(),
        summary["seconds"]
    );
}
