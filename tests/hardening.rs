//! Holes found when the router was fed bad upstream answers and bad bodies: a cut stream that
//! looked complete, a malformed end of stream, an HTML page relayed as success, bodies that
//! were accepted although they are not messages. Each test failed before its fix.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use serde_json::{json, Value};
use support::*;

/// A router whose one row answers every request with `body` as its event stream.
async fn single(body: &str) -> (FakeUpstream, TestRouter) {
    let fake = FakeUpstream::start().await;
    fake.otherwise(Script::raw(200, "text/event-stream", body));
    let router = start_router(endpoints_config(&[("a", &fake, "m")])).await;
    (fake, router)
}

async fn raw_stream(router: &TestRouter) -> String {
    let response = router.chat(user_message("m", true)).await;
    assert_eq!(response.status(), 200);
    response.text().await.unwrap()
}

/// Every `data:` payload of a body, each checked to be whole JSON or `[DONE]`.
fn payloads(text: &str) -> Vec<String> {
    let payloads: Vec<String> = text
        .lines()
        .filter_map(|l| l.strip_prefix("data: "))
        .map(str::to_string)
        .collect();
    for payload in &payloads {
        assert!(
            payload == "[DONE]" || serde_json::from_str::<Value>(payload).is_ok(),
            "a malformed event reached the client: {payload:?} in {text:?}"
        );
    }
    payloads
}

#[tokio::test]
async fn an_empty_finish_reason_does_not_make_a_cut_stream_look_complete() {
    let (_fake, router) = single(
        "data: {\"choices\":[{\"index\":0,\"delta\":{\"content\":\"lo wor\"},\"finish_reason\":\"\"}]}\n\n",
    )
    .await;
    let text = raw_stream(&router).await;
    let events = payloads(&text);
    assert!(!events.contains(&"[DONE]".to_string()), "{text}");
    assert!(events.last().unwrap().contains("\"error\""), "{text}");
}

#[tokio::test]
async fn with_two_choices_both_must_finish() {
    let (_fake, router) = single(concat!(
        "data: {\"choices\":[{\"index\":0,\"delta\":{\"content\":\"a\"}},{\"index\":1,\"delta\":{\"content\":\"b\"}}]}\n\n",
        "data: {\"choices\":[{\"index\":0,\"delta\":{},\"finish_reason\":\"stop\"}]}\n\n",
    ))
    .await;
    let events = payloads(&raw_stream(&router).await);
    assert!(!events.contains(&"[DONE]".to_string()));
    assert!(events.last().unwrap().contains("\"error\""));
}

#[tokio::test]
async fn a_done_without_its_newline_reaches_the_client_once_and_whole() {
    let (_fake, router) = single(concat!(
        "data: {\"choices\":[{\"index\":0,\"delta\":{\"content\":\"hi\"},\"finish_reason\":\"stop\"}]}\n\n",
        "data: [DONE]",
    ))
    .await;
    let text = raw_stream(&router).await;
    assert_eq!(text.matches("[DONE]").count(), 1, "{text:?}");
    assert!(text.ends_with("data: [DONE]\n\n"), "{text:?}");
    payloads(&text);
}

#[tokio::test]
async fn a_stream_cut_inside_its_last_line_never_forwards_the_fragment() {
    let (_fake, router) = single(concat!(
        "data: {\"choices\":[{\"index\":0,\"delta\":{\"content\":\"hi\"}}]}\n\n",
        "data: {\"choices\":[{\"ind",
    ))
    .await;
    let text = raw_stream(&router).await;
    let events = payloads(&text);
    assert!(!text.contains("{\"ind\n"), "{text:?}");
    assert!(events.last().unwrap().contains("\"error\""));
}

#[tokio::test]
async fn a_200_with_an_html_page_is_a_failure_of_that_row() {
    let portal = FakeUpstream::start().await;
    portal.otherwise(Script::raw(200, "text/html", "<html>please log in</html>"));
    let good = FakeUpstream::start().await;
    good.otherwise(Script::text("real answer"));
    let router = start_router(json!({"providers": {
        "openai-compatible:a": {"enabled": true, "name": "a", "baseUrl": portal.base_url(),
                                "modelId": "m", "discoverModels": false, "priority": 0},
        "openai-compatible:b": {"enabled": true, "name": "b", "baseUrl": good.base_url(),
                                "modelId": "m", "discoverModels": false, "priority": 1},
    }}))
    .await;
    for stream in [false, true] {
        let response = router.chat(user_message("auto-fastest", stream)).await;
        assert_eq!(response.status(), 200);
        assert_eq!(
            response.headers()["x-modelrelay-provider"],
            "openai-compatible:b"
        );
        assert!(response.text().await.unwrap().contains("real"));
    }
    let models = router.get_json("/api/models").await;
    let portal_row = models["models"]
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["id"] == "openai-compatible:a/m")
        .unwrap()
        .clone();
    assert!(
        portal_row["samples"]
            .as_array()
            .unwrap()
            .iter()
            .any(|s| s["outcome"] == "failure"),
        "{portal_row}"
    );
}

#[tokio::test]
async fn messages_that_are_not_message_objects_are_refused() {
    let fake = FakeUpstream::start().await;
    fake.otherwise(Script::text("never"));
    let router = start_router(endpoints_config(&[("a", &fake, "m")])).await;
    let response = router
        .chat(json!({"model": "m", "messages": [1, "x", null]}))
        .await;
    assert_eq!(response.status(), 400);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["error"]["code"], "invalid_request");
    let count = router
        .client
        .post(router.url("/v1/messages/count_tokens"))
        .json(&json!({"model": "m", "messages": 5}))
        .send()
        .await
        .unwrap();
    assert_eq!(count.status(), 400);
    assert!(fake.chat_requests().is_empty());
}
