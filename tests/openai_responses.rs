//! `POST /v1/responses` through the real router against fake OpenAI chat upstreams: the
//! official `openai` Python SDK's Responses client (plain, streamed, function calls, a refused
//! stateful request), plus a stream cut mid-answer. The SDK runs
//! `tests/clients/responses_sdk_check.py` with the interpreter named by `MODELRELAY_TEST_PYTHON`
//! (the venv `.ci/run` makes).
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use std::time::Duration;

use serde_json::{json, Value};
use support::fake_upstream::StreamEnd;
use support::*;

const UPSTREAM_MODEL: &str = "sdk-upstream/coder";
/// Not a row or group here: routed as `auto-fastest`, echoed back as the client sent it.
const CLIENT_MODEL: &str = "gpt-5-codex";

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
            json!({"role": "assistant", "tool_calls": [
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
async fn the_official_openai_sdk_uses_responses_with_streams_and_function_calls() {
    let Some(python) = python::interpreter("openai") else {
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
    let base_url = router.url("/v1");
    let output = python::run_script(
        python,
        "responses_sdk_check.py",
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
    assert_eq!(plain["status"], "completed", "{summary:#}");
    assert_eq!(
        plain["output_text"], "Hello from the fake upstream",
        "{summary:#}"
    );
    assert_eq!(plain["model"], CLIENT_MODEL, "{summary:#}");
    let streamed = &summary["streaming"];
    assert_eq!(
        streamed["deltas"],
        json!(["one ", "two ", "three ", "four"]),
        "{summary:#}"
    );
    assert_eq!(streamed["final_text"], "one two three four", "{summary:#}");
    assert_eq!(streamed["events"][0], "response.created", "{summary:#}");
    assert_eq!(
        summary["tool_call"]["items"],
        json!([{"type": "function_call", "call_id": "call_whole", "name": "get_weather", "arguments": "{\"city\":\"Paris\"}"}]),
        "{summary:#}"
    );
    let tools = &summary["streaming_tool_call"];
    assert_eq!(
        tools["arguments_deltas"],
        json!([r#"{"city":"#, r#""Paris"}"#]),
        "{summary:#}"
    );
    assert_eq!(
        tools["items"],
        json!([{"type": "function_call", "call_id": "call_weather_1", "name": "get_weather", "arguments": "{\"city\":\"Paris\"}"}]),
        "{summary:#}"
    );
    assert_eq!(
        summary["stateful"],
        json!({"raised": "BadRequestError", "status": 400}),
        "{summary:#}"
    );

    let requests: Vec<Value> = fake.chat_requests().iter().map(|r| r.json()).collect();
    assert_eq!(requests.len(), 4, "{requests:#?}");
    for request in &requests {
        assert_eq!(request["model"], UPSTREAM_MODEL);
    }
    assert_eq!(
        requests[1]["messages"],
        json!([{"role": "system", "content": "Be brief."}, {"role": "user", "content": "hello"}])
    );
    assert_eq!(requests[1]["max_tokens"], 100);
    assert_eq!(requests[2]["tools"][0]["function"]["name"], "get_weather");
    let history = &requests[3]["messages"];
    assert_eq!(history[1]["tool_calls"][0]["id"], "call_0");
    assert_eq!(
        history[2],
        json!({"role": "tool", "tool_call_id": "call_0", "content": "sunny"})
    );
}

#[tokio::test]
async fn a_responses_stream_cut_mid_answer_ends_with_an_error_event() {
    let fake = FakeUpstream::start().await;
    fake.on(
        UPSTREAM_MODEL,
        Script::text("gamma delta").ending(StreamEnd::Truncate),
    );
    let router = start_router(endpoints_config(&[("a", &fake, UPSTREAM_MODEL)])).await;
    let response = reqwest::Client::new()
        .post(router.url("/v1/responses"))
        .json(&json!({"model": CLIENT_MODEL, "input": "hi", "stream": true, "store": false}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let events = sse_events(response).await;
    let last: Value = serde_json::from_str(events.last().unwrap()).unwrap();
    assert_eq!(last["type"], "error", "{events:#?}");
    assert!(!events.iter().any(|e| e.contains("response.completed")));

    let refused = reqwest::Client::new()
        .post(router.url("/v1/responses"))
        .json(&json!({"model": CLIENT_MODEL, "input": "hi", "store": true}))
        .send()
        .await
        .unwrap();
    assert_eq!(refused.status(), 400);
    let body: Value = refused.json().await.unwrap();
    assert_eq!(body["error"]["param"], "store", "{body}");
}
