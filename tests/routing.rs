//! The router end to end with several fakes of different speeds and failure modes:
//! auto-fastest follows the fastest row, failing and rate-limited rows stop getting traffic
//! and come back, pins and bans apply at once, probes measure idle rows.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use std::time::Duration;

use serde_json::{json, Value};
use support::*;

async fn served_by(router: &TestRouter, model: &str) -> String {
    let response = router.chat(user_message(model, true)).await;
    assert_eq!(response.status(), 200, "{model}");
    let provider = response.headers()["x-modelrelay-provider"]
        .to_str()
        .unwrap()
        .to_string();
    let events = sse_events(response).await;
    assert_eq!(events.last().unwrap(), "[DONE]");
    provider
}

/// One request to each row by its exact id, so both have measurements.
async fn measure(router: &TestRouter, rows: &[&str]) {
    for row in rows {
        served_by(router, row).await;
    }
}

async fn eventually(what: &str, mut check: impl AsyncFnMut() -> bool) {
    tokio::time::timeout(Duration::from_secs(20), async {
        while !check().await {
            tokio::time::sleep(ms(50)).await;
        }
    })
    .await
    .unwrap_or_else(|_| panic!("timed out waiting until {what}"));
}

#[tokio::test]
async fn auto_fastest_follows_the_fastest_row_as_speeds_change() {
    let a = FakeUpstream::start().await;
    let b = FakeUpstream::start().await;
    a.on("m", Script::text("from a").first_byte_delay(ms(20)));
    b.on("m", Script::text("from b").first_byte_delay(ms(700)));
    let router = start_router(endpoints_config(&[("a", &a, "m"), ("b", &b, "m")])).await;
    measure(&router, &["openai-compatible:a/m", "openai-compatible:b/m"]).await;
    for _ in 0..3 {
        assert_eq!(
            served_by(&router, "auto-fastest").await,
            "openai-compatible:a"
        );
    }
    // `a` turns slow: within a few requests the router moves to `b`.
    a.on("m", Script::text("from a").first_byte_delay(ms(2500)));
    let mut served = Vec::new();
    for _ in 0..6 {
        served.push(served_by(&router, "m").await);
    }
    assert_eq!(served.last().unwrap(), "openai-compatible:b", "{served:?}");
    assert!(
        served.iter().filter(|p| p.ends_with(":a")).count() <= 4,
        "{served:?}"
    );
}

#[tokio::test]
async fn a_failing_row_stops_getting_traffic_and_comes_back_after_it_recovers() {
    let a = FakeUpstream::start().await;
    let b = FakeUpstream::start().await;
    a.on("m", Script::text("fast").first_byte_delay(ms(10)));
    b.on("m", Script::text("slow").first_byte_delay(ms(600)));
    let router = start_router(endpoints_config(&[("a", &a, "m"), ("b", &b, "m")])).await;
    measure(&router, &["openai-compatible:a/m", "openai-compatible:b/m"]).await;
    assert_eq!(served_by(&router, "m").await, "openai-compatible:a");

    a.on("m", Script::status(503, "down for maintenance"));
    assert_eq!(
        served_by(&router, "m").await,
        "openai-compatible:b",
        "the failure fails over"
    );
    let explicit = router
        .chat(user_message("openai-compatible:a/m", false))
        .await;
    assert_eq!(explicit.status(), 502, "a second failure opens the circuit");
    let failed = a.chat_requests().len();
    for _ in 0..4 {
        assert_eq!(served_by(&router, "m").await, "openai-compatible:b");
    }
    assert_eq!(
        a.chat_requests().len(),
        failed,
        "a dead row stops getting traffic at once"
    );

    a.on("m", Script::text("fast again").first_byte_delay(ms(10)));
    eventually("the recovered row serves again", async || {
        served_by(&router, "m").await == "openai-compatible:a"
    })
    .await;
}

#[tokio::test]
async fn a_rate_limited_row_is_skipped_until_its_reset() {
    let a = FakeUpstream::start().await;
    let b = FakeUpstream::start().await;
    a.on_sequence(
        "m",
        vec![
            Script::text("ok").first_byte_delay(ms(10)),
            Script::status(429, "slow down").header("retry-after", "2"),
            Script::text("ok"),
        ],
    );
    b.on("m", Script::text("fallback").first_byte_delay(ms(400)));
    let router = start_router(endpoints_config(&[("a", &a, "m"), ("b", &b, "m")])).await;
    measure(&router, &["openai-compatible:a/m", "openai-compatible:b/m"]).await;
    assert_eq!(
        served_by(&router, "m").await,
        "openai-compatible:b",
        "the 429 fails over"
    );
    let after_429 = a.chat_requests().len();
    for _ in 0..3 {
        assert_eq!(served_by(&router, "m").await, "openai-compatible:b");
    }
    assert_eq!(
        a.chat_requests().len(),
        after_429,
        "no request is sent to a row known to be rate-limited"
    );
    tokio::time::sleep(Duration::from_millis(2100)).await;
    assert_eq!(served_by(&router, "m").await, "openai-compatible:a");
}

#[tokio::test]
async fn when_every_row_is_cooling_down_the_answer_says_when_to_retry() {
    let a = FakeUpstream::start().await;
    a.on(
        "m",
        Script::status(429, "quota").header("retry-after", "120"),
    );
    let router = start_router(endpoints_config(&[("a", &a, "m")])).await;
    let first = router.chat(user_message("m", false)).await;
    assert_eq!(first.status(), 429);
    let second = router.chat(user_message("m", false)).await;
    assert_eq!(second.status(), 429);
    let retry_after: u64 = second.headers()["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!((100..=120).contains(&retry_after), "{retry_after}");
    let body: Value = second.json().await.unwrap();
    let message = body["error"]["message"].as_str().unwrap();
    assert!(
        message.contains("openai-compatible:a/m") && message.contains("resets in"),
        "{message}"
    );
    assert_eq!(
        a.chat_requests().len(),
        1,
        "the cooling row was not called again"
    );
}

#[tokio::test]
async fn a_short_rate_limit_on_the_only_row_is_waited_out() {
    let a = FakeUpstream::start().await;
    a.on_sequence(
        "m",
        vec![
            Script::status(429, "wait a second").header("retry-after", "1"),
            Script::text("after waiting"),
        ],
    );
    let router = start_router(endpoints_config(&[("a", &a, "m")])).await;
    let response = router.chat(user_message("m", false)).await;
    assert_eq!(response.status(), 200);
    assert_eq!(response.headers()["x-modelrelay-attempts"], "2");
}

#[tokio::test]
async fn a_single_500_is_retried_once_on_the_same_row() {
    let a = FakeUpstream::start().await;
    a.on_sequence(
        "m",
        vec![Script::status(500, "hiccup"), Script::text("fine")],
    );
    let b = FakeUpstream::start().await;
    b.on("m", Script::text("other"));
    let router = start_router(endpoints_config(&[("a", &a, "m"), ("b", &b, "m")])).await;
    let response = router
        .chat(user_message("openai-compatible:a/m", false))
        .await;
    assert_eq!(response.status(), 200);
    assert_eq!(response.headers()["x-modelrelay-attempts"], "2");
    assert!(b.chat_requests().is_empty());
}

#[tokio::test]
async fn a_prompt_too_long_for_one_row_moves_to_a_row_with_a_larger_window() {
    let small = FakeUpstream::start().await;
    small.otherwise(Script::status(
        400,
        "This model's maximum context length is 8192 tokens",
    ));
    let large = FakeUpstream::start().await;
    large.otherwise(Script::text("fits"));
    // GLM 4.7: 8,192 tokens on Cerebras' free tier, 200K on NVIDIA (built-in catalog).
    let router = start_router(json!({
        "providers": {
            "cerebras": {"baseUrl": small.base_url(), "priority": -1},
            "nvidia": {"baseUrl": large.base_url()}
        },
        "apiKeys": {"cerebras": "csk-0123456789", "nvidia": "nvapi-0123456789"}
    }))
    .await;
    let response = router.chat(user_message("glm-4.7", false)).await;
    assert_eq!(response.status(), 200);
    assert_eq!(response.headers()["x-modelrelay-provider"], "nvidia");
    assert_eq!(small.chat_requests().len(), 1);
}

#[tokio::test]
async fn a_content_policy_refusal_is_returned_without_trying_others() {
    let a = FakeUpstream::start().await;
    a.on(
        "m",
        Script::raw(
            400,
            "application/json",
            r#"{"error":{"message":"flagged by content policy","code":"content_filter"}}"#,
        ),
    );
    let b = FakeUpstream::start().await;
    b.on("m", Script::text("should not be used"));
    let router = start_router(endpoints_config(&[("a", &a, "m"), ("b", &b, "m")])).await;
    let response = router.chat(user_message("m", false)).await;
    assert_eq!(response.status(), 400);
    assert_eq!(
        response.json::<Value>().await.unwrap()["error"]["code"],
        "content_filter"
    );
    assert!(b.chat_requests().is_empty());
}

#[tokio::test]
async fn pins_and_bans_change_routing_at_once() {
    let a = FakeUpstream::start().await;
    let b = FakeUpstream::start().await;
    a.on("m", Script::text("a").first_byte_delay(ms(10)));
    b.on("other", Script::text("b").first_byte_delay(ms(300)));
    let router = start_router(endpoints_config(&[("a", &a, "m"), ("b", &b, "other")])).await;
    measure(
        &router,
        &["openai-compatible:a/m", "openai-compatible:b/other"],
    )
    .await;
    assert_eq!(
        served_by(&router, "auto-fastest").await,
        "openai-compatible:a"
    );

    let config = &router.engine.state().config;
    config
        .update(|raw| {
            raw.insert(
                "pinned".into(),
                json!({"provider": "openai-compatible:b", "modelId": "other", "group": "other"}),
            );
        })
        .unwrap();
    assert_eq!(
        served_by(&router, "auto-fastest").await,
        "openai-compatible:b",
        "a pin governs auto requests"
    );
    assert_eq!(
        served_by(&router, "m").await,
        "openai-compatible:a",
        "an explicit model is still honoured"
    );

    config
        .update(|raw| {
            raw.shift_remove("pinned");
            raw.insert("bannedModels".into(), json!(["openai-compatible:a/m"]));
        })
        .unwrap();
    assert_eq!(
        served_by(&router, "auto-fastest").await,
        "openai-compatible:b",
        "a ban applies to the next request"
    );
    let banned = router
        .chat(user_message("openai-compatible:a/m", false))
        .await;
    assert_eq!(banned.status(), 503);
    let saved: Value =
        serde_json::from_slice(&std::fs::read(router.config_path()).unwrap()).unwrap();
    assert_eq!(
        saved["bannedModels"],
        json!(["openai-compatible:a/m"]),
        "bans are persisted"
    );
}

#[tokio::test]
async fn a_ban_from_the_command_line_applies_to_a_whole_group() {
    let a = FakeUpstream::start().await;
    a.otherwise(Script::text("x"));
    let mut setup = RouterSetup::new(endpoints_config(&[("a", &a, "m"), ("b", &a, "n")]));
    setup.bans = vec!["m".into()];
    let router = start_router_with(setup).await;
    assert_eq!(
        served_by(&router, "auto-fastest").await,
        "openai-compatible:b"
    );
    assert_eq!(router.chat(user_message("m", false)).await.status(), 503);
}

#[tokio::test]
async fn auto_requests_respect_the_quality_floor_but_named_models_do_not() {
    let fake = FakeUpstream::start().await;
    fake.otherwise(Script::text("x"));
    let router = start_router(json!({
        "providers": {"googleai": {"baseUrl": fake.base_url()}},
        "apiKeys": {"googleai": "AIza-0123456789"},
        "minSweScore": 0.99
    }))
    .await;
    // Every Google row scores below 0.99.
    assert_eq!(
        router
            .chat(user_message("auto-fastest", false))
            .await
            .status(),
        503
    );
    assert_eq!(
        router
            .chat(user_message("googleai/gemma-3-27b-it", false))
            .await
            .status(),
        200
    );
}

#[tokio::test]
async fn probes_measure_idle_rows_with_tiny_requests_and_skip_keyless_ones() {
    let keyed = FakeUpstream::start().await;
    keyed.otherwise(Script::text("OK"));
    let keyless = FakeUpstream::start().await;
    keyless.otherwise(Script::text("OK"));
    let mut config = endpoints_config(&[("a", &keyed, "m")]);
    config["autoPingEnabled"] = json!(true);
    config["providers"]["groq"] = json!({"baseUrl": keyless.base_url()});
    let router = start_router(config).await;
    eventually("a probe arrives", async || {
        !keyed.chat_requests().is_empty()
    })
    .await;
    let probe = keyed.chat_requests()[0].json();
    assert_eq!(probe["max_tokens"], 32);
    assert_eq!(probe["stream"], true);
    let row = router
        .engine
        .state()
        .catalog
        .current()
        .rows
        .iter()
        .find(|r| r.upstream_id == "m")
        .cloned()
        .unwrap();
    eventually("the probe is recorded", async || {
        router
            .engine
            .state()
            .health
            .condition(&row, tokio::time::Instant::now())
            .ttft_ms
            .is_some()
    })
    .await;
    tokio::time::sleep(Duration::from_millis(1500)).await;
    assert_eq!(
        keyed.chat_requests().len(),
        1,
        "a measured row is not probed again before its interval"
    );
    assert!(
        keyless.received().is_empty(),
        "rows without a key are never probed"
    );
}

#[tokio::test]
async fn a_spent_openrouter_account_cools_every_openrouter_row() {
    let fake = FakeUpstream::start().await;
    fake.otherwise(Script::status(429, "Rate limit exceeded").header("retry-after", "5"));
    fake.key_info(json!({"data": {"limit": 10.0, "limit_remaining": 0.0, "usage": 10.0}}));
    let router = start_router(json!({
        "providers": {"openrouter": {"baseUrl": fake.base_url()}},
        "apiKeys": {"openrouter": "sk-or-0123456789"}
    }))
    .await;
    let first = router
        .chat(user_message("openrouter/qwen/qwen3-coder:free", false))
        .await;
    assert_eq!(first.status(), 429);
    eventually("the key endpoint is asked", async || {
        fake.received().iter().any(|r| r.path == "/v1/key")
    })
    .await;
    let calls = fake.chat_requests().len();
    let other_row = router
        .chat(user_message("openrouter/openai/gpt-oss-120b:free", false))
        .await;
    assert_eq!(other_row.status(), 429);
    let retry_after: u64 = other_row.headers()["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!(
        retry_after > 60,
        "the daily pool resets at midnight UTC, not in seconds: {retry_after}"
    );
    assert_eq!(
        fake.chat_requests().len(),
        calls,
        "a row of a spent account is not tried"
    );
}
