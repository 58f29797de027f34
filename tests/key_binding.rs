//! A stored key is bound to the host it was entered for. Repointing a provider through the
//! admin API (as any local process could) must not make the router hand the key to the new
//! host, until the user enters the key again or confirms the move with `keepKey`.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use std::time::Duration;

use serde_json::{json, Value};
use support::*;

const KEY: &str = "gsk_NEVER-LEAVES-0123456789";

async fn post(router: &TestRouter, path: &str, body: Value) -> (u16, Value) {
    send(router, reqwest::Method::POST, path, body).await
}

async fn put(router: &TestRouter, path: &str, body: Value) -> (u16, Value) {
    send(router, reqwest::Method::PUT, path, body).await
}

async fn send(
    router: &TestRouter,
    method: reqwest::Method,
    path: &str,
    body: Value,
) -> (u16, Value) {
    let response = router.send_json(method, path, &body).await;
    let status = response.status().as_u16();
    (status, response.json().await.unwrap_or(Value::Null))
}

async fn groq_view(router: &TestRouter) -> Value {
    router.provider_view("groq").await
}

/// Waits until groq's stored key may be sent again.
async fn wait_for_key_released(router: &TestRouter) {
    for _ in 0..200 {
        if groq_view(router).await["keyWithheld"].is_null() {
            return;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    panic!("the key stayed withheld");
}

/// Waits until the catalog serves groq from `base`.
async fn wait_for_base(router: &TestRouter, base: &str) -> Value {
    for _ in 0..200 {
        let view = groq_view(router).await;
        if view["baseUrl"] == base {
            return view;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    panic!("groq never moved to {base}");
}

fn bearer_seen(fake: &FakeUpstream) -> bool {
    fake.received().iter().any(|r| {
        r.headers
            .get("authorization")
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| v.contains(KEY))
    })
}

#[tokio::test]
async fn a_repointed_provider_does_not_get_the_key_until_the_move_is_confirmed() {
    let home = FakeUpstream::start().await;
    home.list_models(&["openai/gpt-oss-120b"]);
    home.otherwise(Script::text("hi"));
    let listener = FakeUpstream::start().await;
    listener.list_models(&["openai/gpt-oss-120b"]);
    listener.otherwise(Script::text("stolen"));
    let router = start_router(json!({
        "providers": {"groq": {"baseUrl": home.base_url()}},
        "apiKeys": {"groq": KEY}
    }))
    .await;

    let (status, _) = post(
        &router,
        "/api/providers/groq",
        json!({"baseUrl": listener.base_url()}),
    )
    .await;
    assert_eq!(status, 200);
    let view = wait_for_base(&router, &listener.base_url()).await;
    assert!(view["keyWithheld"].is_string(), "{view}");
    let (status, _) = post(&router, "/api/providers/groq/refresh", json!({})).await;
    assert!(status < 500, "{status}");
    let response = router
        .chat(user_message("groq/openai/gpt-oss-120b", false))
        .await;
    assert_ne!(response.status(), 200, "no key, no request to the new host");
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert!(!bearer_seen(&listener), "the key went to the new host");

    // The user confirms the move in words on the page: `keepKey`.
    let (status, _) = post(
        &router,
        "/api/providers/groq",
        json!({"baseUrl": listener.base_url(), "keepKey": true}),
    )
    .await;
    assert_eq!(status, 200);
    wait_for_key_released(&router).await;
    let response = router
        .chat(user_message("groq/openai/gpt-oss-120b", false))
        .await;
    assert_eq!(response.status(), 200);
    assert!(
        bearer_seen(&listener),
        "after the confirmation the key is sent"
    );
    assert!(
        !bearer_seen(&home)
            || home
                .received()
                .iter()
                .all(|r| r.path != "/v1/chat/completions")
    );
}

#[tokio::test]
async fn a_key_entered_again_is_bound_to_the_new_host() {
    let listener = FakeUpstream::start().await;
    listener.otherwise(Script::text("ok"));
    let home = FakeUpstream::start().await;
    let router = start_router(json!({
        "providers": {"groq": {"baseUrl": home.base_url()}},
        "apiKeys": {"groq": KEY}
    }))
    .await;
    post(
        &router,
        "/api/providers/groq",
        json!({"baseUrl": listener.base_url()}),
    )
    .await;
    wait_for_base(&router, &listener.base_url()).await;
    let (status, _) = put(&router, "/api/providers/groq/key", json!({"apiKey": KEY})).await;
    assert_eq!(status, 200);
    wait_for_key_released(&router).await;
    let response = router
        .chat(user_message("groq/openai/gpt-oss-120b", false))
        .await;
    assert_eq!(response.status(), 200);
    assert!(bearer_seen(&listener));
}

#[tokio::test]
async fn a_key_with_a_line_break_is_refused_at_entry() {
    let router = start_router(json!({})).await;
    let (status, body) = put(
        &router,
        "/api/providers/groq/key",
        json!({"apiKey": "gsk_abc\r\nX-Injected: 1"}),
    )
    .await;
    assert_eq!(status, 400);
    assert!(body["error"]["message"]
        .as_str()
        .unwrap()
        .contains("line break"));
}
