//! End to end with a real agent: `modelrelay onboard --opencode --yes` configures OpenCode in a
//! temporary HOME, the real router (the binary) routes `auto-fastest` to an in-process fake
//! upstream, and a real `opencode run "Say hello"` prints the fake's answer.
//!
//! Needs the OpenCode binary in `MODELRELAY_TEST_OPENCODE` (`.ci/run` installs the npm package
//! `opencode-ai` into tests/clients/node_modules and sets it). Without it the test is skipped
//! with a note, except in CI (`CI` set), where it fails.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use serde_json::{json, Value};
use support::*;

const BINARY: &str = env!("CARGO_BIN_EXE_modelrelay");
const ANSWER: &str = "Hello from fake upstream.";
const OPENCODE_TIMEOUT: Duration = Duration::from_secs(120);

/// A child process that is killed and waited on however the test ends.
struct Guarded(Child);

impl Drop for Guarded {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// The OpenCode binary, or `None` when the test should be skipped.
#[allow(
    clippy::print_stderr,
    reason = "the note is for whoever runs the tests"
)]
fn opencode_binary() -> Option<PathBuf> {
    match std::env::var_os("MODELRELAY_TEST_OPENCODE") {
        Some(path) if !path.is_empty() => {
            let path = PathBuf::from(path);
            assert!(
                path.is_file(),
                "MODELRELAY_TEST_OPENCODE={} is not a file",
                path.display()
            );
            Some(path)
        }
        _ if std::env::var_os("CI").is_some() => panic!(
            "MODELRELAY_TEST_OPENCODE is not set in CI; .ci/run installs opencode-ai and sets it"
        ),
        _ => {
            eprintln!(
                "note: skipping the OpenCode end-to-end test; set MODELRELAY_TEST_OPENCODE to an \
                 opencode binary (`npm install` in tests/clients, then \
                 tests/clients/node_modules/.bin/opencode) to run it"
            );
            None
        }
    }
}

/// A modelrelay command in the temporary HOME, with the file key store.
fn modelrelay(home: &Path) -> Command {
    let mut command = Command::new(BINARY);
    command
        .env("HOME", home)
        .env("MODELRELAY_KEY_STORE", "file")
        .env_remove("MODELRELAY_CONFIG")
        .env_remove("MODELRELAY_PORT")
        .stdin(Stdio::null());
    command
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).to_string()
}

/// Runs `command` to the end, killing it after `limit`; `None` on a timeout.
fn run_bounded(
    mut command: Command,
    limit: Duration,
) -> (Option<std::process::ExitStatus>, Output) {
    let mut child = Guarded(
        command
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap(),
    );
    let drain = |mut pipe: Box<dyn Read + Send>| {
        std::thread::spawn(move || {
            let mut bytes = Vec::new();
            let _ = pipe.read_to_end(&mut bytes);
            bytes
        })
    };
    let stdout = drain(Box::new(child.0.stdout.take().unwrap()));
    let stderr = drain(Box::new(child.0.stderr.take().unwrap()));
    let started = Instant::now();
    let status = loop {
        if let Some(status) = child.0.try_wait().unwrap() {
            break Some(status);
        }
        if started.elapsed() > limit {
            break None;
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    // On a timeout the guard kills the child, which closes the pipes the readers wait on.
    drop(child);
    let output = Output {
        status: status.unwrap_or_default(),
        stdout: stdout.join().unwrap(),
        stderr: stderr.join().unwrap(),
    };
    (status, output)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[allow(
    clippy::print_stderr,
    reason = "the run time is for whoever runs the tests"
)]
async fn opencode_run_answers_through_the_router_after_onboarding() {
    let Some(opencode) = opencode_binary() else {
        return;
    };
    let fake = FakeUpstream::start().await;
    fake.otherwise(Script::text(ANSWER));
    let home = tempfile::tempdir().unwrap();
    let config = json!({
        "autoPingEnabled": false,
        "providers": {
            "openai-compatible:fake": {
                "enabled": true, "name": "fake", "baseUrl": fake.base_url(),
                "modelId": "fake-model", "discoverModels": false
            },
            "opencode": {"enabled": false},
            "kilocode": {"enabled": false}
        }
    });
    std::fs::write(
        home.path().join(".modelrelay.json"),
        serde_json::to_vec_pretty(&config).unwrap(),
    )
    .unwrap();
    let port = free_port();

    // 1. Onboarding, non-interactive, configures OpenCode for this port.
    let onboard = modelrelay(home.path())
        .args([
            "onboard",
            "--opencode",
            "--yes",
            "--port",
            &port.to_string(),
        ])
        .output()
        .unwrap();
    assert!(onboard.status.success(), "{}", text(&onboard.stderr));
    let opencode_json = home.path().join(".config/opencode/opencode.json");
    let mut opencode_config: Value =
        serde_json::from_slice(&std::fs::read(&opencode_json).unwrap()).unwrap();
    assert_eq!(opencode_config["model"], "router/auto-fastest");
    assert_eq!(
        opencode_config["provider"]["router"]["options"]["baseURL"],
        format!("http://127.0.0.1:{port}/v1")
    );
    // Offline settings for the test, and the title generator on the same router model.
    let object = opencode_config.as_object_mut().unwrap();
    object.insert("autoupdate".into(), json!(false));
    object.insert("share".into(), json!("disabled"));
    object.insert("small_model".into(), json!("router/auto-fastest"));
    std::fs::write(
        &opencode_json,
        serde_json::to_vec_pretty(&opencode_config).unwrap(),
    )
    .unwrap();

    // 2. The real router on that port.
    let router_log = home.path().join("router.log");
    let _router = Guarded(
        modelrelay(home.path())
            .args(["--headless", "--port", &port.to_string()])
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(&router_log).unwrap())
            .spawn()
            .unwrap(),
    );
    let client = reqwest::Client::builder().no_proxy().build().unwrap();
    let started = Instant::now();
    loop {
        let ready = client
            .get(format!("http://127.0.0.1:{port}/v1/models"))
            .send()
            .await
            .is_ok_and(|r| r.status().is_success());
        if ready {
            break;
        }
        assert!(
            started.elapsed() < Duration::from_secs(30),
            "the router never answered: {}",
            std::fs::read_to_string(&router_log).unwrap_or_default()
        );
        tokio::time::sleep(ms(50)).await;
    }

    // 3. A real `opencode run` in a project directory of the temporary HOME.
    let project = home.path().join("project");
    std::fs::create_dir_all(&project).unwrap();
    let mut command = Command::new(&opencode);
    command
        .args(["run", "Say hello"])
        .current_dir(&project)
        .env("HOME", home.path())
        .env("OPENCODE_DISABLE_MODELS_FETCH", "1")
        .env("OPENCODE_DISABLE_AUTOUPDATE", "1")
        .env("npm_config_registry", "http://127.0.0.1:9/")
        .env("NO_PROXY", "127.0.0.1,localhost")
        .env("no_proxy", "127.0.0.1,localhost")
        .stdin(Stdio::null());
    // OpenCode finds its config through XDG paths; they must resolve inside the temp HOME. The
    // router is on loopback: a proxy from the environment must not get in between.
    for variable in [
        "HTTP_PROXY",
        "http_proxy",
        "HTTPS_PROXY",
        "https_proxy",
        "ALL_PROXY",
        "all_proxy",
        "XDG_CONFIG_HOME",
        "XDG_DATA_HOME",
        "XDG_CACHE_HOME",
        "XDG_STATE_HOME",
        "OPENCODE_CONFIG",
        "OPENCODE_CONFIG_DIR",
        "OPENCODE_CONFIG_CONTENT",
    ] {
        command.env_remove(variable);
    }
    let ran = Instant::now();
    let blocking = tokio::task::spawn_blocking(move || run_bounded(command, OPENCODE_TIMEOUT));
    let (status, output) = blocking.await.unwrap();
    let elapsed = ran.elapsed();
    let report = format!(
        "--- opencode stdout ---\n{}\n--- opencode stderr ---\n{}\n--- router log ---\n{}",
        text(&output.stdout),
        text(&output.stderr),
        std::fs::read_to_string(&router_log).unwrap_or_default()
    );
    let status = status.unwrap_or_else(|| {
        panic!(
            "opencode run did not finish within {} s and was killed\n{report}",
            OPENCODE_TIMEOUT.as_secs()
        )
    });
    assert!(status.success(), "opencode run failed: {status}\n{report}");
    assert!(
        text(&output.stdout).contains(ANSWER),
        "opencode did not print the fake's answer\n{report}"
    );

    // The fake received OpenCode's streamed chat requests, for its model, through the router.
    let chats = fake.chat_requests();
    assert!(!chats.is_empty(), "{report}");
    for chat in &chats {
        let body = chat.json();
        assert_eq!(
            body["model"], "fake-model",
            "the router names the row's model"
        );
        assert_eq!(body["stream"], true);
    }
    assert!(
        chats
            .iter()
            .any(|c| c.json()["messages"].to_string().contains("Say hello")),
        "the user's prompt reached the upstream"
    );
    eprintln!(
        "opencode run took {:.1} s; the fake saw {} chat request(s)",
        elapsed.as_secs_f64(),
        chats.len()
    );
}
