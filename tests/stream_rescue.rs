//! Mid-stream continuation through the real router against fake upstreams: a stream cut after
//! part of the answer reached the client is finished on another row, and the client receives
//! one whole answer (one id and model, one finish reason, one `[DONE]`, no repeated and no
//! missing text) — or, when nothing can be spliced safely, one in-band error naming the cut.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use std::time::Duration;

use serde_json::{json, Value};
use support::fake_upstream::{chunk, StreamEnd};
use support::*;

const PRIMARY: &str = "primary/coder";
const FALLBACK: &str = "fallback/coder";
const FALLBACK_ROW: &str = "openai-compatible:b/fallback/coder";

/// Two endpoints: `a` preferred (priority 0), `b` the fallback (priority 1), `b`'s
/// continuation mode as given (`None`: the default for an endpoint, plain prefill).
fn config(a: &FakeUpstream, b: &FakeUpstream, mode: Option<&str>) -> Value {
    let mut fallback = json!({"enabled": true, "name": "b", "baseUrl": b.base_url(),
                              "modelId": FALLBACK, "discoverModels": false, "priority": 1});
    if let Some(mode) = mode {
        fallback["continuation"] = json!(mode);
    }
    json!({"providers": {
        "openai-compatible:a": {"enabled": true, "name": "a", "baseUrl": a.base_url(),
                                "modelId": PRIMARY, "discoverModels": false, "priority": 0},
        "openai-compatible:b": fallback,
    }})
}

/// The primary cuts its answer after "The quick brown " (three words).
async fn cut_primary(how: StreamEnd) -> FakeUpstream {
    let fake = FakeUpstream::start().await;
    fake.on(PRIMARY, Script::text("The quick brown ").ending(how));
    fake
}

async fn start(a: &FakeUpstream, b: &FakeUpstream, mode: Option<&str>) -> TestRouter {
    start_router(config(a, b, mode)).await
}

/// The client's events: every chunk has the same id and model; returns the text and events.
async fn one_answer(response: reqwest::Response) -> (String, Vec<String>) {
    assert_eq!(response.status(), 200);
    let events = sse_events(response).await;
    let chunks: Vec<Value> = events
        .iter()
        .filter_map(|e| serde_json::from_str::<Value>(e).ok())
        .filter(|v| v.get("choices").is_some())
        .collect();
    let first = &chunks[0];
    for chunk in &chunks {
        assert_eq!(chunk["id"], first["id"], "{chunk}");
        assert_eq!(chunk["model"], first["model"], "{chunk}");
    }
    (streamed_text(&events), events)
}

fn finishes(events: &[String]) -> usize {
    events
        .iter()
        .filter_map(|e| serde_json::from_str::<Value>(e).ok())
        .filter(|v| {
            v.pointer("/choices/0/finish_reason")
                .and_then(Value::as_str)
                .is_some_and(|r| !r.is_empty())
        })
        .count()
}

fn done_count(events: &[String]) -> usize {
    events.iter().filter(|e| *e == "[DONE]").count()
}

/// The continuation request the fallback received (its last chat request).
fn continuation_request(fake: &FakeUpstream) -> Value {
    fake.chat_requests().last().unwrap().json()
}

async fn row_view(router: &TestRouter, id: &str) -> Value {
    let models = router.get_json("/api/models").await;
    models["models"]
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["id"] == id)
        .unwrap()
        .clone()
}

#[tokio::test]
async fn a_cut_stream_is_finished_by_a_prefill_capable_fallback_and_reads_as_one_answer() {
    let a = cut_primary(StreamEnd::Truncate).await;
    let b = FakeUpstream::start().await;
    b.on(FALLBACK, Script::text("fox jumps over the dog."));
    let router = start(&a, &b, None).await;

    let (text, events) = one_answer(router.chat(user_message("auto-fastest", true)).await).await;
    assert_eq!(text, "The quick brown fox jumps over the dog.");
    assert_eq!(finishes(&events), 1);
    assert_eq!(done_count(&events), 1);
    assert!(
        !events.iter().any(|e| e.contains("\"error\"")),
        "{events:?}"
    );
    let request = continuation_request(&b);
    let messages = request["messages"].as_array().unwrap();
    assert_eq!(
        messages.last().unwrap(),
        &json!({"role": "assistant", "content": "The quick brown"}),
        "the partial answer, trimmed, as a final assistant message"
    );
    assert_eq!(request["stream"], true);
    assert_eq!(
        row_view(&router, FALLBACK_ROW).await["continuation"],
        "prefill"
    );

    let logs = router.get_json("/api/logs").await;
    let entry = &logs["entries"][0];
    assert_eq!(entry["outcome"], "completed");
    assert_eq!(entry["provider"], "openai-compatible:b");
    let attempts = entry["attempts"].as_array().unwrap();
    assert_eq!(attempts.last().unwrap()["continuation"], "prefill");
}

#[tokio::test]
async fn a_fallback_that_refuses_a_prefill_but_restarts_with_the_same_words_is_spliced() {
    let a = cut_primary(StreamEnd::Drop).await;
    let b = FakeUpstream::start().await;
    b.on_sequence(
        FALLBACK,
        vec![
            Script::status(400, "This model does not support assistant message prefill. The conversation must end with a user message."),
            Script::text("The quick brown fox jumps."),
        ],
    );
    let router = start(&a, &b, None).await;

    let (text, events) = one_answer(router.chat(user_message("auto-fastest", true)).await).await;
    assert_eq!(text, "The quick brown fox jumps.");
    assert_eq!((finishes(&events), done_count(&events)), (1, 1));
    let requests = b.chat_requests();
    assert_eq!(requests.len(), 2);
    assert_eq!(
        requests[1].json()["messages"].as_array().unwrap().len(),
        1,
        "the restart sends the original conversation"
    );
    assert_eq!(
        row_view(&router, FALLBACK_ROW).await["continuation"],
        "restart",
        "the refusal taught the row to restart"
    );
}

#[tokio::test]
async fn a_restart_that_does_not_repeat_the_delivered_text_ends_with_an_error_naming_the_cut() {
    let a = cut_primary(StreamEnd::Truncate).await;
    let b = FakeUpstream::start().await;
    b.on_sequence(
        FALLBACK,
        vec![
            Script::status(400, "Expected last role User or Tool (or Assistant with prefix True) for serving but got assistant"),
            Script::text("A completely different answer."),
        ],
    );
    let router = start(&a, &b, None).await;

    let response = router.chat(user_message("auto-fastest", true)).await;
    let events = sse_events(response).await;
    assert_eq!(streamed_text(&events), "The quick brown ");
    let error: Value = serde_json::from_str(events.last().unwrap()).unwrap();
    let message = error["error"]["message"].as_str().unwrap();
    assert!(
        message.contains("closed the stream before the answer was complete"),
        "the error names the cut: {message}"
    );
    assert!(!message.contains("prefill"), "{message}");
    assert_eq!(done_count(&events), 0, "a cut stream never looks complete");
}

#[tokio::test]
async fn a_fallback_that_silently_restarts_after_a_prefill_sends_no_repeated_text() {
    let a = cut_primary(StreamEnd::Truncate).await;
    let b = FakeUpstream::start().await;
    b.on(FALLBACK, Script::text("The quick brown fox."));
    let router = start(&a, &b, None).await;

    let (text, events) = one_answer(router.chat(user_message("auto-fastest", true)).await).await;
    assert_eq!(text, "The quick brown fox.");
    assert_eq!((finishes(&events), done_count(&events)), (1, 1));
    assert_eq!(
        row_view(&router, FALLBACK_ROW).await["continuation"],
        "restart"
    );
}

#[tokio::test]
async fn deepseek_and_mistral_rows_get_the_prefix_flag_and_an_echo_is_stripped() {
    let a = cut_primary(StreamEnd::Truncate).await;
    let b = FakeUpstream::start().await;
    // Mistral echoes the prefix before the continuation.
    b.on(FALLBACK, Script::text("The quick brown fox naps."));
    let router = start(&a, &b, Some("prefix-flag")).await;

    let (text, _) = one_answer(router.chat(user_message("auto-fastest", true)).await).await;
    assert_eq!(text, "The quick brown fox naps.");
    let request = continuation_request(&b);
    let last = request["messages"]
        .as_array()
        .unwrap()
        .last()
        .unwrap()
        .clone();
    assert_eq!(
        last,
        json!({"role": "assistant", "content": "The quick brown", "prefix": true})
    );
    assert_eq!(
        row_view(&router, FALLBACK_ROW).await["continuation"],
        "prefix-flag",
        "an echo is what prefix-flag rows do, not a restart"
    );
}

#[tokio::test]
async fn vllm_rows_get_continue_final_message() {
    let a = cut_primary(StreamEnd::Truncate).await;
    let b = FakeUpstream::start().await;
    b.on(FALLBACK, Script::text("fox."));
    let router = start(&a, &b, Some("vllm-continue")).await;

    let (text, _) = one_answer(router.chat(user_message("auto-fastest", true)).await).await;
    assert_eq!(text, "The quick brown fox.");
    let request = continuation_request(&b);
    assert_eq!(request["continue_final_message"], true);
    assert_eq!(request["add_generation_prompt"], false);
    assert_eq!(
        request["messages"].as_array().unwrap().last().unwrap()["role"],
        "assistant"
    );
}

#[tokio::test]
async fn a_stream_silent_past_idle_ms_is_continued() {
    let a = cut_primary(StreamEnd::Hang).await;
    let b = FakeUpstream::start().await;
    b.on(FALLBACK, Script::text("fox."));
    let mut config = config(&a, &b, None);
    config["timeouts"] = json!({"idleMs": 300});
    let router = start_router(config).await;

    let (text, events) = one_answer(router.chat(user_message("auto-fastest", true)).await).await;
    assert_eq!(text, "The quick brown fox.");
    assert_eq!(done_count(&events), 1);
    tokio::time::sleep(Duration::from_millis(50)).await;
    assert_eq!(a.open_streams(), 0, "the stalled stream was dropped");
}

#[tokio::test]
async fn an_upstream_error_event_mid_stream_is_continued() {
    let a = FakeUpstream::start().await;
    a.on(
        PRIMARY,
        Script::Events {
            events: vec![
                chunk(PRIMARY, Some("The quick "), None),
                json!({"error": {"message": "overloaded", "code": 529}}),
            ],
            chunk_gap: Duration::ZERO,
        },
    );
    let b = FakeUpstream::start().await;
    b.on(FALLBACK, Script::text("brown fox."));
    let router = start(&a, &b, None).await;

    let (text, events) = one_answer(router.chat(user_message("auto-fastest", true)).await).await;
    assert_eq!(text, "The quick brown fox.");
    assert!(
        !events.iter().any(|e| e.contains("overloaded")),
        "{events:?}"
    );
    assert_eq!(done_count(&events), 1);
}

#[tokio::test]
async fn a_cut_tool_call_is_not_continued() {
    let a = FakeUpstream::start().await;
    a.on(
        PRIMARY,
        Script::EventsThenClose {
            events: vec![
                json!({"id": "c", "model": PRIMARY, "choices": [{"index": 0, "delta": {"tool_calls": [{"index": 0, "id": "call_1", "type": "function", "function": {"name": "ls", "arguments": "{\"pa"}}]}}]}),
            ],
        },
    );
    let b = FakeUpstream::start().await;
    b.on(FALLBACK, Script::text("never used"));
    let router = start(&a, &b, None).await;

    let events = sse_events(router.chat(user_message("auto-fastest", true)).await).await;
    assert!(events.iter().any(|e| e.contains("call_1")));
    assert!(events.last().unwrap().contains("\"error\""), "{events:?}");
    assert_eq!(done_count(&events), 0);
    assert!(b.chat_requests().is_empty(), "no continuation was tried");
}

#[tokio::test]
async fn structured_output_is_not_continued() {
    let a = cut_primary(StreamEnd::Truncate).await;
    let b = FakeUpstream::start().await;
    b.on(FALLBACK, Script::text("never used"));
    let router = start(&a, &b, None).await;
    let mut body = user_message("auto-fastest", true);
    body["response_format"] = json!({"type": "json_object"});

    let events = sse_events(router.chat(body).await).await;
    assert!(events.last().unwrap().contains("\"error\""));
    assert!(b.chat_requests().is_empty());
}

#[tokio::test]
async fn anthropic_and_responses_streams_cut_mid_answer_are_continued() {
    for (path, body) in [
        (
            "/v1/messages",
            json!({"model": "auto-fastest", "max_tokens": 50, "stream": true,
                   "messages": [{"role": "user", "content": "hi"}]}),
        ),
        (
            "/v1/responses",
            json!({"model": "auto-fastest", "stream": true, "input": "hi"}),
        ),
    ] {
        let a = cut_primary(StreamEnd::Truncate).await;
        let b = FakeUpstream::start().await;
        b.on(FALLBACK, Script::text("fox."));
        let router = start(&a, &b, None).await;
        let response = router.post_json(path, &body).await;
        assert_eq!(response.status(), 200);
        let text = response.text().await.unwrap();
        let deltas: String = text
            .lines()
            .filter_map(|l| l.strip_prefix("data: "))
            .filter_map(|d| serde_json::from_str::<Value>(d).ok())
            .filter_map(|v| {
                v.pointer("/delta/text")
                    .or_else(|| v.get("delta").filter(|d| d.is_string()))
                    .and_then(Value::as_str)
                    .map(str::to_string)
            })
            .collect();
        assert_eq!(deltas, "The quick brown fox.", "{path}: {text}");
        assert!(!text.contains("event: error"), "{path}: {text}");
        assert!(
            text.contains("message_stop") || text.contains("response.completed"),
            "{path}: {text}"
        );
    }
}
