//! Test support: a scriptable fake OpenAI-compatible upstream and a helper that starts the
//! real engine on an ephemeral port against a config file in a temporary directory.
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)]

pub mod browser;
pub mod fake_upstream;
pub mod python;
pub mod redis;

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use std::sync::Arc;

use modelrelay::engine::config::EnvSource;
use modelrelay::engine::secrets::{MemoryStore, SecretStore};
use modelrelay::engine::{self, EngineOptions, RunningEngine};
use serde_json::{json, Value};

pub use fake_upstream::{FakeUpstream, Script};

pub fn ms(millis: u64) -> Duration {
    Duration::from_millis(millis)
}

/// A running engine with its config directory; dropped at the end of the test.
pub struct TestRouter {
    pub engine: RunningEngine,
    pub dir: tempfile::TempDir,
    pub client: reqwest::Client,
}

impl TestRouter {
    pub fn addr(&self) -> SocketAddr {
        self.engine.local_addr()
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://{}{}", self.addr(), path)
    }

    pub fn config_path(&self) -> PathBuf {
        self.dir.path().join("modelrelay.json")
    }

    pub async fn chat(&self, body: Value) -> reqwest::Response {
        self.client
            .post(self.url("/v1/chat/completions"))
            .json(&body)
            .send()
            .await
            .unwrap()
    }

    /// Sends `body` as JSON with `method` to `path`.
    pub async fn send_json(
        &self,
        method: reqwest::Method,
        path: &str,
        body: &Value,
    ) -> reqwest::Response {
        self.client
            .request(method, self.url(path))
            .json(body)
            .send()
            .await
            .unwrap()
    }

    /// POSTs `body` as JSON to `path`.
    pub async fn post_json(&self, path: &str, body: &Value) -> reqwest::Response {
        self.send_json(reqwest::Method::POST, path, body).await
    }

    pub async fn get_json(&self, path: &str) -> Value {
        self.client
            .get(self.url(path))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap()
    }

    /// The first row of `GET /api/models` that `wanted` picks; the test fails when none does.
    pub async fn model_row(&self, wanted: impl Fn(&Value) -> bool) -> Value {
        let models = self.get_json("/api/models").await;
        models["models"]
            .as_array()
            .unwrap()
            .iter()
            .find(|row| wanted(row))
            .cloned()
            .unwrap_or_else(|| panic!("no such row in /api/models: {models}"))
    }

    /// Provider `key` as `GET /api/providers` shows it; the test fails when it is not listed.
    pub async fn provider_view(&self, key: &str) -> Value {
        let providers = self.get_json("/api/providers").await;
        providers["providers"]
            .as_array()
            .unwrap()
            .iter()
            .find(|p| p["key"] == key)
            .cloned()
            .unwrap_or_else(|| panic!("no provider {key} in /api/providers: {providers}"))
    }
}

/// Options for `start_router_with`.
pub struct RouterSetup {
    pub config: Value,
    pub store: Arc<dyn SecretStore>,
    pub env: EnvSource,
    pub bans: Vec<String>,
    pub grace: Duration,
}

impl RouterSetup {
    pub fn new(config: Value) -> Self {
        Self {
            config,
            store: Arc::new(MemoryStore::new()),
            env: EnvSource::empty(),
            bans: Vec::new(),
            grace: Duration::from_secs(2),
        }
    }
}

pub async fn start_router(config: Value) -> TestRouter {
    start_router_with(RouterSetup::new(config)).await
}

/// Built-in providers that may be called without a key; tests keep them off unless they
/// configure them, so no test ever reaches the internet.
const KEYLESS_BUILTINS: [&str; 2] = ["opencode", "kilocode"];

pub async fn start_router_with(mut setup: RouterSetup) -> TestRouter {
    let providers = setup
        .config
        .as_object_mut()
        .unwrap()
        .entry("providers")
        .or_insert_with(|| json!({}));
    for key in KEYLESS_BUILTINS {
        providers
            .as_object_mut()
            .unwrap()
            .entry(key)
            .or_insert_with(|| json!({"enabled": false}));
    }
    // Probes would send requests the tests do not expect; tests that want them turn them on.
    setup
        .config
        .as_object_mut()
        .unwrap()
        .entry("autoPingEnabled")
        .or_insert(json!(false));
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("modelrelay.json");
    std::fs::write(&path, serde_json::to_vec_pretty(&setup.config).unwrap()).unwrap();
    let mut options = EngineOptions::new(path);
    options.port = 0;
    options.env = setup.env;
    options.bans = setup.bans;
    options.shutdown_grace = setup.grace;
    options.secret_store = Some(setup.store);
    let engine = engine::start(options).await.expect("engine starts");
    let client = reqwest::Client::builder().no_proxy().build().unwrap();
    TestRouter {
        engine,
        dir,
        client,
    }
}

/// A config with one OpenAI-compatible endpoint per `(id, fake, model)`, discovery off.
pub fn endpoints_config(endpoints: &[(&str, &FakeUpstream, &str)]) -> Value {
    let mut providers = serde_json::Map::new();
    for (id, fake, model) in endpoints {
        providers.insert(
            format!("openai-compatible:{id}"),
            json!({"enabled": true, "name": id, "baseUrl": fake.base_url(), "modelId": model, "discoverModels": false}),
        );
    }
    json!({"providers": providers})
}

pub fn user_message(model: &str, stream: bool) -> Value {
    json!({"model": model, "stream": stream, "messages": [{"role": "user", "content": "hello"}]})
}

/// Reads an SSE body to the end and returns its `data:` payloads.
pub async fn sse_events(response: reqwest::Response) -> Vec<String> {
    let text = response.text().await.unwrap();
    text.lines()
        .filter_map(|line| line.strip_prefix("data:").map(|d| d.trim().to_string()))
        .collect()
}

/// The concatenated `delta.content` of a list of SSE payloads.
pub fn streamed_text(events: &[String]) -> String {
    events
        .iter()
        .filter_map(|e| serde_json::from_str::<Value>(e).ok())
        .filter_map(|v| {
            v.pointer("/choices/0/delta/content")
                .and_then(Value::as_str)
                .map(str::to_string)
        })
        .collect()
}

/// Two engines of one team: `config` for both, sharing `redis_url` under a namespace of their
/// own, each with its own config directory and key store. Returns once both are connected.
pub async fn start_team(config: Value, redis_url: &str) -> (TestRouter, TestRouter) {
    let namespace = format!("test-{}", uuid_like());
    let mut config = config;
    config.as_object_mut().unwrap().insert(
        "sharedState".into(),
        json!({"redisUrl": redis_url, "namespace": namespace}),
    );
    let a = start_router(config.clone()).await;
    let b = start_router(config).await;
    eventually("both routers connect to Redis", || {
        a.engine.state().shared.is_connected() && b.engine.state().shared.is_connected()
    })
    .await;
    (a, b)
}

fn uuid_like() -> String {
    use std::sync::atomic::{AtomicU64, Ordering};
    static NEXT: AtomicU64 = AtomicU64::new(0);
    format!(
        "{}-{}",
        std::process::id(),
        NEXT.fetch_add(1, Ordering::Relaxed)
    )
}

/// Waits (up to 15 s, checking every 20 ms) until `done` holds; fails the test naming `what`.
pub async fn eventually(what: &str, mut done: impl FnMut() -> bool) {
    for _ in 0..750 {
        if done() {
            return;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    panic!("timed out waiting until {what}");
}

/// A loopback port with nothing listening on it.
pub async fn closed_port() -> u16 {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    drop(listener);
    port
}
