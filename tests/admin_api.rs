//! The admin API over HTTP: every route, the security rules (Host, Origin, JSON bodies,
//! tokens), write-only keys, config transfer and live events.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use std::net::{IpAddr, Ipv4Addr};
use std::time::Duration;

use futures_util::StreamExt;
use modelrelay::engine::config::EnvSource;
use modelrelay::engine::secrets::{MemoryStore, SecretStore};
use modelrelay::engine::{self, EngineOptions};
use serde_json::{json, Value};
use support::*;

const SECRET: &str = "sk-admin-test-NEVER-SHOWN-0123456789";

impl TestRouter {
    async fn api(&self, method: reqwest::Method, path: &str, body: Option<Value>) -> (u16, Value) {
        let mut request = self.client.request(method, self.url(path));
        if let Some(body) = body {
            request = request.json(&body);
        }
        let response = request.send().await.unwrap();
        let status = response.status().as_u16();
        let text = response.text().await.unwrap();
        assert!(
            !text.contains("NEVER-SHOWN"),
            "a key leaked from {path}: {text}"
        );
        (status, serde_json::from_str(&text).unwrap_or(Value::Null))
    }

    async fn get(&self, path: &str) -> Value {
        let (status, body) = self.api(reqwest::Method::GET, path, None).await;
        assert_eq!(status, 200, "{path}: {body}");
        body
    }

    async fn post(&self, path: &str, body: Value) -> (u16, Value) {
        self.api(reqwest::Method::POST, path, Some(body)).await
    }
}

async fn router_with_endpoint() -> (FakeUpstream, TestRouter) {
    let fake = FakeUpstream::start().await;
    fake.otherwise(Script::text("ok"));
    let router = start_router(endpoints_config(&[("a", &fake, "m"), ("b", &fake, "n")])).await;
    (fake, router)
}

#[tokio::test]
async fn read_views_describe_models_providers_settings_and_status() {
    let (_fake, router) = router_with_endpoint().await;
    router.chat(user_message("m", false)).await;
    let models = router.get("/api/models").await;
    let row = models["models"]
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["id"] == "openai-compatible:a/m")
        .unwrap();
    assert_eq!(row["status"], "up");
    assert!(row["ttftMs"].is_number());
    assert_eq!(row["samples"].as_array().unwrap().len(), 1);
    assert_eq!(models["autoFastest"], "openai-compatible:a/m");
    let groq = models["models"]
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["provider"] == "groq")
        .unwrap();
    assert_eq!(groq["status"], "no_key");

    let providers = router.get("/api/providers").await;
    let endpoint = providers["providers"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["key"] == "openai-compatible:a")
        .unwrap();
    assert_eq!(endpoint["kind"], "openai-compatible");
    assert_eq!(endpoint["rowsUp"], 1);
    assert_eq!(endpoint["apiKey"]["set"], false);

    let settings = router.get("/api/settings").await;
    assert_eq!(settings["pinningMode"], "canonical");
    assert_eq!(settings["autoUpdate"]["intervalHours"], 24.0);
    let status = router.get("/api/status").await;
    assert_eq!(status["autoFastest"]["id"], "openai-compatible:a/m");
    assert_eq!(status["keyStore"], "memory");
    assert!(status["baseUrl"].as_str().unwrap().ends_with("/v1"));
    let logs = router.get("/api/logs").await;
    assert_eq!(logs["entries"][0]["upstreamModel"], "m");
    assert_eq!(logs["entries"][0]["attempts"][0]["status"], 200);
    assert!(
        logs["entries"][0]["messages"].is_null(),
        "prompts are not kept unless asked"
    );
}

#[tokio::test]
async fn pins_bans_filters_and_settings_are_saved_and_applied() {
    let (fake, router) = router_with_endpoint().await;
    let (status, pinned) = router
        .post(
            "/api/pinned",
            json!({"provider": "openai-compatible:b", "modelId": "n"}),
        )
        .await;
    assert_eq!(status, 200, "{pinned}");
    assert_eq!(pinned["rows"], json!(["openai-compatible:b/n"]));
    let response = router.chat(user_message("auto-fastest", false)).await;
    assert_eq!(response.headers()["x-modelrelay-model"], "n");
    let (status, _) = router
        .api(reqwest::Method::DELETE, "/api/pinned", None)
        .await;
    assert_eq!(status, 200);
    assert!(router.get("/api/pinned").await["pinned"].is_null());

    let (status, banned) = router
        .post(
            "/api/models/ban",
            json!({"modelId": "openai-compatible:a/m", "banned": true}),
        )
        .await;
    assert_eq!(
        (status, &banned["bannedModels"]),
        (200, &json!(["openai-compatible:a/m"]))
    );
    assert_eq!(
        router
            .chat(user_message("openai-compatible:a/m", false))
            .await
            .status(),
        503
    );
    router
        .post(
            "/api/models/ban",
            json!({"modelId": "openai-compatible:a/m", "banned": false}),
        )
        .await;
    assert_eq!(
        router
            .chat(user_message("openai-compatible:a/m", false))
            .await
            .status(),
        200
    );

    let (status, rules) = router
        .post(
            "/api/filter-rules",
            json!({"minSweScore": 0.5, "excludedProviders": ["openai-compatible:b"]}),
        )
        .await;
    assert_eq!(status, 200);
    assert_eq!(rules["excludedProviders"], json!(["openai-compatible:b"]));
    assert_eq!(
        router
            .chat(user_message("openai-compatible:b/n", false))
            .await
            .status(),
        503,
        "filter rules apply at once"
    );
    let (status, _) = router
        .post("/api/filter-rules", json!({"minSweScore": 7}))
        .await;
    assert_eq!(status, 400);

    let (status, settings) = router
        .post("/api/settings", json!({"pinningMode": "exact", "autoUpdate": {"intervalHours": 12}, "autostart": {"enabled": true}, "logPrompts": true}))
        .await;
    assert_eq!(status, 200, "{settings}");
    assert_eq!(settings["pinningMode"], "exact");
    assert_eq!(
        settings["autoUpdate"],
        json!({"enabled": true, "intervalHours": 12.0})
    );
    let (status, _) = router
        .post("/api/settings", json!({"pinningMode": "sometimes"}))
        .await;
    assert_eq!(status, 400);
    router.chat(user_message("m", false)).await;
    assert!(router.get("/api/logs").await["entries"][0]["messages"][0]
        .as_str()
        .unwrap()
        .contains("hello"));

    let saved: Value =
        serde_json::from_slice(&std::fs::read(router.config_path()).unwrap()).unwrap();
    assert_eq!(saved["pinningMode"], "exact");
    assert_eq!(saved["autostart"]["enabled"], true);
    assert!(fake.chat_requests().len() >= 3);
}

#[tokio::test]
async fn provider_settings_and_write_only_keys() {
    let fake = FakeUpstream::start().await;
    fake.otherwise(Script::text("ok"));
    let router = start_router(json!({})).await;
    let (status, _) = router
        .post(
            "/api/providers/groq",
            json!({"baseUrl": fake.base_url(), "pingIntervalMinutes": 5, "priority": 1}),
        )
        .await;
    assert_eq!(status, 200);
    let (status, body) = router
        .api(
            reqwest::Method::PUT,
            "/api/providers/groq/key",
            Some(json!({"apiKey": SECRET})),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(
        body["apiKey"],
        json!({"set": true, "source": "memory", "count": 1, "hint": "…6789"})
    );
    let response = router
        .chat(user_message("groq/llama-3.3-70b-versatile", false))
        .await;
    assert_eq!(response.status(), 200);
    assert_eq!(
        fake.chat_requests()[0].headers["authorization"],
        format!("Bearer {SECRET}")
    );
    let groq = router.get("/api/providers").await["providers"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["key"] == "groq")
        .cloned()
        .unwrap();
    assert_eq!(groq["pingIntervalMinutes"], 5.0);
    assert_eq!(groq["priority"], 1);
    let config = std::fs::read_to_string(router.config_path()).unwrap();
    assert!(
        !config.contains("NEVER-SHOWN"),
        "keys never go to the config file when a store exists"
    );

    let (status, _) = router
        .api(reqwest::Method::DELETE, "/api/providers/groq/key", None)
        .await;
    assert_eq!(status, 200);
    assert_eq!(
        router
            .chat(user_message("groq/llama-3.3-70b-versatile", false))
            .await
            .status(),
        503
    );
    let (status, _) = router
        .post("/api/providers/groq", json!({"baseUrl": ""}))
        .await;
    assert_eq!(status, 200);
    let groq = router.get("/api/providers").await["providers"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["key"] == "groq")
        .cloned()
        .unwrap();
    assert_eq!(
        groq["baseUrl"], groq["defaultBaseUrl"],
        "an empty base URL restores the default"
    );

    let (status, _) = router
        .post("/api/providers/nope", json!({"enabled": true}))
        .await;
    assert_eq!(status, 404);
    let (status, _) = router
        .post("/api/providers/groq", json!({"enabled": "yes"}))
        .await;
    assert_eq!(status, 400);
    let (status, _) = router.post("/api/providers/groq/refresh", json!({})).await;
    assert_eq!(status, 200);
}

#[tokio::test]
async fn endpoints_are_added_listed_routed_and_removed() {
    let fake = FakeUpstream::start().await;
    fake.on("local-model", Script::text("from my endpoint"));
    fake.list_models(&["extra-model"]);
    let router = start_router(json!({})).await;
    let (status, created) = router
        .post(
            "/api/openai-compatible/endpoints",
            json!({"name": "My vLLM", "baseUrl": fake.base_url(), "modelId": "local-model", "apiKey": SECRET, "group": "qwen3-coder"}),
        )
        .await;
    assert_eq!(status, 201, "{created}");
    assert_eq!(
        created,
        json!({"id": "my-vllm", "key": "openai-compatible:my-vllm"})
    );
    let (status, _) = router
        .post(
            "/api/openai-compatible/endpoints",
            json!({"name": "my vllm", "baseUrl": "http://x"}),
        )
        .await;
    assert_eq!(status, 409);
    let (status, _) = router
        .post(
            "/api/openai-compatible/endpoints",
            json!({"name": "no url"}),
        )
        .await;
    assert_eq!(status, 400);
    let list = router.get("/api/openai-compatible/endpoints").await;
    assert_eq!(list["endpoints"][0]["apiKey"]["set"], true);

    let response = router
        .chat(user_message("openai-compatible:my-vllm/local-model", false))
        .await;
    assert_eq!(response.status(), 200);
    assert_eq!(
        fake.chat_requests()[0].headers["authorization"],
        format!("Bearer {SECRET}")
    );
    let models = router.get("/v1/models").await;
    assert!(models["data"]
        .as_array()
        .unwrap()
        .iter()
        .any(|m| m["id"] == "qwen3-coder"
            && m["providers"]
                .as_array()
                .unwrap()
                .contains(&json!("openai-compatible:my-vllm"))));

    let (status, _) = router
        .api(
            reqwest::Method::DELETE,
            "/api/openai-compatible/endpoints/my-vllm",
            None,
        )
        .await;
    assert_eq!(status, 200);
    let (status, _) = router
        .api(
            reqwest::Method::DELETE,
            "/api/openai-compatible/endpoints/my-vllm",
            None,
        )
        .await;
    assert_eq!(status, 404);
    assert_eq!(
        router
            .chat(user_message("openai-compatible:my-vllm/local-model", false))
            .await
            .status(),
        404
    );
}

#[tokio::test]
async fn ping_now_probes_one_row() {
    let (fake, router) = router_with_endpoint().await;
    let (status, result) = router
        .post(
            "/api/models/ping",
            json!({"modelId": "openai-compatible:a/m"}),
        )
        .await;
    assert_eq!(status, 200);
    assert_eq!(result["ok"], true);
    assert_eq!(fake.chat_requests()[0].json()["max_tokens"], 32);
    let (status, _) = router
        .post("/api/models/ping", json!({"modelId": "nope/nope"}))
        .await;
    assert_eq!(status, 404);
}

#[tokio::test]
async fn export_needs_confirmation_and_import_previews_then_replaces() {
    let store = std::sync::Arc::new(MemoryStore::new());
    let mut setup = RouterSetup::new(json!({"apiKeys": {"groq": SECRET}, "bannedModels": ["x"]}));
    setup.store = store.clone();
    let router = start_router_with(setup).await;
    let (status, refused) = router.post("/api/config/export", json!({})).await;
    assert_eq!(
        (status, refused["error"]["code"].as_str()),
        (400, Some("confirmation_required"))
    );

    let response = router
        .client
        .post(router.url("/api/config/export"))
        .json(&json!({"confirm": true}))
        .send()
        .await
        .unwrap();
    let token = response.json::<Value>().await.unwrap()["token"]
        .as_str()
        .unwrap()
        .to_string();
    assert!(token.starts_with("mrconf:v1:"));
    let decoded = modelrelay::engine::transfer::decode_token(&token).unwrap();
    assert_eq!(
        decoded["apiKeys"]["groq"], SECRET,
        "the export carries the keys from the key store"
    );

    let mut other = decoded.clone();
    other.insert("bannedModels".into(), json!(["y"]));
    other.insert(
        "apiKeys".into(),
        json!({"nvidia": "nvapi-NEVER-SHOWN-imported-0123456789"}),
    );
    let other_token = modelrelay::engine::transfer::encode_token(&other);
    let (status, preview) = router
        .post("/api/config/import/preview", json!({"token": other_token}))
        .await;
    assert_eq!(status, 200);
    assert!(preview["changes"]
        .as_array()
        .unwrap()
        .iter()
        .any(|c| c["path"] == "bannedModels"));
    assert_eq!(preview["keys"], json!(["nvidia"]));

    let (status, _) = router
        .post("/api/config/import", json!({"token": other_token}))
        .await;
    assert_eq!(status, 400, "import needs confirmation too");
    let (status, error) = router
        .post(
            "/api/config/import",
            json!({"token": "mrconf:v1:%%%", "confirm": true}),
        )
        .await;
    assert_eq!(status, 400, "{error}");
    assert_eq!(
        router.get("/api/settings").await["pinningMode"],
        "canonical"
    );
    let (status, _) = router
        .post(
            "/api/config/import",
            json!({"token": other_token, "confirm": true}),
        )
        .await;
    assert_eq!(status, 200);
    let saved = std::fs::read_to_string(router.config_path()).unwrap();
    assert!(
        saved.contains("\"y\"") && !saved.contains("NEVER-SHOWN"),
        "{saved}"
    );
    assert!(
        store.get("nvidia").unwrap().is_some(),
        "imported keys go to the key store"
    );
}

#[tokio::test]
async fn forged_hosts_cross_origin_writes_and_form_posts_are_refused() {
    let (_fake, router) = router_with_endpoint().await;
    let url = router.url("/api/models");
    let forged = router
        .client
        .get(&url)
        .header("host", "attacker.example:7352")
        .send()
        .await
        .unwrap();
    assert_eq!(forged.status(), 403);
    assert_eq!(
        forged.json::<Value>().await.unwrap()["error"]["code"],
        "forbidden_host"
    );
    let page = router
        .client
        .get(router.url("/"))
        .header("host", "rebind.attacker.example")
        .send()
        .await
        .unwrap();
    assert_eq!(
        page.status(),
        403,
        "the page itself is protected from DNS rebinding"
    );

    let ban = router.url("/api/models/ban");
    let body = json!({"modelId": "m", "banned": true});
    let cross = router
        .client
        .post(&ban)
        .header("origin", "http://evil.example")
        .json(&body)
        .send()
        .await
        .unwrap();
    assert_eq!(cross.status(), 403);
    let cross_site = router
        .client
        .post(&ban)
        .header("sec-fetch-site", "cross-site")
        .json(&body)
        .send()
        .await
        .unwrap();
    assert_eq!(cross_site.status(), 403);
    let form = router
        .client
        .post(&ban)
        .header("content-type", "application/x-www-form-urlencoded")
        .body("modelId=m")
        .send()
        .await
        .unwrap();
    assert_eq!(form.status(), 415);
    let same = router
        .client
        .post(&ban)
        .header("origin", format!("http://{}", router.addr()))
        .json(&body)
        .send()
        .await
        .unwrap();
    assert_eq!(same.status(), 200);
    assert!(
        same.headers().get("access-control-allow-origin").is_none(),
        "no CORS, ever"
    );
    let preflight = router
        .client
        .request(reqwest::Method::OPTIONS, &ban)
        .header("origin", "http://evil.example")
        .send()
        .await
        .unwrap();
    assert!(preflight
        .headers()
        .get("access-control-allow-origin")
        .is_none());
}

#[tokio::test]
async fn the_page_is_served_with_a_strict_content_policy() {
    let (_fake, router) = router_with_endpoint().await;
    let page = router.client.get(router.url("/")).send().await.unwrap();
    assert_eq!(page.status(), 200);
    let csp = page.headers()["content-security-policy"]
        .to_str()
        .unwrap()
        .to_string();
    assert!(csp.contains("default-src 'self'") && csp.contains("frame-ancestors 'none'"));
    assert!(page
        .text()
        .await
        .unwrap()
        .to_lowercase()
        .contains("<!doctype html>"));
}

/// The relative `from '…'` and side-effect `import '…'` specifiers of one ES module, resolved
/// against its own path in `ui/`.
fn module_imports(path: &str, source: &str) -> Vec<String> {
    let dir: Vec<&str> = path.split('/').collect();
    let dir = &dir[..dir.len() - 1];
    source
        .split("from '")
        .skip(1)
        .chain(source.split("import '").skip(1))
        .filter_map(|rest| rest.split('\'').next())
        .filter(|spec| spec.starts_with("./") || spec.starts_with("../"))
        .map(|spec| {
            let mut parts: Vec<&str> = dir.to_vec();
            for part in spec.split('/') {
                match part {
                    "." => {}
                    ".." => {
                        parts.pop();
                    }
                    name => parts.push(name),
                }
            }
            parts.join("/")
        })
        .collect()
}

#[tokio::test]
async fn every_module_the_page_imports_is_served_as_javascript_under_the_policy() {
    let (_fake, router) = router_with_endpoint().await;
    let ui = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("ui");
    let mut pending = vec!["app.js".to_string()];
    let mut served = std::collections::BTreeSet::new();
    while let Some(path) = pending.pop() {
        if !served.insert(path.clone()) {
            continue;
        }
        let response = router
            .client
            .get(router.url(&format!("/{path}")))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 200, "{path}");
        let headers = response.headers().clone();
        assert!(
            headers["content-type"]
                .to_str()
                .unwrap()
                .starts_with("text/javascript"),
            "{path}: {:?}",
            headers["content-type"]
        );
        assert_eq!(headers["x-content-type-options"], "nosniff", "{path}");
        let csp = headers["content-security-policy"].to_str().unwrap();
        assert!(csp.contains("script-src 'self'"), "{path}: {csp}");
        let source = response.text().await.unwrap();
        pending.extend(module_imports(&path, &source));
    }
    // Every script in ui/ is reached from app.js, so none is left out of the page (or dead).
    let mut on_disk = std::collections::BTreeSet::new();
    for dir in ["", "js"] {
        for entry in std::fs::read_dir(ui.join(dir)).unwrap() {
            let name = entry.unwrap().file_name().into_string().unwrap();
            if name.ends_with(".js") {
                on_disk.insert(if dir.is_empty() {
                    name
                } else {
                    format!("{dir}/{name}")
                });
            }
        }
    }
    assert_eq!(served, on_disk);
    let missing = router
        .client
        .get(router.url("/js/missing.js"))
        .send()
        .await
        .unwrap();
    assert_eq!(missing.status(), 404);
}

#[tokio::test]
async fn a_network_bind_requires_the_admin_token_and_v1_can_require_a_key() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("c.json");
    std::fs::write(&path, r#"{"adminToken": "tok-0123456789", "routerApiKey": "rk-0123456789", "autoPingEnabled": false, "providers": {"opencode": {"enabled": false}}}"#).unwrap();
    let mut options = EngineOptions::new(path);
    options.bind = IpAddr::V4(Ipv4Addr::UNSPECIFIED);
    options.port = 0;
    options.env = EnvSource::empty();
    options.secret_store = Some(std::sync::Arc::new(MemoryStore::new()));
    let engine = engine::start(options).await.unwrap();
    let port = engine.local_addr().port();
    let client = reqwest::Client::builder().no_proxy().build().unwrap();
    let url = |p: &str| format!("http://127.0.0.1:{port}{p}");

    assert_eq!(
        client
            .get(url("/api/status"))
            .send()
            .await
            .unwrap()
            .status(),
        401
    );
    assert_eq!(client.get(url("/")).send().await.unwrap().status(), 401);
    let authorized = client
        .get(url("/api/status"))
        .bearer_auth("tok-0123456789")
        .send()
        .await
        .unwrap();
    assert_eq!(authorized.status(), 200);
    let first_visit = client
        .get(url("/?token=tok-0123456789"))
        .send()
        .await
        .unwrap();
    assert_eq!(first_visit.status(), 200);
    let cookie = first_visit.headers()["set-cookie"]
        .to_str()
        .unwrap()
        .to_string();
    assert!(cookie.contains("HttpOnly") && cookie.contains("SameSite=Strict"));
    assert!(engine.admin_url().ends_with("?token=tok-0123456789"));

    let chat = json!({"model": "auto-fastest", "messages": [{"role": "user", "content": "hi"}]});
    let refused = client
        .post(url("/v1/chat/completions"))
        .json(&chat)
        .send()
        .await
        .unwrap();
    assert_eq!(refused.status(), 401);
    assert_eq!(
        refused.json::<Value>().await.unwrap()["error"]["code"],
        "invalid_api_key"
    );
    let allowed = client
        .post(url("/v1/chat/completions"))
        .bearer_auth("rk-0123456789")
        .json(&chat)
        .send()
        .await
        .unwrap();
    assert_eq!(
        allowed.status(),
        503,
        "past the key check (nothing is configured)"
    );
    engine.shutdown().await;
}

#[tokio::test]
async fn live_events_push_rankings_and_log_entries() {
    let (_fake, router) = router_with_endpoint().await;
    let response = router
        .client
        .get(router.url("/api/events"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.headers()["content-type"], "text/event-stream");
    let mut stream = response.bytes_stream();
    let mut text = String::new();
    let read_until = async |text: &mut String,
                            stream: &mut (dyn futures_util::Stream<Item = reqwest::Result<bytes::Bytes>>
                                      + Unpin),
                            needle: &str| {
        tokio::time::timeout(Duration::from_secs(10), async {
            while !text.contains(needle) {
                let chunk = stream.next().await.unwrap().unwrap();
                text.push_str(&String::from_utf8_lossy(&chunk));
            }
        })
        .await
        .unwrap_or_else(|_| panic!("no `{needle}` event in {text}"));
    };
    read_until(&mut text, &mut stream, "event: models").await;
    assert!(text.contains("event: settings") && text.contains("event: providers"));
    router.chat(user_message("m", false)).await;
    read_until(&mut text, &mut stream, "event: log").await;
    let after_log = text.split("event: log").nth(1).unwrap().to_string();
    let mut rest = after_log;
    read_until(&mut rest, &mut stream, "event: models").await;
    assert!(!text.contains("NEVER-SHOWN"));
}

#[tokio::test]
async fn an_open_event_stream_does_not_hold_up_shutdown() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("c.json");
    std::fs::write(
        &path,
        r#"{"autoPingEnabled": false, "providers": {"opencode": {"enabled": false}}}"#,
    )
    .unwrap();
    let mut options = EngineOptions::new(path);
    options.port = 0;
    options.env = EnvSource::empty();
    options.secret_store = Some(std::sync::Arc::new(MemoryStore::new()));
    options.shutdown_grace = Duration::from_secs(30);
    let engine = engine::start(options).await.unwrap();
    let client = reqwest::Client::builder().no_proxy().build().unwrap();
    let events = client
        .get(format!("http://{}/api/events", engine.local_addr()))
        .send()
        .await
        .unwrap();
    assert_eq!(events.status(), 200);
    let mut stream = events.bytes_stream();
    stream.next().await.unwrap().unwrap();
    tokio::time::timeout(Duration::from_secs(10), engine.shutdown())
        .await
        .expect("shutdown does not wait out the 30 s grace period for a live page");
    let rest: Vec<_> = tokio::time::timeout(Duration::from_secs(5), stream.collect::<Vec<_>>())
        .await
        .unwrap();
    assert!(rest.len() < 10, "the stream ended");
}
