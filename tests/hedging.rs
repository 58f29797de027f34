//! Hedged requests and pacing through the real router against fake upstreams: a request whose
//! row is slow is also sent to the next row, the first answer wins and the other connection is
//! dropped; no hedge goes to a row without quota headroom or past its provider's hedge budget;
//! a row with a per-minute limit (from the catalog or its headers) is paced and never draws a
//! 429. Delays are made small through `hedging.minDelayMs`; nothing here asserts a duration.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use std::time::Duration;

use serde_json::{json, Value};
use support::*;

const MODEL: &str = "coder";
const ROW_A: &str = "openai-compatible:a/coder";
const ROW_B: &str = "openai-compatible:b/coder";
/// Long enough that the slow row never answers within a test.
const NEVER: Duration = Duration::from_secs(60);

/// Two endpoints serving `coder`: `a` preferred (priority 0), `b` next (priority 1); hedging
/// after 20 ms with the given share of each provider's hour.
fn config(a: &FakeUpstream, b: &FakeUpstream, max_share: f64) -> Value {
    json!({
        "hedging": {"enabled": true, "minDelayMs": 20, "maxShare": max_share},
        "providers": {
            "openai-compatible:a": {"enabled": true, "name": "a", "baseUrl": a.base_url(),
                                    "modelId": MODEL, "discoverModels": false, "priority": 0},
            "openai-compatible:b": {"enabled": true, "name": "b", "baseUrl": b.base_url(),
                                    "modelId": MODEL, "discoverModels": false, "priority": 1},
        }
    })
}

/// The request log's entries, newest first, once `count` requests have been logged.
async fn log_entries(router: &TestRouter, count: usize) -> Vec<Value> {
    for _ in 0..500 {
        let logs = router.get_json("/api/logs").await;
        let entries = logs["entries"].as_array().unwrap().clone();
        if entries.len() >= count {
            return entries;
        }
        tokio::time::sleep(ms(10)).await;
    }
    panic!("fewer than {count} requests were logged");
}

/// Waits until the fake has no request open (it saw every connection closed).
async fn all_closed(fake: &FakeUpstream) {
    tokio::time::timeout(Duration::from_secs(10), async {
        while fake.open_streams() != 0 {
            tokio::time::sleep(ms(10)).await;
        }
    })
    .await
    .expect("the upstream saw the dropped request's connection close");
}

#[tokio::test]
async fn a_slow_stream_is_hedged_and_the_faster_answer_wins_with_the_losers_connection_closed() {
    let a = FakeUpstream::start().await;
    a.on(MODEL, Script::text("slow answer").first_byte_delay(NEVER));
    let b = FakeUpstream::start().await;
    b.on(MODEL, Script::text("fast answer"));
    let router = start_router(config(&a, &b, 1.0)).await;

    let response = router.chat(user_message("auto-fastest", true)).await;
    assert_eq!(response.status(), 200);
    assert_eq!(
        response.headers()["x-modelrelay-provider"],
        "openai-compatible:b"
    );
    let events = sse_events(response).await;
    assert_eq!(streamed_text(&events), "fast answer");
    assert_eq!(events.iter().filter(|e| *e == "[DONE]").count(), 1);

    assert_eq!(a.chat_requests().len(), 1, "the slow row was asked once");
    assert_eq!(b.chat_requests().len(), 1, "one hedge");
    all_closed(&a).await;

    let entry = &log_entries(&router, 1).await[0];
    assert_eq!(entry["outcome"], "completed", "{entry:#}");
    assert_eq!(entry["hedge"]["winner"], "hedge", "{entry:#}");
    assert_eq!(entry["hedge"]["primary"], ROW_A);
    assert_eq!(entry["hedge"]["hedge"], ROW_B);
    assert_eq!(
        entry["hedge"]["loserCost"]["provider"], "openai-compatible:a",
        "{entry:#}"
    );
    assert_eq!(entry["hedge"]["loserCost"]["requests"], 1);
    let roles: Vec<&str> = entry["attempts"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["hedge"].as_str().unwrap())
        .collect();
    assert_eq!(roles, ["primary", "hedge"], "{entry:#}");

    let models = router.get_json("/api/models").await;
    let spend = &models["hedgeSpend"];
    assert_eq!(spend["openai-compatible:b"]["sent"], 1, "{spend:#}");
    assert_eq!(spend["openai-compatible:b"]["won"], 1, "{spend:#}");
    assert_eq!(spend["openai-compatible:a"]["cancelled"], 1, "{spend:#}");
}

#[tokio::test]
async fn a_whole_answer_is_hedged_too_and_a_primary_that_answers_first_drops_the_hedge() {
    let a = FakeUpstream::start().await;
    // The first request: `a` is slow and the hedge wins. The second: `a` answers after the
    // hedge was sent, while the hedge hangs; the hedge is dropped.
    a.on_sequence(
        MODEL,
        vec![
            Script::text("slow").first_byte_delay(NEVER),
            Script::text("primary answer").first_byte_delay(ms(200)),
        ],
    );
    let b = FakeUpstream::start().await;
    b.on_sequence(MODEL, vec![Script::text("hedge answer"), Script::Hang]);
    let router = start_router(config(&a, &b, 1.0)).await;

    let first: Value = router
        .chat(user_message("auto-fastest", false))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(first["choices"][0]["message"]["content"], "hedge answer");

    // `a` stays first (priority 0); its only sample is the short wait before it was dropped,
    // so the hedge goes out well before its 200 ms answer.
    let second = router.chat(user_message("auto-fastest", false)).await;
    assert_eq!(second.status(), 200);
    let second: Value = second.json().await.unwrap();
    assert_eq!(second["choices"][0]["message"]["content"], "primary answer");
    assert_eq!(b.chat_requests().len(), 2, "both requests were hedged");
    all_closed(&b).await;
    all_closed(&a).await;

    let entries = log_entries(&router, 2).await;
    assert_eq!(entries[0]["hedge"]["winner"], "primary", "{entries:#?}");
    assert_eq!(
        entries[0]["hedge"]["loserCost"]["provider"],
        "openai-compatible:b"
    );
    let spend = &router.get_json("/api/models").await["hedgeSpend"];
    assert_eq!(spend["openai-compatible:b"]["sent"], 2, "{spend:#}");
    assert_eq!(spend["openai-compatible:b"]["won"], 1, "{spend:#}");
    assert_eq!(spend["openai-compatible:b"]["cancelled"], 1, "{spend:#}");
}

#[tokio::test]
async fn no_hedge_goes_to_a_row_whose_provider_reports_little_quota_left() {
    let a = FakeUpstream::start().await;
    a.on(
        MODEL,
        Script::text("slow but sure").first_byte_delay(ms(300)),
    );
    let b = FakeUpstream::start().await;
    b.on(
        MODEL,
        Script::text("b")
            .header("x-ratelimit-limit-requests", "1000")
            .header("x-ratelimit-remaining-requests", "100")
            .header("x-ratelimit-reset-requests", "10m"),
    );
    let router = start_router(config(&a, &b, 1.0)).await;
    // `b` answers once directly and says only a tenth of its quota is left.
    let direct = router.chat(user_message(ROW_B, true)).await;
    assert_eq!(streamed_text(&sse_events(direct).await), "b");

    let response = router.chat(user_message("auto-fastest", true)).await;
    assert_eq!(streamed_text(&sse_events(response).await), "slow but sure");
    assert_eq!(b.chat_requests().len(), 1, "no hedge to `b`");
    let entry = &log_entries(&router, 2).await[0];
    assert!(entry["hedge"].is_null(), "{entry:#}");
}

#[tokio::test]
async fn a_providers_hedge_budget_once_spent_stops_further_hedges() {
    let a = FakeUpstream::start().await;
    a.on(
        MODEL,
        Script::text("slow but sure").first_byte_delay(ms(300)),
    );
    let b = FakeUpstream::start().await;
    b.on(MODEL, Script::text("b"));
    // Hedges may be half of `b`'s requests: one direct request allows one hedge.
    let router = start_router(config(&a, &b, 0.5)).await;
    let direct = router.chat(user_message(ROW_B, true)).await;
    assert_eq!(streamed_text(&sse_events(direct).await), "b");

    let hedged = router.chat(user_message("auto-fastest", true)).await;
    assert_eq!(streamed_text(&sse_events(hedged).await), "b");
    assert_eq!(
        b.chat_requests().len(),
        2,
        "the first slow request was hedged"
    );

    let unhedged = router.chat(user_message("auto-fastest", true)).await;
    assert_eq!(
        streamed_text(&sse_events(unhedged).await),
        "slow but sure",
        "a second hedge would make two of `b`'s three requests hedges"
    );
    assert_eq!(b.chat_requests().len(), 2);
    let entries = log_entries(&router, 3).await;
    assert!(entries[0]["hedge"].is_null(), "{:#}", entries[0]);
    assert_eq!(entries[1]["hedge"]["winner"], "hedge", "{:#}", entries[1]);
}

#[tokio::test]
async fn hedging_turned_off_sends_nothing_to_the_second_row() {
    let a = FakeUpstream::start().await;
    a.on(
        MODEL,
        Script::text("slow but sure").first_byte_delay(ms(200)),
    );
    let b = FakeUpstream::start().await;
    b.on(MODEL, Script::text("b"));
    let mut config = config(&a, &b, 1.0);
    config["hedging"]["enabled"] = json!(false);
    let router = start_router(config).await;
    let response = router.chat(user_message("auto-fastest", true)).await;
    assert_eq!(streamed_text(&sse_events(response).await), "slow but sure");
    assert!(b.chat_requests().is_empty());
}

/// The `coder` text of a translated stream and how many times it says it is finished.
async fn translated(router: &TestRouter, path: &str, body: Value, end: &str) -> (String, usize) {
    let response = router.post_json(path, &body).await;
    assert_eq!(response.status(), 200, "{path}");
    let text = response.text().await.unwrap();
    let ends = text.matches(end).count();
    (text, ends)
}

#[tokio::test]
async fn hedged_streams_through_messages_and_responses_deliver_one_answer() {
    let a = FakeUpstream::start().await;
    a.on(MODEL, Script::text("slow words").first_byte_delay(NEVER));
    let b = FakeUpstream::start().await;
    b.on(MODEL, Script::text("quick words"));
    let router = start_router(config(&a, &b, 1.0)).await;

    let messages = json!({"model": "claude-sonnet-4-5", "max_tokens": 50, "stream": true,
                          "messages": [{"role": "user", "content": "hi"}]});
    let (text, stops) = translated(&router, "/v1/messages", messages, "event: message_stop").await;
    assert_eq!(stops, 1, "{text}");
    assert_eq!(text.matches("event: message_start").count(), 1, "{text}");
    assert!(text.contains("quick"), "{text}");
    assert!(!text.contains("slow"), "{text}");

    let responses = json!({"model": "gpt-5-codex", "stream": true, "input": "hi"});
    let (text, completed) = translated(
        &router,
        "/v1/responses",
        responses,
        "event: response.completed",
    )
    .await;
    assert_eq!(completed, 1, "{text}");
    assert_eq!(text.matches("event: response.created").count(), 1, "{text}");
    assert!(text.contains("quick"), "{text}");
    assert!(!text.contains("slow"), "{text}");

    assert_eq!(a.chat_requests().len(), 2);
    assert_eq!(b.chat_requests().len(), 2);
    all_closed(&a).await;
    let entries = log_entries(&router, 2).await;
    for entry in &entries {
        assert_eq!(entry["hedge"]["winner"], "hedge", "{entry:#}");
        assert_eq!(entry["outcome"], "completed", "{entry:#}");
    }
}

/// A fake that allows `limit` requests and answers 429 to every one after them.
async fn limited_upstream(limit: usize, text: &str, headers: &[(&str, &str)]) -> FakeUpstream {
    let fake = FakeUpstream::start().await;
    let mut ok = Script::text(text);
    for (name, value) in headers {
        ok = ok.header(name, value);
    }
    let mut scripts = vec![ok; limit];
    scripts.push(Script::status(429, "rate limit exceeded").header("retry-after", "60"));
    fake.on_sequence(MODEL, scripts);
    fake.otherwise(Script::status(429, "rate limit exceeded"));
    fake
}

fn statuses(entries: &[Value]) -> Vec<u64> {
    entries
        .iter()
        .flat_map(|e| e["attempts"].as_array().unwrap().clone())
        .filter_map(|a| a["status"].as_u64())
        .collect()
}

#[tokio::test]
async fn a_row_paced_to_the_limit_its_headers_state_never_draws_a_429() {
    let a = limited_upstream(
        3,
        "a",
        &[
            ("x-ratelimit-limit-requests", "3"),
            ("x-ratelimit-remaining-requests", "2"),
            ("x-ratelimit-reset-requests", "20s"),
        ],
    )
    .await;
    let b = FakeUpstream::start().await;
    b.on(MODEL, Script::text("b"));
    let mut config = config(&a, &b, 1.0);
    config["hedging"]["enabled"] = json!(false);
    let router = start_router(config).await;

    let mut texts = Vec::new();
    for _ in 0..8 {
        let response = router.chat(user_message("auto-fastest", true)).await;
        assert_eq!(response.status(), 200);
        texts.push(streamed_text(&sse_events(response).await));
    }
    assert_eq!(texts.iter().filter(|t| *t == "a").count(), 3, "{texts:?}");
    assert_eq!(
        a.chat_requests().len(),
        3,
        "no fourth request in the minute"
    );
    let entries = log_entries(&router, 8).await;
    assert!(!statuses(&entries).contains(&429), "{entries:#?}");
    let paced = entries[0]["attempts"][0].clone();
    assert_eq!(paced["skipped"], "paced", "{paced:#}");
    assert_eq!(paced["provider"], "openai-compatible:a");
}

#[tokio::test]
async fn a_burst_at_a_catalog_limited_provider_is_paced_and_draws_no_429() {
    // Groq's catalog entry says 30 requests a minute; this fake Groq answers 429 after 30.
    let groq = limited_upstream(30, "groq", &[]).await;
    groq.list_models(&[MODEL]);
    let b = FakeUpstream::start().await;
    b.on(MODEL, Script::text("b"));
    let router = start_router(json!({
        "hedging": {"enabled": false},
        "apiKeys": {"groq": "gsk_test_key_0123456789"},
        "providers": {
            "groq": {"baseUrl": groq.base_url(), "priority": 0},
            "openai-compatible:b": {"enabled": true, "name": "b", "baseUrl": b.base_url(),
                                    "modelId": MODEL, "discoverModels": false, "priority": 1},
        }
    }))
    .await;
    // Discovery finds Groq's `coder` row.
    tokio::time::timeout(Duration::from_secs(10), async {
        loop {
            let models = router.get_json("/api/models").await;
            if models["models"]
                .as_array()
                .unwrap()
                .iter()
                .any(|m| m["id"] == "groq/coder")
            {
                break;
            }
            tokio::time::sleep(ms(20)).await;
        }
    })
    .await
    .expect("groq's row is discovered");

    let burst = (0..45).map(|_| router.chat(user_message(MODEL, false)));
    let responses = futures_util::future::join_all(burst).await;
    assert!(responses.iter().all(|r| r.status() == 200));
    assert_eq!(
        groq.chat_requests().len(),
        30,
        "paced to the catalog's 30 a minute"
    );
    assert_eq!(b.chat_requests().len(), 15, "the rest went to the next row");
    let entries = log_entries(&router, 45).await;
    assert!(!statuses(&entries).contains(&429), "{entries:#?}");
    let row = router.model_row(|m| m["id"] == "groq/coder").await;
    assert_eq!(row["rateLimit"]["pacedPerMinute"], 30, "{row:#}");
}

#[tokio::test]
async fn hedging_settings_are_checked_saved_and_applied_to_the_next_request() {
    let a = FakeUpstream::start().await;
    a.on(MODEL, Script::text("slow").first_byte_delay(NEVER));
    let b = FakeUpstream::start().await;
    b.on(MODEL, Script::text("quick"));
    let mut config = config(&a, &b, 1.0);
    config.as_object_mut().unwrap().remove("hedging");
    let router = start_router(config).await;
    let settings = router.get_json("/api/settings").await;
    assert_eq!(
        settings["hedging"],
        json!({"enabled": true, "minDelayMs": 1000, "maxShare": 0.1, "minDailyQuota": 500})
    );

    for wrong in [
        json!({"hedging": {"maxShare": 2}}),
        json!({"hedging": {"minDelayMs": -5}}),
        json!({"hedging": {"enabled": "yes"}}),
        json!({"hedging": {"sometimes": true}}),
        json!({"hedging": true}),
    ] {
        let response = router.post_json("/api/settings", &wrong).await;
        assert_eq!(response.status(), 400, "{wrong}");
        let body: Value = response.json().await.unwrap();
        assert!(
            body["error"]["message"]
                .as_str()
                .unwrap()
                .contains("`hedging`"),
            "{body}"
        );
    }
    let response = router
        .post_json(
            "/api/settings",
            &json!({"hedging": {"minDelayMs": 20, "maxShare": 1}}),
        )
        .await;
    assert_eq!(response.status(), 200);
    let saved: Value =
        serde_json::from_slice(&std::fs::read(router.config_path()).unwrap()).unwrap();
    assert_eq!(saved["hedging"]["minDelayMs"], 20);
    assert_eq!(saved["hedging"]["maxShare"], 1);

    let response = router.chat(user_message("auto-fastest", true)).await;
    assert_eq!(streamed_text(&sse_events(response).await), "quick");
}

#[tokio::test]
async fn a_hedge_that_finds_the_prompt_too_long_does_not_end_the_race() {
    let a = FakeUpstream::start().await;
    a.on(
        MODEL,
        Script::text("the primary fits it").first_byte_delay(ms(300)),
    );
    let b = FakeUpstream::start().await;
    b.on(
        MODEL,
        Script::status(
            400,
            "This model's maximum context length is 8192 tokens. However, you requested 9000 tokens.",
        ),
    );
    let router = start_router(config(&a, &b, 1.0)).await;
    let response = router.chat(user_message("auto-fastest", true)).await;
    assert_eq!(response.status(), 200);
    assert_eq!(
        streamed_text(&sse_events(response).await),
        "the primary fits it"
    );
    assert_eq!(b.chat_requests().len(), 1, "the hedge was sent");
    let entry = &log_entries(&router, 1).await[0];
    assert_eq!(entry["hedge"]["winner"], "primary", "{entry:#}");
    assert!(
        entry["hedge"]["loserCost"].is_null(),
        "the hedge failed, nothing dropped"
    );
}

#[tokio::test]
async fn a_race_both_sides_lose_is_logged_with_no_winner_and_fails_over_cleanly() {
    let a = FakeUpstream::start().await;
    // The primary's stream ends before its first chunk, after the hedge went out.
    a.on(
        MODEL,
        Script::text("")
            .first_byte_delay(ms(300))
            .ending(support::fake_upstream::StreamEnd::Truncate),
    );
    let b = FakeUpstream::start().await;
    b.on(MODEL, Script::status(503, "overloaded"));
    let router = start_router(config(&a, &b, 1.0)).await;
    let response = router.chat(user_message("auto-fastest", true)).await;
    assert_eq!(response.status(), 502);
    let entry = &log_entries(&router, 1).await[0];
    assert_eq!(entry["hedge"]["winner"], "none", "{entry:#}");
    assert!(entry["hedge"]["loserCost"].is_null(), "{entry:#}");
    assert_eq!(entry["attempts"].as_array().unwrap().len(), 2, "{entry:#}");
    assert_eq!(
        b.chat_requests().len(),
        1,
        "a hedged row is not tried again"
    );
}

#[tokio::test]
async fn when_every_candidate_is_paced_the_client_gets_a_429_with_retry_after() {
    let a = FakeUpstream::start().await;
    a.on(
        MODEL,
        Script::text("twice")
            .header("x-ratelimit-limit-requests", "2")
            .header("x-ratelimit-remaining-requests", "1")
            .header("x-ratelimit-reset-requests", "30s"),
    );
    let router = start_router(endpoints_config(&[("a", &a, MODEL)])).await;
    for _ in 0..2 {
        let allowed = router.chat(user_message(MODEL, false)).await;
        assert_eq!(allowed.status(), 200);
    }
    let third = router.chat(user_message(MODEL, false)).await;
    assert_eq!(third.status(), 429);
    let retry_after: u64 = third.headers()["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!((1..=61).contains(&retry_after), "{retry_after}");
    let body: Value = third.json().await.unwrap();
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("per-minute limit"),
        "{body}"
    );
    assert_eq!(
        a.chat_requests().len(),
        2,
        "nothing was sent past the limit"
    );
}
