//! The container install (`Dockerfile`, `docker-compose.yml`) without an image registry: both
//! files are read by real parsers (`dockerfile-parse`, PyYAML) and checked for what the README
//! promises, then the binary is run the way the image runs it — the image's ENV with the volume
//! in a temporary directory, its ENTRYPOINT arguments — and must apply the network-bind rules,
//! keep its config and keys on the volume, and stop within 5 s of SIGTERM.
#![allow(clippy::unwrap_used, clippy::expect_used)]

#[path = "support/python.rs"]
mod python;

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use modelrelay::engine::providers::builtin::BuiltinCatalog;
use serde_json::{json, Value};

const BINARY: &str = env!("CARGO_BIN_EXE_modelrelay");
/// The volume's mount point in the image.
const VOLUME: &str = "/data";

fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

async fn parsed_files() -> Option<Value> {
    let python = python::interpreter("dockerfile-parse")?;
    let output = python::run_script(
        python,
        "container_check.py",
        vec![
            repo().join("Dockerfile").display().to_string(),
            repo().join("docker-compose.yml").display().to_string(),
        ],
    )
    .await;
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "the container files do not parse: {stdout}\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    Some(serde_json::from_str(&stdout).unwrap())
}

#[tokio::test]
async fn the_container_files_parse_and_hold_what_the_readme_promises() {
    let Some(files) = parsed_files().await else {
        return;
    };
    let stages = files["stages"].as_array().unwrap();
    assert_eq!(
        stages.len(),
        2,
        "a build stage and a runtime stage: {files:#}"
    );
    assert!(
        stages
            .iter()
            .all(|s| s["image"].as_str().unwrap().contains("slim")),
        "{files:#}"
    );
    assert!(files["copiesFromBuild"].as_bool().unwrap());
    let user = files["user"].as_str().unwrap();
    assert!(
        !user.is_empty() && user != "root" && user != "0",
        "runs as `{user}`"
    );
    let env = &files["env"];
    assert_eq!(env["MODELRELAY_BIND"], "0.0.0.0");
    assert_eq!(env["MODELRELAY_PORT"], "7352");
    assert!(env["MODELRELAY_CONFIG"]
        .as_str()
        .unwrap()
        .starts_with(VOLUME));
    assert!(env["HOME"].as_str().unwrap().starts_with(VOLUME));
    assert_eq!(files["volumes"], json!([[VOLUME]]));
    assert!(files["healthcheck"]
        .as_str()
        .unwrap()
        .contains("127.0.0.1:7352/health"));
    assert_eq!(files["entrypoint"][0], "modelrelay");

    let service = &files["compose"]["services"]["modelrelay"];
    assert_eq!(service["build"], ".");
    assert_eq!(
        service["ports"],
        json!(["127.0.0.1:7352:7352"]),
        "loopback only"
    );
    let volume = service["volumes"][0].as_str().unwrap();
    let (name, mount) = volume.split_once(':').unwrap();
    assert_eq!(mount, VOLUME);
    assert!(
        files["compose"]["volumes"].get(name).is_some(),
        "`{name}` is a named volume"
    );
    let passed: Vec<&str> = service["environment"]
        .as_object()
        .unwrap()
        .keys()
        .map(String::as_str)
        .collect();
    let builtin = BuiltinCatalog::load().unwrap();
    let mut expected: Vec<&str> = builtin
        .key_variables()
        .iter()
        .map(|(_, var)| *var)
        .collect();
    expected.extend([
        "OLLAMA_BASE_URL",
        "OLLAMA_MODEL",
        "OPENAI_COMPATIBLE_API_KEY",
        "OPENAI_COMPATIBLE_BASE_URL",
        "OPENAI_COMPATIBLE_MODEL",
    ]);
    for variable in expected {
        assert!(
            passed.contains(&variable),
            "compose does not pass `{variable}`"
        );
    }
    // Team mode: a Redis only under the `team` profile, never published on the host, and the
    // router told where it is through MODELRELAY_REDIS_URL.
    assert!(passed.contains(&"MODELRELAY_REDIS_URL"));
    let redis = &files["compose"]["services"]["redis"];
    assert_eq!(redis["profiles"], json!(["team"]));
    assert!(redis.get("ports").is_none(), "Redis is not published");
    assert!(redis["command"]
        .as_array()
        .unwrap()
        .iter()
        .any(|part| part.as_str().unwrap().contains("--requirepass")));
}

/// The router process started as the image starts it, with its stdout lines.
struct Container {
    child: Child,
    lines: mpsc::Receiver<String>,
    port: u16,
}

impl Container {
    fn start(env: &BTreeMap<String, String>, entrypoint: &[String]) -> Self {
        let port: u16 = env["MODELRELAY_PORT"].parse().unwrap();
        let mut command = Command::new(BINARY);
        command
            .args(&entrypoint[1..])
            .env_clear()
            .env("PATH", std::env::var_os("PATH").unwrap_or_default())
            .envs(env)
            .stdout(Stdio::piped())
            .stderr(Stdio::null());
        let mut child = command.spawn().unwrap();
        let stdout = child.stdout.take().unwrap();
        let (send, lines) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                if send.send(line).is_err() {
                    break;
                }
            }
        });
        Self { child, lines, port }
    }

    /// Stdout up to (and including) the line that holds `needle`.
    fn read_until(&self, needle: &str) -> Vec<String> {
        let mut seen = Vec::new();
        loop {
            let line = self
                .lines
                .recv_timeout(Duration::from_secs(30))
                .unwrap_or_else(|_| panic!("no `{needle}` on stdout; saw {seen:#?}"));
            let done = line.contains(needle);
            seen.push(line);
            if done {
                return seen;
            }
        }
    }

    fn url(&self, path: &str) -> String {
        format!("http://127.0.0.1:{}{path}", self.port)
    }

    /// SIGTERM, then the exit status, which must come within 5 s.
    fn terminate(mut self) -> std::process::ExitStatus {
        let pid = self.child.id().to_string();
        assert!(Command::new("kill")
            .args(["-TERM", &pid])
            .status()
            .unwrap()
            .success());
        let deadline = Instant::now() + Duration::from_secs(5);
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                return status;
            }
            if Instant::now() >= deadline {
                self.child.kill().ok();
                panic!("the router did not stop within 5 s of SIGTERM");
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

/// The image's ENV with the volume moved to `volume` and a free port.
fn container_env(files: &Value, volume: &Path) -> BTreeMap<String, String> {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    files["env"]
        .as_object()
        .unwrap()
        .iter()
        .map(|(name, value)| {
            let value = value.as_str().unwrap();
            let value = match value.strip_prefix(VOLUME) {
                Some(rest) => format!("{}{rest}", volume.display()),
                None if name == "MODELRELAY_PORT" => port.to_string(),
                None => value.to_string(),
            };
            (name.clone(), value)
        })
        .collect()
}

fn token_in(lines: &[String]) -> String {
    lines
        .iter()
        .find_map(|line| line.split("?token=").nth(1))
        .map(|rest| rest.split_whitespace().next().unwrap().to_string())
        .unwrap()
}

#[tokio::test]
async fn the_binary_runs_as_the_container_runs_it() {
    let Some(files) = parsed_files().await else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let volume = dir.path().join("data");
    std::fs::create_dir(&volume).unwrap();
    let env = container_env(&files, &volume);
    let config = PathBuf::from(&env["MODELRELAY_CONFIG"]);
    assert!(config.starts_with(&volume));
    // Keyless built-ins off, so the process never reaches the internet.
    std::fs::write(&config, r#"{"providers": {"opencode": {"enabled": false}, "kilocode": {"enabled": false}}, "autoPingEnabled": false}"#).unwrap();
    let entrypoint: Vec<String> = serde_json::from_value(files["entrypoint"].clone()).unwrap();
    let client = reqwest::Client::builder().no_proxy().build().unwrap();

    let first = Container::start(&env, &entrypoint);
    let lines = first.read_until("?token=");
    let token = token_in(&lines);
    let lines = first.read_until("Authorization: Bearer ");
    let router_key = lines
        .last()
        .unwrap()
        .split("Authorization: Bearer ")
        .nth(1)
        .unwrap()
        .split(|c: char| c == '`' || c.is_whitespace())
        .next()
        .unwrap()
        .to_string();
    let health = client.get(first.url("/health")).send().await.unwrap();
    assert_eq!(health.status(), 200);
    assert_eq!(
        client
            .get(first.url("/api/status"))
            .send()
            .await
            .unwrap()
            .status(),
        401
    );
    let status = client
        .get(first.url("/api/status"))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(status.status(), 200);
    assert_eq!(status.json::<Value>().await.unwrap()["keyStore"], "file");
    assert_eq!(
        client
            .get(first.url("/v1/models"))
            .send()
            .await
            .unwrap()
            .status(),
        401
    );
    let models = client
        .get(first.url("/v1/models"))
        .bearer_auth(&router_key)
        .send()
        .await
        .unwrap();
    assert_eq!(models.status(), 200);
    // A change made in the page lands in the config on the volume.
    let saved = client
        .post(first.url("/api/settings"))
        .bearer_auth(&token)
        .json(&json!({"logPrompts": true}))
        .send()
        .await
        .unwrap();
    assert_eq!(saved.status(), 200, "{}", saved.text().await.unwrap());
    let written: Value = serde_json::from_slice(&std::fs::read(&config).unwrap()).unwrap();
    assert_eq!(written["logPrompts"], true);
    let key_file = volume.join("modelrelay-keys.json");
    assert!(
        key_file.is_file(),
        "the generated /v1 key is kept on the volume"
    );
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&key_file).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
    }
    let status = tokio::task::spawn_blocking(move || first.terminate())
        .await
        .unwrap();
    assert!(status.success(), "exit status {status:?}");

    // A restart (a new container on the same volume) keeps the /v1 key and prints no new one.
    let second = Container::start(&env, &entrypoint);
    let lines = second.read_until("?token=");
    assert!(
        !lines.iter().any(|l| l.contains("Authorization: Bearer")),
        "{lines:#?}"
    );
    let models = client
        .get(second.url("/v1/models"))
        .bearer_auth(&router_key)
        .send()
        .await
        .unwrap();
    assert_eq!(models.status(), 200);
    let status = tokio::task::spawn_blocking(move || second.terminate())
        .await
        .unwrap();
    assert!(status.success(), "exit status {status:?}");
}
