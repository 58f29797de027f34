//! Routing around what free providers do besides cutting streams: prompts too long for a
//! row's window, every row failing at once, a slow first token from a row nobody has measured,
//! and a short rate limit on the row the user prefers. Real router, fake upstreams.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use std::time::Duration;

use serde_json::{json, Value};
use support::*;

fn endpoint(fake: &FakeUpstream, model: &str, priority: i32) -> Value {
    json!({"enabled": true, "name": model, "baseUrl": fake.base_url(), "modelId": model,
           "discoverModels": false, "priority": priority})
}

const OPENAI_OVERFLOW: &str = r#"{"error":{"message":"This model's maximum context length is 8192 tokens. However, your messages resulted in 9000 tokens.","type":"invalid_request_error","param":"messages","code":"context_length_exceeded"}}"#;
const GROQ_OVERFLOW: &str = r#"{"error":{"message":"Please reduce the length of the messages or completion.","type":"invalid_request_error","param":"messages"}}"#;

#[tokio::test]
async fn a_context_overflow_moves_to_another_model_and_is_never_resent_to_the_same_row() {
    let fake = FakeUpstream::start().await;
    fake.on(
        "small",
        Script::raw(400, "application/json", OPENAI_OVERFLOW),
    );
    fake.on("large", Script::text("fits here"));
    let router = start_router(json!({"providers": {
        "openai-compatible:s": endpoint(&fake, "small", 0),
        "openai-compatible:l": endpoint(&fake, "large", 1),
    }}))
    .await;
    let response = router.chat(user_message("auto-fastest", false)).await;
    assert_eq!(response.status(), 200);
    assert_eq!(
        response.headers()["x-modelrelay-provider"],
        "openai-compatible:l"
    );
    let models: Vec<String> = fake
        .chat_requests()
        .iter()
        .map(|r| r.json()["model"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(
        models,
        ["small", "large"],
        "the overflowing row is asked once"
    );
}

#[tokio::test]
async fn when_no_other_model_fits_the_first_overflow_comes_back_unchanged() {
    let fake = FakeUpstream::start().await;
    fake.on(
        "small",
        Script::raw(400, "application/json", OPENAI_OVERFLOW),
    );
    fake.on("other", Script::raw(400, "application/json", GROQ_OVERFLOW));
    fake.on(
        "third",
        Script::text("never asked: one unknown-window try only"),
    );
    let router = start_router(json!({"providers": {
        "openai-compatible:s": endpoint(&fake, "small", 0),
        "openai-compatible:o": endpoint(&fake, "other", 1),
        "openai-compatible:t": endpoint(&fake, "third", 2),
    }}))
    .await;
    let response = router.chat(user_message("auto-fastest", false)).await;
    assert_eq!(response.status(), 400);
    assert_eq!(
        response.headers()["x-modelrelay-provider"],
        "openai-compatible:s"
    );
    assert_eq!(response.text().await.unwrap(), OPENAI_OVERFLOW);
    let models: Vec<String> = fake
        .chat_requests()
        .iter()
        .map(|r| r.json()["model"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(models, ["small", "other"]);
}

#[tokio::test]
async fn when_every_row_is_failing_a_request_waits_for_the_first_trial_and_is_sent_as_it() {
    let fake = FakeUpstream::start().await;
    fake.on_sequence(
        "flaky",
        vec![
            Script::status(503, "down"),
            Script::status(503, "down"),
            Script::text("back again"),
        ],
    );
    let router = start_router(json!({"providers": {
        "openai-compatible:f": endpoint(&fake, "flaky", 0),
    }}))
    .await;
    for _ in 0..2 {
        assert_eq!(
            router.chat(user_message("flaky", false)).await.status(),
            502
        );
    }
    // The circuit is open now: the next request waits for its trial instead of a 503.
    let response = router.chat(user_message("flaky", false)).await;
    assert_eq!(response.status(), 200);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["choices"][0]["message"]["content"], "back again");
    assert_eq!(fake.chat_requests().len(), 3, "one trial, no more");
}

#[tokio::test]
async fn a_row_nobody_measured_gets_twelve_seconds_for_its_first_token_when_another_remains() {
    let fake = FakeUpstream::start().await;
    fake.on(
        "slow",
        Script::text("late").first_byte_delay(Duration::from_secs(30)),
    );
    fake.on("steady", Script::text("on time"));
    let router = start_router(json!({
        "timeouts": {"firstByteMs": 60000},
        "providers": {
            "openai-compatible:a": endpoint(&fake, "slow", 0),
            "openai-compatible:b": endpoint(&fake, "steady", 1),
        }
    }))
    .await;
    let started = std::time::Instant::now();
    let response = router.chat(user_message("auto-fastest", true)).await;
    assert_eq!(response.status(), 200);
    assert_eq!(
        response.headers()["x-modelrelay-provider"],
        "openai-compatible:b"
    );
    let text = streamed_text(&sse_events(response).await);
    assert_eq!(text, "on time");
    assert!(
        started.elapsed() < Duration::from_secs(30),
        "failed over before the slow row's first token"
    );
}

#[tokio::test]
async fn a_short_retry_after_on_the_only_better_tier_row_is_waited_out() {
    let fake = FakeUpstream::start().await;
    fake.on_sequence(
        "preferred",
        vec![
            Script::status(429, "slow down").header("retry-after", "1"),
            Script::text("from the preferred row"),
        ],
    );
    fake.on("backup", Script::text("from the backup"));
    let router = start_router(json!({"providers": {
        "openai-compatible:p": endpoint(&fake, "preferred", 0),
        "openai-compatible:q": endpoint(&fake, "backup", 1),
    }}))
    .await;
    let response = router.chat(user_message("auto-fastest", false)).await;
    assert_eq!(response.status(), 200);
    assert_eq!(
        response.headers()["x-modelrelay-provider"],
        "openai-compatible:p"
    );
    assert!(!fake
        .chat_requests()
        .iter()
        .any(|r| r.json()["model"] == "backup"));
}

#[tokio::test]
async fn without_priorities_a_short_retry_after_fails_over_at_once() {
    let fake = FakeUpstream::start().await;
    fake.on(
        "first",
        Script::status(429, "slow down").header("retry-after", "1"),
    );
    fake.on("second", Script::text("from the second row"));
    let router = start_router(json!({"providers": {
        "openai-compatible:p": endpoint(&fake, "first", 0),
        "openai-compatible:q": endpoint(&fake, "second", 0),
    }}))
    .await;
    let response = router.chat(user_message("auto-fastest", false)).await;
    assert_eq!(response.status(), 200);
    let requests: Vec<String> = fake
        .chat_requests()
        .iter()
        .map(|r| r.json()["model"].as_str().unwrap().to_string())
        .collect();
    assert!(
        requests == ["first", "second"] || requests == ["second"],
        "{requests:?}"
    );
}
