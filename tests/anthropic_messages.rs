//! `POST /v1/messages` through the real router against fake OpenAI upstreams: the official
//! `anthropic` Python SDK (plain, streamed, tool calls, count_tokens, an error), plus the
//! edges the SDK does not reach (a stream cut mid-answer, errors in Anthropic's shape).
//! The SDK runs `tests/clients/anthropic_sdk_check.py` with the interpreter named by
//! `MODELRELAY_TEST_PYTHON` (the venv `.ci/run` makes).
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use std::time::Duration;

use serde_json::{json, Value};
use support::fake_upstream::StreamEnd;
use support::*;

const UPSTREAM_MODEL: &str = "sdk-upstream/coder";
/// Not a row or group here: routed as `auto-fastest`, echoed back as the client sent it.
const CLIENT_MODEL: &str = "claude-sonnet-4-5";

fn tool_call_chunks() -> Vec<Value> {
    let chunk = |delta: Value, finish: Value| {
        json!({
            "id": "chatcmpl-tool", "object": "chat.completion.chunk", "created": 1, "model": UPSTREAM_MODEL,
            "choices": [{"index": 0, "delta": delta, "finish_reason": finish}]
        })
    };
    let arguments =
        |part: &str| json!({"tool_calls": [{"index": 0, "function": {"arguments": part}}]});
    vec![
        chunk(
            json!({"role": "assistant", "content": "Checking. "}),
            Value::Null,
        ),
        chunk(
            json!({"tool_calls": [
                {"index": 0, "id": "call_weather_1", "type": "function", "function": {"name": "get_weather", "arguments": ""}}
            ]}),
            Value::Null,
        ),
        chunk(arguments(r#"{"city":"#), Value::Null),
        chunk(arguments(r#""Paris"}"#), Value::Null),
        chunk(json!({}), json!("tool_calls")),
    ]
}

fn tool_call_completion() -> Value {
    json!({
        "id": "chatcmpl-whole", "object": "chat.completion", "created": 1, "model": UPSTREAM_MODEL,
        "choices": [{"index": 0, "finish_reason": "tool_calls", "message": {
            "role": "assistant", "content": null,
            "tool_calls": [{"id": "call_whole", "type": "function", "function": {"name": "get_weather", "arguments": "{\"city\":\"Paris\"}"}}]
        }}],
        "usage": {"prompt_tokens": 11, "completion_tokens": 4, "total_tokens": 15}
    })
}

#[tokio::test]
async fn the_official_anthropic_sdk_chats_streams_and_calls_tools_through_the_router() {
    let Some(python) = python::interpreter("anthropic") else {
        return;
    };
    let fake = FakeUpstream::start().await;
    fake.on_sequence(
        UPSTREAM_MODEL,
        vec![
            Script::text("Hello from the fake upstream"),
            Script::text("one two three four"),
            Script::raw(200, "application/json", &tool_call_completion().to_string()),
            Script::Events {
                events: tool_call_chunks(),
                chunk_gap: Duration::ZERO,
            },
        ],
    );
    let router = start_router(endpoints_config(&[("sdk", &fake, UPSTREAM_MODEL)])).await;
    // The SDK appends `/v1/messages` itself.
    let base_url = router.url("");
    let output = python::run_script(
        python,
        "anthropic_sdk_check.py",
        vec![
            "--base-url".to_string(),
            base_url.to_string(),
            "--model".to_string(),
            CLIENT_MODEL.to_string(),
        ],
    )
    .await;
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        output.status.success(),
        "the SDK script failed ({}):\n{stdout}\n{stderr}",
        output.status
    );
    let summary: Value = serde_json::from_str(&stdout).unwrap();

    let plain = &summary["non_streaming"];
    assert_eq!(
        plain["content"],
        json!([{"type": "text", "text": "Hello from the fake upstream"}]),
        "{summary:#}"
    );
    assert_eq!(plain["stop_reason"], "end_turn", "{summary:#}");
    assert_eq!(plain["model"], CLIENT_MODEL, "{summary:#}");
    let streamed = &summary["streaming"];
    assert_eq!(
        streamed["deltas"],
        json!(["one ", "two ", "three ", "four"]),
        "{summary:#}"
    );
    assert_eq!(streamed["stop_reason"], "end_turn", "{summary:#}");
    assert_eq!(
        summary["tool_call"]["content"],
        json!([{"type": "tool_use", "id": "call_whole", "name": "get_weather", "input": {"city": "Paris"}}]),
        "{summary:#}"
    );
    assert_eq!(summary["tool_call"]["stop_reason"], "tool_use");
    assert_eq!(
        summary["tool_call"]["usage"],
        json!({"input": 11, "output": 4})
    );
    let tools = &summary["streaming_tool_call"];
    assert_eq!(
        tools["content"],
        json!([
            {"type": "text", "text": "Checking. "},
            {"type": "tool_use", "id": "call_weather_1", "name": "get_weather", "input": {"city": "Paris"}}
        ]),
        "{summary:#}"
    );
    assert_eq!(tools["stop_reason"], "tool_use", "{summary:#}");
    assert!(summary["count_tokens"].as_u64().unwrap() > 0, "{summary:#}");
    assert_eq!(
        summary["bad_request"],
        json!({"raised": "BadRequestError", "status": 400, "type": "invalid_request_error"}),
        "{summary:#}"
    );

    // What the upstream saw: OpenAI chat bodies, routed to the one row.
    let requests: Vec<Value> = fake.chat_requests().iter().map(|r| r.json()).collect();
    assert_eq!(requests.len(), 4, "{requests:#?}");
    for request in &requests {
        assert_eq!(request["model"], UPSTREAM_MODEL);
        assert_eq!(request["max_tokens"], 100);
    }
    assert_eq!(
        requests[1]["messages"][0],
        json!({"role": "system", "content": "Be brief."})
    );
    assert_eq!(requests[1]["stream"], true);
    assert_eq!(
        requests[2]["tools"][0]["function"]["name"],
        json!("get_weather")
    );
    assert_eq!(requests[2]["tool_choice"], "auto");
    let history = &requests[3]["messages"];
    assert_eq!(history[1]["tool_calls"][0]["id"], "toolu_0");
    assert_eq!(
        history[2],
        json!({"role": "tool", "tool_call_id": "toolu_0", "content": "sunny"})
    );
    assert_eq!(history[3], json!({"role": "user", "content": "And Paris?"}));
}

async fn post(router: &TestRouter, path: &str, body: Value) -> reqwest::Response {
    reqwest::Client::new()
        .post(router.url(path))
        .json(&body)
        .send()
        .await
        .unwrap()
}

fn anthropic_request(stream: bool) -> Value {
    json!({"model": CLIENT_MODEL, "max_tokens": 50, "stream": stream, "messages": [{"role": "user", "content": "hi"}]})
}

/// `(event name, data)` pairs of an Anthropic SSE body.
fn named_events(text: &str) -> Vec<(String, Value)> {
    text.split("\n\n")
        .filter(|e| !e.trim().is_empty())
        .map(|event| {
            let mut name = String::new();
            let mut data = Value::Null;
            for line in event.lines() {
                if let Some(n) = line.strip_prefix("event: ") {
                    name = n.to_string();
                } else if let Some(d) = line.strip_prefix("data: ") {
                    data = serde_json::from_str(d).unwrap();
                }
            }
            (name, data)
        })
        .collect()
}

#[tokio::test]
async fn a_stream_that_fails_before_its_first_chunk_fails_over_and_one_cut_later_ends_with_an_error_event(
) {
    let broken = FakeUpstream::start().await;
    broken.on(UPSTREAM_MODEL, Script::status(503, "overloaded"));
    let good = FakeUpstream::start().await;
    good.on_sequence(
        UPSTREAM_MODEL,
        vec![
            Script::text("alpha beta"),
            Script::text("gamma delta").ending(StreamEnd::Truncate),
        ],
    );
    let router = start_router(endpoints_config(&[
        ("a", &broken, UPSTREAM_MODEL),
        ("b", &good, UPSTREAM_MODEL),
    ]))
    .await;

    let response = post(&router, "/v1/messages?beta=true", anthropic_request(true)).await;
    assert_eq!(response.status(), 200);
    assert!(response.headers()["content-type"]
        .to_str()
        .unwrap()
        .starts_with("text/event-stream"));
    let events = named_events(&response.text().await.unwrap());
    let names: Vec<&str> = events.iter().map(|(n, _)| n.as_str()).collect();
    assert_eq!(names.first(), Some(&"message_start"));
    assert_eq!(names.last(), Some(&"message_stop"));
    let text: String = events
        .iter()
        .filter_map(|(_, d)| d.pointer("/delta/text").and_then(Value::as_str))
        .collect();
    assert_eq!(text, "alpha beta");
    assert_eq!(
        (broken.chat_requests().len(), good.chat_requests().len()),
        (1, 1),
        "the 503 row is tried and failed over before any byte reaches the client"
    );

    let cut = post(&router, "/v1/messages", anthropic_request(true)).await;
    let events = named_events(&cut.text().await.unwrap());
    let (last, data) = events.last().unwrap();
    assert_eq!(last, "error", "{events:#?}");
    assert_eq!(data["type"], "error");
    assert!(data["error"]["message"]
        .as_str()
        .unwrap()
        .contains("before the answer was complete"));
    assert!(!events.iter().any(|(n, _)| n == "message_stop"));
}

#[tokio::test]
async fn errors_come_back_in_anthropic_shape() {
    let fake = FakeUpstream::start().await;
    fake.on(UPSTREAM_MODEL, Script::status(429, "slow down"));
    let router = start_router(endpoints_config(&[("a", &fake, UPSTREAM_MODEL)])).await;

    let bad = post(
        &router,
        "/v1/messages",
        json!({"model": CLIENT_MODEL, "messages": "hi"}),
    )
    .await;
    assert_eq!(bad.status(), 400);
    let body: Value = bad.json().await.unwrap();
    assert_eq!(body["type"], "error");
    assert_eq!(body["error"]["type"], "invalid_request_error");

    let limited = post(&router, "/v1/messages", anthropic_request(false)).await;
    assert_eq!(limited.status(), 429);
    let body: Value = limited.json().await.unwrap();
    assert_eq!(body["error"]["type"], "rate_limit_error", "{body}");

    let counted = post(
        &router,
        "/v1/messages/count_tokens",
        json!({"model": CLIENT_MODEL, "system": "12345678", "messages": []}),
    )
    .await;
    assert_eq!(counted.status(), 200);
    let body: Value = counted.json().await.unwrap();
    assert!(body["input_tokens"].as_u64().unwrap() >= 3, "{body}");
}
