//! The real binary's commands in a temporary HOME: onboarding (flags), agent config merging,
//! config export/import (plain, encrypted, through stdin, refused), autoupdate settings,
//! status/models/ping against a running router, completions.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use serde_json::{json, Value};
use support::*;

const BINARY: &str = env!("CARGO_BIN_EXE_modelrelay");

/// A temporary HOME with a config file that keeps the router offline.
struct Home {
    dir: tempfile::TempDir,
}

impl Home {
    fn new(config: Value) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let home = Self { dir };
        let mut config = config;
        let object = config.as_object_mut().unwrap();
        object.entry("autoPingEnabled").or_insert(json!(false));
        let providers = object
            .entry("providers")
            .or_insert(json!({}))
            .as_object_mut()
            .unwrap();
        for keyless in ["opencode", "kilocode"] {
            providers
                .entry(keyless)
                .or_insert(json!({"enabled": false}));
        }
        std::fs::write(home.config(), serde_json::to_vec_pretty(&config).unwrap()).unwrap();
        home
    }

    fn path(&self) -> &Path {
        self.dir.path()
    }

    fn config(&self) -> PathBuf {
        self.path().join(".modelrelay.json")
    }

    fn keys(&self) -> Value {
        std::fs::read(self.path().join(".modelrelay-keys.json"))
            .map(|bytes| serde_json::from_slice(&bytes).unwrap())
            .unwrap_or(json!({}))
    }

    fn command(&self, args: &[&str]) -> Command {
        let mut command = Command::new(BINARY);
        command
            .args(args)
            .env("HOME", self.path())
            .env("MODELRELAY_KEY_STORE", "file")
            .env_remove("MODELRELAY_CONFIG")
            .env_remove("MODELRELAY_PASSPHRASE")
            .env_remove("GROQ_API_KEY")
            .stdin(Stdio::null());
        command
    }

    fn run(&self, args: &[&str]) -> Output {
        self.command(args).output().unwrap()
    }

    fn run_with_stdin(&self, args: &[&str], input: &str) -> Output {
        let mut child = self
            .command(args)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        child
            .stdin
            .take()
            .unwrap()
            .write_all(input.as_bytes())
            .unwrap();
        child.wait_with_output().unwrap()
    }
}

/// A router started by a test; killed when the test ends, even when it fails.
struct Running(std::process::Child);

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn spawn_router(home: &Home, port: &str) -> Running {
    Running(
        home.command(&["--port", port])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap(),
    )
}

fn stdout(output: &Output) -> String {
    String::from_utf8_lossy(&output.stdout).to_string()
}

fn stderr(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr).to_string()
}

fn read_json(path: &Path) -> Value {
    serde_json::from_slice(&std::fs::read(path).unwrap()).unwrap()
}

/// A fake Groq that accepts only `good-key-0123456789`.
async fn fake_groq() -> FakeUpstream {
    let fake = FakeUpstream::start().await;
    fake.require_bearer("good-key-0123456789");
    fake.otherwise(Script::text("hello from groq"));
    fake
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn onboard_with_flags_checks_keys_and_merges_agent_configs() {
    let fake = fake_groq().await;
    let home = Home::new(json!({"providers": {"groq": {"baseUrl": fake.base_url()}}}));
    let opencode = home.path().join(".config/opencode/opencode.json");
    std::fs::create_dir_all(opencode.parent().unwrap()).unwrap();
    std::fs::write(
        &opencode,
        r#"{"provider": {"anthropic": {"options": {"apiKey": "keep-me"}}}, "theme": "dark"}"#,
    )
    .unwrap();
    let openclaw = home.path().join(".openclaw/openclaw.json");
    std::fs::create_dir_all(openclaw.parent().unwrap()).unwrap();
    std::fs::write(
        &openclaw,
        r#"{"agents": {"defaults": {"workspace": "~/work"}}, "channels": {"x": 1}}"#,
    )
    .unwrap();

    let output = home.run(&[
        "onboard",
        "--port",
        "7399",
        "--key",
        "groq=good-key-0123456789",
        "--opencode",
        "--openclaw",
        "--claude-code",
    ]);
    assert!(output.status.success(), "{}", stderr(&output));
    assert!(
        stdout(&output).contains("Groq: key checked and stored"),
        "{}",
        stdout(&output)
    );
    assert_eq!(home.keys()["groq"], "good-key-0123456789");
    assert!(!std::fs::read_to_string(home.config())
        .unwrap()
        .contains("good-key"));

    let merged = read_json(&opencode);
    assert_eq!(
        merged["provider"]["anthropic"]["options"]["apiKey"],
        "keep-me"
    );
    assert_eq!(merged["theme"], "dark");
    assert_eq!(
        merged["provider"]["router"]["options"]["baseURL"],
        "http://127.0.0.1:7399/v1"
    );
    assert_eq!(merged["model"], "router/auto-fastest");
    let claw = read_json(&openclaw);
    assert_eq!(claw["agents"]["defaults"]["workspace"], "~/work");
    assert_eq!(claw["channels"]["x"], 1);
    assert_eq!(
        claw["agents"]["defaults"]["model"]["primary"],
        "modelrelay/auto-fastest"
    );
    let claude = read_json(&home.path().join(".claude/settings.json"));
    assert_eq!(claude["env"]["ANTHROPIC_BASE_URL"], "http://127.0.0.1:7399");
    let backups: Vec<_> = std::fs::read_dir(opencode.parent().unwrap())
        .unwrap()
        .filter_map(|e| e.ok())
        .filter(|e| e.file_name().to_string_lossy().contains(".bak-"))
        .collect();
    assert_eq!(backups.len(), 1, "a timestamped backup of the old file");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn onboard_refuses_a_bad_key_and_an_unparseable_agent_config() {
    let fake = fake_groq().await;
    let home = Home::new(json!({"providers": {"groq": {"baseUrl": fake.base_url()}}}));
    let output = home.run(&["onboard", "--key", "groq=wrong-key-0123456789"]);
    assert!(!output.status.success());
    assert!(
        stderr(&output).contains("refused this key"),
        "{}",
        stderr(&output)
    );
    assert!(
        home.keys().get("groq").is_none(),
        "a refused key is not stored"
    );

    let openclaw = home.path().join(".openclaw/openclaw.json");
    std::fs::create_dir_all(openclaw.parent().unwrap()).unwrap();
    let json5 = "{ // my settings\n  agents: {},\n}";
    std::fs::write(&openclaw, json5).unwrap();
    let output = home.run(&["onboard", "--openclaw"]);
    assert!(!output.status.success());
    let message = stderr(&output);
    assert!(
        message.contains("openclaw.json") && message.contains("left untouched"),
        "{message}"
    );
    assert_eq!(std::fs::read_to_string(&openclaw).unwrap(), json5);
    assert!(!message.contains("panicked"), "{message}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn export_then_import_on_another_home_gives_the_same_routing() {
    let fake = fake_groq().await;
    let first = Home::new(json!({
        "providers": {"groq": {"baseUrl": fake.base_url(), "priority": 2}},
        "bannedModels": ["qwq-32b"],
        "pinningMode": "exact"
    }));
    assert!(first
        .run(&["onboard", "--key", "groq=good-key-0123456789", "--no-check"])
        .status
        .success());
    let export = first.run(&["config", "export"]);
    assert!(export.status.success());
    assert!(
        stderr(&export).contains("contains your API keys"),
        "a warning goes to stderr"
    );
    let token = stdout(&export).trim().to_string();
    assert!(token.starts_with("mrconf:v1:"));

    let second = Home::new(json!({}));
    let import = second.run(&["config", "import", &token, "--yes"]);
    assert!(import.status.success(), "{}", stderr(&import));
    assert!(
        stdout(&import).contains("bannedModels"),
        "the change list is shown: {}",
        stdout(&import)
    );
    assert_eq!(
        second.keys()["groq"],
        "good-key-0123456789",
        "keys land in the key store"
    );
    let mut original = read_json(&first.config());
    let mut copied = read_json(&second.config());
    for config in [&mut original, &mut copied] {
        config.as_object_mut().unwrap().remove("apiKeys");
    }
    assert_eq!(copied, original);

    // The imported config routes the same way: through the fake, with the same key.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let _router = spawn_router(&second, &port.to_string());
    let client = reqwest::Client::builder().no_proxy().build().unwrap();
    let started = Instant::now();
    let answer = loop {
        match client
            .post(format!("http://127.0.0.1:{port}/v1/chat/completions"))
            .json(&user_message("groq/llama-3.3-70b-versatile", false))
            .send()
            .await
        {
            Ok(response) => break response,
            Err(_) if started.elapsed() < Duration::from_secs(20) => {
                tokio::time::sleep(ms(50)).await
            }
            Err(error) => panic!("router never answered: {error}"),
        }
    };
    assert_eq!(answer.status(), 200);
    assert_eq!(
        fake.chat_requests()[0].headers["authorization"],
        "Bearer good-key-0123456789"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_bad_token_changes_nothing() {
    let home = Home::new(json!({"bannedModels": ["a"]}));
    let before = std::fs::read(home.config()).unwrap();
    for token in [
        "mrconf:v1:%%%not-base64",
        "mrconf:v1:bm90IGpzb24",
        "{\"bannedModels\": 5}",
        "",
    ] {
        let output = home.run_with_stdin(&["config", "import", "--yes"], token);
        assert!(!output.status.success(), "{token}");
        let message = stderr(&output);
        assert!(
            message.starts_with("modelrelay: error:") && !message.contains("panicked"),
            "{message}"
        );
        assert_eq!(std::fs::read(home.config()).unwrap(), before, "{token}");
    }
    let refused = home.run(&["config", "import", "{\"pinningMode\": \"exact\"}"]);
    assert!(
        !refused.status.success(),
        "without --yes and without a terminal nothing is applied"
    );
    assert!(stderr(&refused).contains("--yes"));
    assert_eq!(std::fs::read(home.config()).unwrap(), before);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn encrypted_tokens_and_stdin_imports() {
    let first = Home::new(json!({"pinningMode": "exact"}));
    assert!(first
        .run(&[
            "onboard",
            "--key",
            "groq=secret-key-0123456789",
            "--no-check"
        ])
        .status
        .success());
    let sealed = first.run(&["config", "export", "--passphrase", "correct horse"]);
    let token = stdout(&sealed).trim().to_string();
    assert!(token.starts_with("mrconf:v1e:") && !token.contains("secret"));
    let second = Home::new(json!({}));
    let no_passphrase = second.run(&["config", "import", &token, "--yes"]);
    assert!(!no_passphrase.status.success());
    assert!(stderr(&no_passphrase).contains("passphrase"));
    let wrong = second.run(&["config", "import", &token, "--yes", "--passphrase", "wrong"]);
    assert!(!wrong.status.success());
    let right = second.run(&[
        "config",
        "import",
        &token,
        "--yes",
        "--passphrase",
        "correct horse",
    ]);
    assert!(right.status.success(), "{}", stderr(&right));
    assert_eq!(second.keys()["groq"], "secret-key-0123456789");

    let plain = stdout(&first.run(&["config", "export"]));
    let third = Home::new(json!({}));
    let piped = third.run_with_stdin(&["config", "import", "--yes"], &plain);
    assert!(piped.status.success(), "{}", stderr(&piped));
    assert_eq!(read_json(&third.config())["pinningMode"], "exact");
}

#[test]
fn autoupdate_settings_are_saved_and_validated() {
    let home = Home::new(json!({}));
    let output = home.run(&["autoupdate", "--disable", "--interval", "12"]);
    assert!(output.status.success(), "{}", stderr(&output));
    assert!(stdout(&output).contains("disabled, every 12 hours"));
    assert_eq!(
        read_json(&home.config())["autoUpdate"],
        json!({"enabled": false, "intervalHours": 12.0})
    );
    let status = home.run(&["autoupdate", "--status"]);
    assert!(stdout(&status).contains("disabled"));
    let bad = home.run(&["autoupdate", "--interval", "0"]);
    assert!(!bad.status.success());
    assert!(stderr(&bad).contains("at least 1 hour"));
}

#[test]
fn completions_and_help_cover_every_command() {
    let home = Home::new(json!({}));
    let bash = home.run(&["completions", "bash"]);
    assert!(bash.status.success());
    for command in [
        "onboard",
        "config",
        "status",
        "models",
        "ping",
        "autostart",
        "autoupdate",
        "update",
    ] {
        assert!(
            stdout(&bash).contains(command),
            "completions lack {command}"
        );
        assert!(
            home.run(&[command, "--help"]).status.success(),
            "{command} --help"
        );
    }
    let unknown = home.run(&["frobnicate"]);
    assert!(!unknown.status.success());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn status_models_and_ping_talk_to_the_running_router() {
    let fake = FakeUpstream::start().await;
    fake.otherwise(Script::text("pong"));
    let home = Home::new(
        json!({"providers": {"openai-compatible:local": {"baseUrl": fake.base_url(), "modelId": "m", "discoverModels": false}}}),
    );
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
        .to_string();

    let not_running = home.run(&["status", "--port", &port]);
    assert!(!not_running.status.success());
    assert!(stdout(&not_running).contains("No router is running"));

    let _router = spawn_router(&home, &port);
    let started = Instant::now();
    let status = loop {
        let output = home.run(&["status", "--port", &port]);
        if output.status.success() || started.elapsed() > Duration::from_secs(20) {
            break output;
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    assert!(status.status.success(), "{}", stderr(&status));
    assert!(
        stdout(&status).contains("Router running") && stdout(&status).contains("Key store: file"),
        "{}",
        stdout(&status)
    );

    let ping = home.run(&["ping", "openai-compatible:local/m", "--port", &port]);
    assert!(ping.status.success(), "{}", stderr(&ping));
    assert!(stdout(&ping).contains("openai-compatible:local/m: ok"));
    let models = home.run(&["models", "--port", &port]);
    assert!(
        stdout(&models).contains("openai-compatible:local/m"),
        "{}",
        stdout(&models)
    );
    let json_models: Value =
        serde_json::from_slice(&home.run(&["models", "--json", "--port", &port]).stdout).unwrap();
    assert!(json_models["models"]
        .as_array()
        .unwrap()
        .iter()
        .any(|m| m["id"] == "openai-compatible:local/m"));
    let unknown = home.run(&["ping", "no-such-model", "--port", &port]);
    assert!(!unknown.status.success());
}
