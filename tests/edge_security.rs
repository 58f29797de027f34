//! Holes at the HTTP edge (issue 13): `/v1` reachable from other web sites and under foreign
//! host names, other loopback addresses refused on their own page, an over-limit `/api` body
//! answered as bad JSON, an open `/v1` on a network bind, connections that never finish their
//! headers. Each test failed before its fix.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use std::net::IpAddr;
use std::sync::Arc;

use modelrelay::engine::config::EnvSource;
use modelrelay::engine::http::connections::ConnectionLimits;
use modelrelay::engine::secrets::MemoryStore;
use modelrelay::engine::{self, EngineOptions, RunningEngine};
use serde_json::{json, Value};
use support::*;

async fn router_with_upstream(extra: Value) -> (FakeUpstream, TestRouter) {
    let fake = FakeUpstream::start().await;
    fake.otherwise(Script::text("hi"));
    let mut config = endpoints_config(&[("a", &fake, "m")]);
    for (key, value) in extra.as_object().unwrap() {
        config[key] = value.clone();
    }
    let router = start_router(config).await;
    (fake, router)
}

/// A plain-text POST as any web page may send without a preflight.
fn blind_post(router: &TestRouter) -> reqwest::RequestBuilder {
    router
        .client
        .post(router.url("/v1/chat/completions"))
        .header("content-type", "text/plain")
        .body(user_message("m", false).to_string())
}

async fn refused(response: reqwest::Response, code: &str) {
    assert_eq!(response.status(), 403);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["error"]["code"], code, "{body}");
    assert_eq!(body["error"]["type"], "permission_error", "{body}");
}

/// An engine on `bind` and port 0 with `config`.
async fn engine_on(bind: &str, config: &str) -> (tempfile::TempDir, RunningEngine) {
    engine_limited(bind, config, ConnectionLimits::default()).await
}

async fn engine_limited(
    bind: &str,
    config: &str,
    limits: ConnectionLimits,
) -> (tempfile::TempDir, RunningEngine) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("c.json");
    std::fs::write(&path, config).unwrap();
    let mut options = EngineOptions::new(path);
    options.bind = bind.parse::<IpAddr>().unwrap();
    options.port = 0;
    options.env = EnvSource::empty();
    options.secret_store = Some(Arc::new(MemoryStore::new()));
    options.connection_limits = limits;
    (dir, engine::start(options).await.unwrap())
}

const OFFLINE: &str = r#"{"autoPingEnabled": false, "providers": {"opencode": {"enabled": false}, "kilocode": {"enabled": false}}}"#;

#[tokio::test]
async fn v1_refuses_a_rebound_host_name() {
    let (fake, router) = router_with_upstream(json!({})).await;
    let response = router
        .client
        .post(router.url("/v1/chat/completions"))
        .header("host", "evil.com")
        .json(&user_message("m", false))
        .send()
        .await
        .unwrap();
    refused(response, "forbidden_host").await;
    let models = router
        .client
        .get(router.url("/v1/models"))
        .header("host", "evil.com:7352")
        .send()
        .await
        .unwrap();
    refused(models, "forbidden_host").await;
    let health = router
        .client
        .get(router.url("/health"))
        .header("host", "evil.com")
        .send()
        .await
        .unwrap();
    assert_eq!(health.status(), 200, "/health stays open");
    assert!(fake.chat_requests().is_empty());
}

#[tokio::test]
async fn v1_refuses_posts_from_other_web_sites() {
    let (fake, router) = router_with_upstream(json!({})).await;
    let foreign = blind_post(&router)
        .header("origin", "http://evil.com")
        .send()
        .await
        .unwrap();
    refused(foreign, "cross_origin").await;
    let marked = blind_post(&router)
        .header("sec-fetch-site", "cross-site")
        .send()
        .await
        .unwrap();
    refused(marked, "cross_origin").await;
    assert!(fake.chat_requests().is_empty());

    let agent = router.chat(user_message("m", false)).await;
    assert_eq!(agent.status(), 200, "agents send no Origin");
    assert!(agent.headers().get("access-control-allow-origin").is_none());
}

#[tokio::test]
async fn an_origin_listed_in_allowed_origins_may_call_v1_with_cors() {
    let (fake, router) =
        router_with_upstream(json!({"allowedOrigins": ["https://app.example"]})).await;
    let preflight = router
        .client
        .request(reqwest::Method::OPTIONS, router.url("/v1/chat/completions"))
        .header("origin", "https://app.example")
        .header("sec-fetch-site", "cross-site")
        .header("access-control-request-method", "POST")
        .header(
            "access-control-request-headers",
            "authorization, content-type",
        )
        .send()
        .await
        .unwrap();
    assert_eq!(preflight.status(), 204);
    assert_eq!(
        preflight.headers()["access-control-allow-origin"],
        "https://app.example"
    );
    assert_eq!(
        preflight.headers()["access-control-allow-headers"],
        "authorization, content-type"
    );
    let call = router
        .client
        .post(router.url("/v1/chat/completions"))
        .header("origin", "https://app.example")
        .header("sec-fetch-site", "cross-site")
        .json(&user_message("m", false))
        .send()
        .await
        .unwrap();
    assert_eq!(call.status(), 200);
    assert_eq!(
        call.headers()["access-control-allow-origin"],
        "https://app.example"
    );
    assert_eq!(fake.chat_requests().len(), 1);
    let other = blind_post(&router)
        .header("origin", "https://other.example")
        .send()
        .await
        .unwrap();
    refused(other, "cross_origin").await;
}

#[tokio::test]
async fn another_loopback_address_serves_its_own_page() {
    let (_dir, engine) = engine_on("127.0.0.2", OFFLINE).await;
    let client = reqwest::Client::builder().no_proxy().build().unwrap();
    let addr = engine.local_addr();
    for path in ["/", "/api/status", "/v1/models"] {
        let response = client
            .get(format!("http://{addr}{path}"))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 200, "{path}");
    }
    engine.shutdown().await;
}

#[tokio::test]
async fn an_api_body_over_the_limit_is_413_in_the_openai_shape() {
    let router = start_router(json!({"maxBodyBytes": 1000})).await;
    let response = router
        .client
        .post(router.url("/api/models/ban"))
        .json(&json!({"modelId": "x".repeat(5000)}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 413);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["error"]["code"], "request_too_large", "{body}");
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("maxBodyBytes"),
        "{body}"
    );
}

#[tokio::test]
async fn a_network_bind_without_a_router_key_makes_one_and_v1_requires_it() {
    let (_dir, engine) = engine_on("0.0.0.0", OFFLINE).await;
    let key = engine.generated_router_key().unwrap().to_string();
    assert!(key.len() >= 32);
    let client = reqwest::Client::builder().no_proxy().build().unwrap();
    let url = format!("http://127.0.0.1:{}/v1/models", engine.local_addr().port());
    let open = client.get(&url).send().await.unwrap();
    assert_eq!(open.status(), 401);
    let body: Value = open.json().await.unwrap();
    assert_eq!(body["error"]["code"], "invalid_api_key");
    let keyed = client.get(&url).bearer_auth(&key).send().await.unwrap();
    assert_eq!(keyed.status(), 200);
    let anthropic = client
        .get(&url)
        .header("x-api-key", &key)
        .send()
        .await
        .unwrap();
    assert_eq!(anthropic.status(), 200);
    assert!(
        !format!("{:?}", engine.state().access).contains(&key),
        "the key never reaches a log through Debug"
    );
    engine.shutdown().await;

    let (_dir, engine) = engine_on(
        "0.0.0.0",
        r#"{"routerApiKey": "rk-0123456789", "autoPingEnabled": false, "providers": {"opencode": {"enabled": false}, "kilocode": {"enabled": false}}}"#,
    )
    .await;
    assert_eq!(
        engine.generated_router_key(),
        None,
        "a configured key is used"
    );
    engine.shutdown().await;

    let (_dir, engine) = engine_on("127.0.0.1", OFFLINE).await;
    assert_eq!(
        engine.generated_router_key(),
        None,
        "loopback stays keyless"
    );
    engine.shutdown().await;
}

#[test]
fn the_cli_prints_the_generated_router_key_once_with_how_to_use_it() {
    use std::io::{BufRead, BufReader, Read};
    use std::process::{Command, Stdio};

    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("c.json");
    std::fs::write(&config, OFFLINE).unwrap();
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let mut child = Command::new(env!("CARGO_BIN_EXE_modelrelay"))
        .args([
            "--port",
            &port.to_string(),
            "--headless",
            "--bind",
            "0.0.0.0",
        ])
        .env("MODELRELAY_CONFIG", &config)
        .env("MODELRELAY_KEY_STORE", "file")
        .env("HOME", dir.path())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdout = BufReader::new(child.stdout.take().unwrap());
    let mut printed = String::new();
    let key = loop {
        let mut line = String::new();
        assert!(stdout.read_line(&mut line).unwrap() > 0, "{printed}");
        printed.push_str(&line);
        if let Some((_, rest)) = line.split_once("Authorization: Bearer ") {
            break rest.split('`').next().unwrap().to_string();
        }
    };
    assert!(
        printed.contains(&format!("OPENAI_API_KEY={key}")),
        "{printed}"
    );
    let ask = |auth: Option<&str>| {
        use std::io::Write;
        let mut stream = std::net::TcpStream::connect(("127.0.0.1", port)).unwrap();
        let auth = auth.map_or(String::new(), |k| format!("Authorization: Bearer {k}\r\n"));
        write!(
            stream,
            "GET /v1/models HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n{auth}Connection: close\r\n\r\n"
        )
        .unwrap();
        let mut text = String::new();
        stream.read_to_string(&mut text).unwrap();
        text
    };
    assert!(ask(None).starts_with("HTTP/1.1 401"));
    assert!(ask(Some(&key)).starts_with("HTTP/1.1 200"));
    assert!(Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap()
        .success());
    let mut rest = String::new();
    stdout.read_to_string(&mut rest).unwrap();
    let mut stderr = String::new();
    child
        .stderr
        .take()
        .unwrap()
        .read_to_string(&mut stderr)
        .unwrap();
    child.wait().unwrap();
    assert!(!rest.contains(&key), "printed once: {rest}");
    assert!(!stderr.contains(&key), "never logged: {stderr}");
    assert!(stderr.contains("/v1"), "the warning names /v1: {stderr}");
}

#[tokio::test]
async fn slow_header_connections_are_closed_and_never_keep_health_out() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    let limits = ConnectionLimits {
        header_read: ms(1000),
        body_read: ms(1000),
        max_connections: 20,
    };
    let (_dir, engine) = engine_limited("127.0.0.1", OFFLINE, limits).await;
    let addr = engine.local_addr();
    let mut slow = Vec::new();
    for _ in 0..60 {
        let mut stream = tokio::net::TcpStream::connect(addr).await.unwrap();
        stream
            .write_all(b"GET /health HTTP/1.1\r\nHost: 127.0")
            .await
            .unwrap();
        slow.push(stream);
    }
    let client = reqwest::Client::builder()
        .no_proxy()
        .timeout(ms(800))
        .build()
        .unwrap();
    for path in ["/health", "/"] {
        let response = client
            .get(format!("http://{addr}{path}"))
            .send()
            .await
            .unwrap_or_else(|e| panic!("{path} did not answer at once: {e}"));
        assert_eq!(response.status(), 200, "{path}");
    }
    // Every slow client is cut: by the cap (oldest first) or by the header timeout.
    for (i, stream) in slow.iter_mut().enumerate() {
        let mut buf = [0u8; 64];
        let read = tokio::time::timeout(ms(3000), stream.read(&mut buf)).await;
        assert!(
            matches!(read, Ok(Ok(0) | Err(_))),
            "slow connection {i} still open: {read:?}"
        );
    }

    // An unfinished body is cut after the pause limit, too.
    let mut stream = tokio::net::TcpStream::connect(addr).await.unwrap();
    stream
        .write_all(format!("POST /v1/chat/completions HTTP/1.1\r\nHost: {addr}\r\ncontent-type: application/json\r\ncontent-length: 100\r\n\r\n{{").as_bytes())
        .await
        .unwrap();
    let mut answer = Vec::new();
    let read = tokio::time::timeout(ms(3000), stream.read_to_end(&mut answer)).await;
    assert!(read.is_ok(), "a stalled body kept its connection open");
    engine.shutdown().await;
}

#[tokio::test]
async fn the_generated_router_key_is_kept_and_used_again_at_the_next_start() {
    let store: Arc<dyn modelrelay::engine::secrets::SecretStore> = Arc::new(MemoryStore::new());
    let start = |store: Arc<dyn modelrelay::engine::secrets::SecretStore>| async move {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("c.json");
        std::fs::write(&path, OFFLINE).unwrap();
        let mut options = EngineOptions::new(path);
        options.bind = "0.0.0.0".parse::<IpAddr>().unwrap();
        options.port = 0;
        options.env = EnvSource::empty();
        options.secret_store = Some(store);
        (dir, engine::start(options).await.unwrap())
    };
    let (_first_dir, first) = start(store.clone()).await;
    let key = first.generated_router_key().unwrap().to_string();
    first.shutdown().await;

    let (_second_dir, second) = start(store).await;
    assert_eq!(
        second.generated_router_key(),
        None,
        "not printed again: it was shown when it was made"
    );
    let url = format!("http://127.0.0.1:{}/v1/models", second.local_addr().port());
    let client = reqwest::Client::builder().no_proxy().build().unwrap();
    let keyed = client.get(&url).bearer_auth(&key).send().await.unwrap();
    assert_eq!(keyed.status(), 200, "the same key still works");
    second.shutdown().await;
}
