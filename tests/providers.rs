//! Every built-in provider reached through a base-URL override against fakes that mimic its
//! quirks, and the rules for keys: env overrides, keyless providers never called, keys never
//! shown.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use std::time::Duration;

use modelrelay::engine::config::EnvSource;
use modelrelay::engine::providers::builtin::BuiltinCatalog;
use serde_json::{json, Value};
use support::*;

fn first_static_id(provider: &str) -> String {
    let catalog = BuiltinCatalog::load().unwrap();
    let id = catalog.models_of(provider).next().unwrap().id.clone();
    id
}

async fn wait_for(router: &TestRouter, what: &str, check: impl Fn(&Value) -> bool) -> Value {
    tokio::time::timeout(Duration::from_secs(10), async {
        loop {
            let models = router.get_json("/v1/models").await;
            if check(&models) {
                return models;
            }
            tokio::time::sleep(ms(20)).await;
        }
    })
    .await
    .unwrap_or_else(|_| panic!("timed out waiting for {what}"))
}

fn group<'a>(models: &'a Value, slug: &str) -> Option<&'a Value> {
    models["data"]
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["id"] == slug)
}

#[tokio::test]
async fn every_built_in_provider_is_called_with_its_key_at_its_overridden_url() {
    let fake = FakeUpstream::start().await;
    fake.otherwise(Script::text("ok"));
    let keyed = [
        "nvidia",
        "groq",
        "cerebras",
        "sambanova",
        "openrouter",
        "opencode",
        "codestral",
        "hyperbolic",
        "scaleway",
        "googleai",
        "kilocode",
    ];
    let mut providers = serde_json::Map::new();
    let mut keys = serde_json::Map::new();
    for key in keyed {
        providers.insert(
            key.into(),
            json!({"baseUrl": fake.base_url(), "enabled": true}),
        );
        keys.insert(key.into(), json!(format!("key-for-{key}-0123456789")));
    }
    let router = start_router(json!({"providers": providers, "apiKeys": keys})).await;
    for key in keyed {
        let id = first_static_id(key);
        let response = router
            .chat(user_message(&format!("{key}/{id}"), false))
            .await;
        assert_eq!(response.status(), 200, "{key}");
        assert_eq!(response.headers()["x-modelrelay-provider"], key);
        let received = fake.chat_requests().into_iter().last().unwrap();
        assert_eq!(received.json()["model"], id.as_str());
        assert_eq!(
            received.headers["authorization"],
            format!("Bearer key-for-{key}-0123456789"),
            "{key}"
        );
    }
    let config = std::fs::read_to_string(router.config_path()).unwrap();
    assert!(
        !config.contains("key-for-"),
        "keys moved out of the config file: {config}"
    );
}

#[tokio::test]
async fn an_environment_key_overrides_the_stored_one() {
    let fake = FakeUpstream::start().await;
    fake.otherwise(Script::text("ok"));
    let mut setup = RouterSetup::new(json!({
        "providers": {"groq": {"baseUrl": fake.base_url()}},
        "apiKeys": {"groq": "stored-key"}
    }));
    setup.env = EnvSource::from_pairs([("GROQ_API_KEY", "env-key")]);
    let router = start_router_with(setup).await;
    let response = router
        .chat(user_message("groq/llama-3.3-70b-versatile", false))
        .await;
    assert_eq!(response.status(), 200);
    assert_eq!(
        fake.chat_requests()[0].headers["authorization"],
        "Bearer env-key"
    );
}

#[tokio::test]
async fn a_provider_without_a_key_is_listed_but_never_called() {
    let fake = FakeUpstream::start().await;
    fake.otherwise(Script::text("should not happen"));
    let router = start_router(json!({"providers": {"groq": {"baseUrl": fake.base_url()}}})).await;
    let models = router.get_json("/v1/models").await;
    let llama = group(&models, "llama-3.3-70b").expect("groups of keyless providers are listed");
    assert!(llama["providers"]
        .as_array()
        .unwrap()
        .contains(&json!("groq")));
    let response = router
        .chat(user_message("groq/llama-3.3-70b-versatile", false))
        .await;
    assert_eq!(response.status(), 503);
    let body: Value = response.json().await.unwrap();
    assert!(body["error"]["message"]
        .as_str()
        .unwrap()
        .contains("API key"));
    tokio::time::sleep(ms(100)).await;
    assert!(
        fake.received().is_empty(),
        "no chat and no discovery without a key"
    );
}

#[tokio::test]
async fn openrouter_discovery_keeps_free_models_and_they_join_their_group() {
    let fake = FakeUpstream::start().await;
    fake.on("moonshotai/kimi-k2.5:free", Script::text("from openrouter"));
    fake.list_models(&["openai/gpt-5", "mistralai/devstral-small:free"]);
    let router = start_router(json!({
        "providers": {"openrouter": {"baseUrl": fake.base_url()}},
        "apiKeys": {"openrouter": "sk-or-0123456789"}
    }))
    .await;
    let models = wait_for(&router, "openrouter discovery", |models| {
        group(models, "kimi-k2.5").is_some_and(|g| {
            g["providers"]
                .as_array()
                .unwrap()
                .contains(&json!("openrouter"))
        })
    })
    .await;
    assert!(
        group(&models, "gpt-5").is_none(),
        "paid models are not listed"
    );
    assert!(group(&models, "devstral-small").is_some());
    let response = router
        .chat(user_message("openrouter/moonshotai/kimi-k2.5:free", false))
        .await;
    assert_eq!(response.status(), 200);
    let discovery = fake
        .received()
        .into_iter()
        .find(|r| r.path == "/v1/models")
        .unwrap();
    assert_eq!(
        discovery.headers["authorization"],
        "Bearer sk-or-0123456789"
    );
}

#[tokio::test]
async fn opencode_works_without_a_key_and_sends_its_session_headers() {
    let fake = FakeUpstream::start().await;
    fake.on("minimax-m2.5-free", Script::text("zen"));
    let router = start_router(
        json!({"providers": {"opencode": {"baseUrl": fake.base_url(), "enabled": true}}}),
    )
    .await;
    let response = router
        .chat(user_message("opencode/minimax-m2.5-free", true))
        .await;
    assert_eq!(response.status(), 200);
    assert_eq!(streamed_text(&sse_events(response).await), "zen");
    let request = &fake.chat_requests()[0];
    assert!(request.headers.get("authorization").is_none());
    assert_eq!(request.headers["x-opencode-client"], "cli");
    assert!(request.headers["x-opencode-session"]
        .to_str()
        .unwrap()
        .starts_with("ses_"));
    assert!(request.headers["x-opencode-request"]
        .to_str()
        .unwrap()
        .starts_with("req_"));
    assert_eq!(
        request.headers["x-opencode-project"].len(),
        40,
        "a sha1 of the working directory"
    );
}

#[tokio::test]
async fn a_local_ollama_is_discovered_through_its_native_api_without_a_key() {
    let fake = FakeUpstream::start().await;
    fake.ollama_model("qwen2.5-coder:7b", Some(16384), Some(32768));
    fake.ollama_model("llama3.2:3b", None, Some(131072));
    fake.ollama_model("nomic-embed-text:latest", None, Some(8192));
    fake.otherwise(Script::text("local"));
    let base = fake.base_url().trim_end_matches("/v1").to_string();
    let router = start_router(json!({"providers": {"ollama": {"baseUrl": base}}})).await;
    let models = wait_for(&router, "ollama discovery", |models| {
        group(models, "llama3.2-3b").is_some()
    })
    .await;
    assert_eq!(
        group(&models, "qwen2.5-coder-7b").unwrap()["context_length"],
        16384,
        "num_ctx wins"
    );
    assert_eq!(
        group(&models, "llama3.2-3b").unwrap()["context_length"],
        131072
    );
    assert!(
        group(&models, "nomic-embed-text").is_none(),
        "embedding models are not chat models"
    );
    let response = router
        .chat(user_message("ollama/qwen2.5-coder:7b", false))
        .await;
    assert_eq!(response.status(), 200);
    assert!(fake.chat_requests()[0]
        .headers
        .get("authorization")
        .is_none());
}

#[tokio::test]
async fn the_ollama_model_variable_adds_a_row() {
    let fake = FakeUpstream::start().await;
    fake.otherwise(Script::text("local"));
    let mut setup = RouterSetup::new(json!({}));
    setup.env = EnvSource::from_pairs([
        ("OLLAMA_BASE_URL", "http://127.0.0.1:9"),
        ("OLLAMA_MODEL", "my-model:q4"),
    ]);
    let router = start_router_with(setup).await;
    let models = router.get_json("/v1/models").await;
    assert!(group(&models, "my-model-q4").is_some(), "{models}");
}

#[tokio::test]
async fn google_error_bodies_are_understood() {
    let fake = FakeUpstream::start().await;
    fake.otherwise(Script::raw(
        503,
        "application/json",
        r#"[{"error":{"code":503,"message":"The model is overloaded. Please try again later.","status":"UNAVAILABLE"}}]"#,
    ));
    let router = start_router(json!({
        "providers": {"googleai": {"baseUrl": fake.base_url()}},
        "apiKeys": {"googleai": "AIza-0123456789"}
    }))
    .await;
    let response = router
        .chat(user_message("googleai/gemma-3-27b-it", false))
        .await;
    assert_eq!(response.status(), 502);
    let body: Value = response.json().await.unwrap();
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("The model is overloaded"),
        "{body}"
    );
}

#[tokio::test]
async fn kilocode_is_off_until_enabled() {
    let fake = FakeUpstream::start().await;
    fake.otherwise(Script::text("kilo"));
    let id = first_static_id("kilocode");
    let off = start_router(json!({"providers": {"kilocode": {"baseUrl": fake.base_url()}}})).await;
    assert_eq!(
        off.chat(user_message(&format!("kilocode/{id}"), false))
            .await
            .status(),
        503
    );
    assert!(fake.chat_requests().is_empty());
    let on = start_router(
        json!({"providers": {"kilocode": {"baseUrl": fake.base_url(), "enabled": true}}}),
    )
    .await;
    assert_eq!(
        on.chat(user_message(&format!("kilocode/{id}"), false))
            .await
            .status(),
        200
    );
}

#[tokio::test]
async fn no_response_ever_contains_a_key() {
    let fake = FakeUpstream::start().await;
    fake.otherwise(Script::status(401, "invalid api key"));
    let secret = "sk-live-THIS-MUST-NOT-LEAK-0123456789";
    let router = start_router(json!({
        "providers": {"groq": {"baseUrl": fake.base_url()}, "openai-compatible:x": {"baseUrl": fake.base_url(), "modelId": "m"}},
        "apiKeys": {"groq": secret, "openai-compatible:x": [secret, secret]}
    }))
    .await;
    let mut bodies = vec![
        router.get_json("/v1/models").await.to_string(),
        router.get_json("/health").await.to_string(),
        router
            .chat(user_message("nope", false))
            .await
            .text()
            .await
            .unwrap(),
        router
            .chat(user_message("auto-fastest", false))
            .await
            .text()
            .await
            .unwrap(),
        router
            .chat(user_message("auto-fastest", true))
            .await
            .text()
            .await
            .unwrap(),
    ];
    bodies.push(
        router
            .client
            .get(router.url("/nothing"))
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap(),
    );
    for body in bodies {
        assert!(!body.contains("THIS-MUST-NOT-LEAK"), "{body}");
    }
    assert!(!std::fs::read_to_string(router.config_path())
        .unwrap()
        .contains("THIS-MUST-NOT-LEAK"));
}
