//! A catalog that stays true at run time: rows a provider's model list omits are retired (never
//! planned, never probed, shown as retired) and come back when listed again; a model-not-found
//! or 410 retires one row at once without costing the request; a failed discovery retires
//! nothing. Real router, fake providers.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use std::time::Duration;

use serde_json::{json, Value};
use support::*;

const KEPT: &str = "openai/gpt-oss-120b";
const DROPPED: &str = "llama-3.3-70b-versatile";

/// Groq's built-in rows, served by `fake`.
fn groq_config(fake: &FakeUpstream, with_key: bool) -> Value {
    let mut config = json!({"providers": {"groq": {"baseUrl": fake.base_url()}}});
    if with_key {
        config["apiKeys"] = json!({"groq": "gsk-test"});
    }
    config
}

async fn row(router: &TestRouter, id: &str) -> Value {
    router.model_row(|row| row["id"] == id).await
}

/// Polls `/api/models` until `id`'s status satisfies `check` (discovery runs in the background).
async fn wait_for_status(router: &TestRouter, id: &str, check: impl Fn(&str) -> bool) -> Value {
    for _ in 0..200 {
        let row = row(router, id).await;
        if check(row["status"].as_str().unwrap()) {
            return row;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    panic!(
        "{id} never reached the expected status: {}",
        row(router, id).await
    );
}

fn chat_models(fake: &FakeUpstream) -> Vec<String> {
    fake.chat_requests()
        .iter()
        .map(|r| r.json()["model"].as_str().unwrap().to_string())
        .collect()
}

#[tokio::test]
async fn rows_the_provider_no_longer_lists_are_retired_and_come_back_when_listed() {
    let fake = FakeUpstream::start().await;
    fake.on(KEPT, Script::text("kept"));
    fake.on(DROPPED, Script::text("dropped"));
    fake.replace_model_list(&[KEPT]);
    // No key yet: a provider that needs one is not asked for its list.
    let router = start_router(groq_config(&fake, false)).await;
    let dropped_id = format!("groq/{DROPPED}");
    assert_eq!(row(&router, &dropped_id).await["status"], "no_key");

    // Setting a key runs discovery for that provider.
    let set = router
        .send_json(
            reqwest::Method::PUT,
            "/api/providers/groq/key",
            &json!({"apiKey": "gsk-test"}),
        )
        .await;
    assert!(set.status().is_success(), "{}", set.text().await.unwrap());
    let retired = wait_for_status(&router, &dropped_id, |s| s == "retired").await;
    assert_eq!(retired["retired"]["reason"], "not_listed");
    assert_eq!(retired["listing"], "not_listed");
    assert_eq!(
        retired["retired"]["lastSeen"],
        Value::Null,
        "no list had it since the start"
    );
    assert_eq!(retired["rank"], Value::Null);
    let kept = row(&router, &format!("groq/{KEPT}")).await;
    assert_eq!(kept["listing"], "listed");
    assert_ne!(kept["status"], "retired");

    // Never a candidate: auto-fastest goes to the listed row, the exact id is refused.
    for _ in 0..3 {
        let response = router.chat(user_message("auto-fastest", false)).await;
        assert_eq!(response.status(), 200);
        assert_eq!(response.headers()["x-modelrelay-model"], KEPT);
    }
    let response = router.chat(user_message(&dropped_id, false)).await;
    assert_eq!(response.status(), 503);
    let error = response.json::<Value>().await.unwrap();
    assert!(
        error["error"]["message"]
            .as_str()
            .unwrap()
            .contains("retired"),
        "{error}"
    );
    assert!(!chat_models(&fake).contains(&DROPPED.to_string()));

    // Listed again: back in routing.
    fake.replace_model_list(&[KEPT, DROPPED]);
    let refreshed = router
        .post_json("/api/providers/groq/refresh", &json!({}))
        .await;
    assert!(refreshed.status().is_success());
    let back = wait_for_status(&router, &dropped_id, |s| s != "retired").await;
    assert_eq!(back["listing"], "listed");
    assert_eq!(back["retired"], Value::Null);
    let response = router.chat(user_message(&dropped_id, false)).await;
    assert_eq!(response.status(), 200);
    assert!(chat_models(&fake).contains(&DROPPED.to_string()));
}

#[tokio::test]
async fn a_model_not_found_retires_the_row_after_one_request_without_costing_it() {
    let fake = FakeUpstream::start().await;
    fake.on(
        "gone",
        Script::raw(
            404,
            "application/json",
            r#"{"error":{"message":"The model `gone` does not exist or you do not have access to it.","type":"invalid_request_error","code":"model_not_found"}}"#,
        ),
    );
    fake.on("alive", Script::text("still here"));
    let endpoint = |model: &str, priority: i32| {
        json!({"enabled": true, "name": model, "baseUrl": fake.base_url(), "modelId": model,
               "discoverModels": false, "priority": priority, "group": "same-model"})
    };
    // One attempt per request: the gone row must not use it up.
    let router = start_router(json!({"maxAttempts": 1, "providers": {
        "openai-compatible:a": endpoint("gone", 0),
        "openai-compatible:b": endpoint("alive", 1),
    }}))
    .await;
    let first = router.chat(user_message("same-model", false)).await;
    assert_eq!(
        first.status(),
        200,
        "the gone row costs the request nothing"
    );
    assert_eq!(first.headers()["x-modelrelay-model"], "alive");

    for _ in 0..3 {
        let next = router.chat(user_message("same-model", false)).await;
        assert_eq!(next.status(), 200);
        assert_eq!(next.headers()["x-modelrelay-model"], "alive");
        assert_eq!(
            next.headers()["x-modelrelay-attempts"],
            "1",
            "no failed attempt"
        );
    }
    assert_eq!(
        chat_models(&fake),
        ["gone", "alive", "alive", "alive", "alive"]
    );

    let retired = row(&router, "openai-compatible:a/gone").await;
    assert_eq!(retired["status"], "retired");
    assert_eq!(retired["retired"]["reason"], "model_gone");
    assert!(retired["retired"]["message"]
        .as_str()
        .unwrap()
        .contains("does not exist"));
    let for_seconds = retired["retired"]["forSeconds"].as_f64().unwrap();
    assert!(
        for_seconds > 23.0 * 3600.0 && for_seconds <= 24.0 * 3600.0,
        "a day by default: {for_seconds}"
    );
    assert_eq!(retired["errorRate"], 0.0, "retired, not failing");
}

#[tokio::test]
async fn a_410_on_one_row_leaves_the_providers_other_rows_up() {
    let fake = FakeUpstream::start().await;
    fake.on(
        DROPPED,
        Script::raw(
            410,
            "application/json",
            r#"{"status":410,"title":"Gone","detail":"Function not found"}"#,
        ),
    );
    fake.on(KEPT, Script::text("kept"));
    let router =
        start_router(json!({"retiredRowHours": 2, "providers": {"groq": {"baseUrl": fake.base_url()}}, "apiKeys": {"groq": "gsk-test"}}))
            .await;
    let gone = router
        .chat(user_message(&format!("groq/{DROPPED}"), false))
        .await;
    assert_eq!(gone.status(), 502, "{}", gone.text().await.unwrap());
    let again = router
        .chat(user_message(&format!("groq/{DROPPED}"), false))
        .await;
    assert_eq!(again.status(), 503, "retired: not tried again");
    assert_eq!(
        chat_models(&fake),
        [DROPPED],
        "one request reached the gone row"
    );

    let kept = router
        .chat(user_message(&format!("groq/{KEPT}"), false))
        .await;
    assert_eq!(kept.status(), 200);
    let kept = row(&router, &format!("groq/{KEPT}")).await;
    assert_eq!(kept["status"], "up");
    let retired = row(&router, &format!("groq/{DROPPED}")).await;
    assert_eq!(retired["status"], "retired");
    let for_seconds = retired["retired"]["forSeconds"].as_f64().unwrap();
    assert!(
        for_seconds <= 2.0 * 3600.0 && for_seconds > 3600.0,
        "retiredRowHours: {for_seconds}"
    );
}

#[tokio::test]
async fn a_failed_discovery_retires_nothing() {
    let fake = FakeUpstream::start().await;
    fake.on(DROPPED, Script::text("still served"));
    fake.fail_model_list(Some(500));
    let router = start_router(groq_config(&fake, true)).await;
    let providers = loop {
        let groq = router.provider_view("groq").await;
        if !groq["discovery"]["lastError"].is_null() {
            break groq;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    };
    assert!(providers["discovery"]["lastError"]
        .as_str()
        .unwrap()
        .contains("500"));
    let models = router.get_json("/api/models").await;
    let groq_rows: Vec<&Value> = models["models"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|row| row["provider"] == "groq")
        .collect();
    assert!(!groq_rows.is_empty());
    for row in groq_rows {
        assert_ne!(row["status"], "retired", "{row}");
        assert_eq!(row["listing"], "unknown");
    }
    let response = router
        .chat(user_message(&format!("groq/{DROPPED}"), false))
        .await;
    assert_eq!(response.status(), 200);
}

#[tokio::test]
async fn the_rankings_hide_retired_rows_until_asked() {
    if !browser::browser_available() {
        return;
    }
    let fake = FakeUpstream::start().await;
    fake.on(KEPT, Script::text("kept"));
    fake.replace_model_list(&[KEPT]);
    let router = start_router(groq_config(&fake, true)).await;
    let retired = format!("groq/{DROPPED}");
    wait_for_status(&router, &retired, |s| s == "retired").await;
    let summary = browser::run_script(
        "catalog.mjs",
        vec![router.url(""), retired, format!("groq/{KEPT}")],
        Duration::from_secs(90),
    )
    .await;
    assert_eq!(summary["shown"]["status"], "Retired", "{summary:#}");
}
