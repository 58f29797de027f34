//! What the router records for answers served through the translating edges
//! (`/v1/messages`, `/v1/responses`): a whole answer is logged "completed" and counted as a
//! success in the row's health, although the client hangs up as soon as the final event
//! arrives; a stream cut mid-answer is logged as cut and counted against the row.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use std::time::Duration;

use serde_json::{json, Value};
use support::fake_upstream::StreamEnd;
use support::*;

const UPSTREAM_MODEL: &str = "edge-upstream/coder";
const ROW_ID: &str = "openai-compatible:a/edge-upstream/coder";

async fn post(router: &TestRouter, path: &str, body: Value) -> String {
    let response = router.post_json(path, &body).await;
    assert_eq!(response.status(), 200, "{path}");
    response.text().await.unwrap()
}

fn messages_request(stream: bool) -> Value {
    json!({"model": "claude-sonnet-4-5", "max_tokens": 50, "stream": stream,
           "messages": [{"role": "user", "content": "hi"}]})
}

fn responses_request(stream: bool) -> Value {
    json!({"model": "gpt-5-codex", "stream": stream, "input": "hi"})
}

/// The request log's entries, newest first, once `count` requests have been logged (a stream's
/// entry is written when its body is dropped, just after the client read its end).
async fn log_entries(router: &TestRouter, count: usize) -> Vec<Value> {
    for _ in 0..200 {
        let logs = router.get_json("/api/logs").await;
        let entries = logs["entries"].as_array().unwrap().clone();
        if entries.len() >= count {
            return entries;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    panic!("fewer than {count} requests were logged");
}

async fn row_samples(router: &TestRouter) -> Vec<Value> {
    let models = router.get_json("/api/models").await;
    let row = models["models"]
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["id"] == ROW_ID)
        .unwrap_or_else(|| panic!("no row {ROW_ID} in {models}"))
        .clone();
    row["samples"].as_array().unwrap().clone()
}

#[tokio::test]
async fn whole_answers_through_translating_edges_are_logged_completed_and_counted_as_successes() {
    let fake = FakeUpstream::start().await;
    fake.otherwise(Script::text("all of the answer"));
    let router = start_router(endpoints_config(&[("a", &fake, UPSTREAM_MODEL)])).await;

    let streamed_messages = post(&router, "/v1/messages", messages_request(true)).await;
    assert!(streamed_messages.contains("message_stop"));
    let whole_messages = post(&router, "/v1/messages", messages_request(false)).await;
    assert!(whole_messages.contains("all of the answer"));
    let streamed_responses = post(&router, "/v1/responses", responses_request(true)).await;
    assert!(streamed_responses.contains("response.completed"));
    let whole_responses = post(&router, "/v1/responses", responses_request(false)).await;
    assert!(whole_responses.contains("all of the answer"));

    let entries = log_entries(&router, 4).await;
    let outcomes: Vec<&str> = entries
        .iter()
        .map(|e| e["outcome"].as_str().unwrap())
        .collect();
    assert_eq!(outcomes, ["completed"; 4], "{entries:#?}");
    assert!(entries.iter().all(|e| e["error"].is_null()), "{entries:#?}");
    let samples = row_samples(&router).await;
    let successes = samples.iter().filter(|s| s["outcome"] == "success").count();
    assert_eq!(
        successes, 4,
        "every answer counts for the row: {samples:#?}"
    );
}

#[tokio::test]
async fn a_stream_cut_mid_answer_through_a_translating_edge_is_logged_cut_and_counts_against_the_row(
) {
    let fake = FakeUpstream::start().await;
    fake.otherwise(Script::text("half of the answer").ending(StreamEnd::Truncate));
    let router = start_router(endpoints_config(&[("a", &fake, UPSTREAM_MODEL)])).await;

    let body = post(&router, "/v1/messages", messages_request(true)).await;
    assert!(body.contains("event: error"), "{body}");
    assert!(!body.contains("message_stop"), "{body}");

    let entries = log_entries(&router, 1).await;
    assert_eq!(entries[0]["outcome"], "cut", "{entries:#?}");
    let samples = row_samples(&router).await;
    assert!(
        samples.iter().any(|s| s["outcome"] == "failure"),
        "{samples:#?}"
    );
}
