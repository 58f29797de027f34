//! The official `openai` Python SDK, a client nobody on this project wrote, against the real
//! router: a plain answer, a streamed one, a streamed tool call and the error class of an
//! unknown model. The SDK runs `tests/clients/openai_sdk_check.py` with the interpreter named by
//! `MODELRELAY_TEST_PYTHON` (the venv `.ci/run` makes).
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use std::time::Duration;

use serde_json::{json, Value};
use support::*;

const UPSTREAM_MODEL: &str = "sdk-upstream/coder";
const PLAIN_TEXT: &str = "Hello from the fake upstream";
const STREAMED_TEXT: &str = "one two three four";
const TOOL_NAME: &str = "get_weather";
const TOOL_ARGUMENTS: &str = r#"{"city":"Paris"}"#;
const UNKNOWN_MODEL: &str = "no-such-model";

/// A streamed tool call the way OpenAI sends it: the call's id and name first, then its
/// arguments in pieces, then `finish_reason: "tool_calls"`.
fn tool_call_events() -> Vec<Value> {
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
            json!({"role": "assistant", "content": null, "tool_calls": [
                {"index": 0, "id": "call_weather_1", "type": "function", "function": {"name": TOOL_NAME, "arguments": ""}}
            ]}),
            Value::Null,
        ),
        chunk(arguments(r#"{"city":"#), Value::Null),
        chunk(arguments(r#""Paris"}"#), Value::Null),
        chunk(json!({}), json!("tool_calls")),
    ]
}

#[tokio::test]
async fn the_official_python_sdk_chats_streams_calls_tools_and_sees_not_found() {
    let Some(python) = python::interpreter("openai") else {
        return;
    };
    let fake = FakeUpstream::start().await;
    // The script makes its three model calls in this order, without retries.
    fake.on_sequence(
        UPSTREAM_MODEL,
        vec![
            Script::text(PLAIN_TEXT),
            Script::text(STREAMED_TEXT),
            Script::Events {
                events: tool_call_events(),
                chunk_gap: Duration::ZERO,
            },
        ],
    );
    let router = start_router(endpoints_config(&[("sdk", &fake, UPSTREAM_MODEL)])).await;
    let base_url = router.url("/v1");

    let output = python::run_script(
        python,
        "openai_sdk_check.py",
        vec![
            "--base-url".to_string(),
            base_url.to_string(),
            "--model".to_string(),
            "auto-fastest".to_string(),
            "--unknown-model".to_string(),
            UNKNOWN_MODEL.to_string(),
            "--expect-text".to_string(),
            PLAIN_TEXT.to_string(),
            "--expect-stream-text".to_string(),
            STREAMED_TEXT.to_string(),
            "--expect-tool-name".to_string(),
            TOOL_NAME.to_string(),
            "--expect-tool-arguments".to_string(),
            TOOL_ARGUMENTS.to_string(),
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
    let summary: Value = serde_json::from_str(&stdout)
        .unwrap_or_else(|error| panic!("the summary is not JSON ({error}):\n{stdout}\n{stderr}"));

    assert_eq!(summary["mismatches"], json!([]), "{summary:#}");
    let plain = &summary["non_streaming"];
    assert_eq!(plain["content"], PLAIN_TEXT, "{summary:#}");
    assert_eq!(plain["finish_reason"], "stop", "{summary:#}");
    assert_eq!(plain["model"], UPSTREAM_MODEL, "{summary:#}");
    let streamed = &summary["streaming"];
    assert_eq!(
        streamed["deltas"],
        json!(["one ", "two ", "three ", "four"]),
        "{summary:#}"
    );
    assert_eq!(streamed["finish_reason"], "stop", "{summary:#}");
    let tools = &summary["streaming_tool_call"];
    assert_eq!(
        tools["tool_calls"],
        json!([{"id": "call_weather_1", "name": TOOL_NAME, "arguments": TOOL_ARGUMENTS}]),
        "{summary:#}"
    );
    assert_eq!(tools["finish_reason"], "tool_calls", "{summary:#}");
    let unknown = &summary["unknown_model"];
    assert_eq!(unknown["raised"], "NotFoundError", "{summary:#}");
    assert_eq!(unknown["status"], 404, "{summary:#}");
    assert_eq!(unknown["code"], "model_not_found", "{summary:#}");

    // What the upstream saw: three calls in the script's order, the unknown model none.
    let requests: Vec<Value> = fake.chat_requests().iter().map(|r| r.json()).collect();
    assert_eq!(requests.len(), 3, "{requests:#?}");
    for request in &requests {
        assert_eq!(request["model"], UPSTREAM_MODEL);
    }
    assert_ne!(requests[0]["stream"], true);
    assert_eq!(requests[1]["stream"], true);
    assert_eq!(
        requests[1]["stream_options"],
        json!({"include_usage": true})
    );
    assert_eq!(requests[2]["stream"], true);
    assert_eq!(requests[2]["tools"][0]["function"]["name"], TOOL_NAME);
    assert_eq!(requests[2]["tool_choice"], "auto");
    // The client's key is for the router, never for the upstream.
    for received in fake.chat_requests() {
        let authorization = received.headers.get("authorization");
        assert!(
            authorization.is_none_or(|value| !value.as_bytes().ends_with(b"anything")),
            "the client's API key reached the upstream: {authorization:?}"
        );
    }
}
