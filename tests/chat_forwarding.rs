//! The foundation's contract over real HTTP: forwarding, streaming, failover, errors.
#![allow(clippy::unwrap_used, clippy::expect_used)]
// A test stops its engine in a task of its own while it reads the stream.
#![allow(clippy::disallowed_methods)]

mod support;

use std::time::Duration;

use futures_util::StreamExt;
use serde_json::{json, Value};
use support::fake_upstream::{chunk, StreamEnd};
use support::*;

#[tokio::test]
async fn non_streaming_answer_comes_back_with_routing_headers() {
    let fake = FakeUpstream::start().await;
    fake.on("up-model", Script::text("hi there"));
    let router = start_router(endpoints_config(&[("a", &fake, "up-model")])).await;

    let response = router.chat(user_message("auto-fastest", false)).await;
    assert_eq!(response.status(), 200);
    assert_eq!(
        response.headers()["x-modelrelay-provider"],
        "openai-compatible:a"
    );
    assert_eq!(response.headers()["x-modelrelay-model"], "up-model");
    assert_eq!(response.headers()["x-modelrelay-attempts"], "1");
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["choices"][0]["message"]["content"], "hi there");
    assert_eq!(body["model"], "up-model");
}

#[tokio::test]
async fn every_field_but_model_reaches_the_upstream_unchanged() {
    let fake = FakeUpstream::start().await;
    fake.on("up-model", Script::text("ok"));
    let router = start_router(endpoints_config(&[("a", &fake, "up-model")])).await;
    let request = json!({
        "model": "auto-fastest",
        "messages": [{"role": "user", "content": [{"type": "text", "text": "hi"}]}],
        "temperature": 0.2,
        "tools": [{"type": "function", "function": {"name": "f", "description": null, "parameters": {"type": "object"}}}],
        "tool_choice": "auto",
        "response_format": {"type": "json_object"},
        "stream_options": {"include_usage": true},
        "max_completion_tokens": 100,
        "x_vendor_field": {"nested": [1, 2, 3]}
    });
    assert_eq!(router.chat(request.clone()).await.status(), 200);
    let mut received = fake.chat_requests()[0].json();
    assert_eq!(received["model"], "up-model");
    received["model"] = json!("auto-fastest");
    assert_eq!(received, request);
}

#[tokio::test]
async fn the_first_chunk_reaches_the_client_before_the_upstream_finishes() {
    let fake = FakeUpstream::start().await;
    // One chunk, then the upstream goes quiet without ending: a buffering proxy would never
    // deliver anything.
    fake.on("slow", Script::text("first").ending(StreamEnd::Hang));
    let router = start_router(endpoints_config(&[("a", &fake, "slow")])).await;
    let response = router.chat(user_message("slow", true)).await;
    assert_eq!(response.status(), 200);
    assert_eq!(response.headers()["content-type"], "text/event-stream");
    let mut body = response.bytes_stream();
    let first = tokio::time::timeout(Duration::from_secs(10), body.next())
        .await
        .expect("the first chunk arrives while the upstream is still streaming")
        .unwrap()
        .unwrap();
    assert!(String::from_utf8_lossy(&first).contains("first"));
    assert_eq!(fake.open_streams(), 1, "the upstream has not finished");
}

#[tokio::test]
async fn a_stream_is_relayed_event_by_event() {
    let fake = FakeUpstream::start().await;
    fake.on("m", Script::text("one two three").chunk_gap(ms(20)));
    let router = start_router(endpoints_config(&[("a", &fake, "m")])).await;
    let events = sse_events(router.chat(user_message("m", true)).await).await;
    assert_eq!(streamed_text(&events), "one two three");
    assert_eq!(events.last().unwrap(), "[DONE]");
}

#[tokio::test]
async fn tool_calls_pass_through_intact() {
    let fake = FakeUpstream::start().await;
    let tool_events = vec![
        json!({"id": "c1", "object": "chat.completion.chunk", "model": "m", "choices": [{"index": 0, "delta": {"role": "assistant", "content": null, "tool_calls": [{"index": 0, "id": "call_1", "type": "function", "function": {"name": "read_file", "arguments": ""}}]}, "finish_reason": null}]}),
        json!({"id": "c1", "object": "chat.completion.chunk", "model": "m", "choices": [{"index": 0, "delta": {"tool_calls": [{"index": 0, "function": {"arguments": "{\"path\":\"a.rs\"}"}}]}, "finish_reason": null}]}),
        json!({"id": "c1", "object": "chat.completion.chunk", "model": "m", "choices": [{"index": 0, "delta": {}, "finish_reason": "tool_calls"}]}),
    ];
    fake.on(
        "m",
        Script::Events {
            events: tool_events.clone(),
            chunk_gap: ms(5),
        },
    );
    let router = start_router(endpoints_config(&[("a", &fake, "m")])).await;
    let mut request = user_message("m", true);
    request["tools"] = json!([{"type": "function", "function": {"name": "read_file", "parameters": {"type": "object", "properties": {"path": {"type": "string"}}}}}]);
    let events = sse_events(router.chat(request.clone()).await).await;
    let relayed: Vec<Value> = events[..3]
        .iter()
        .map(|e| serde_json::from_str(e).unwrap())
        .collect();
    assert_eq!(relayed, tool_events);
    assert_eq!(events[3], "[DONE]");
    assert_eq!(fake.chat_requests()[0].json()["tools"], request["tools"]);
}

#[tokio::test]
async fn fails_over_from_503_429_hang_and_refused_upstreams() {
    let broken = FakeUpstream::start().await;
    broken.on("overloaded", Script::status(503, "overloaded"));
    broken.on(
        "limited",
        Script::status(429, "slow down").header("retry-after", "30"),
    );
    broken.on("hang", Script::Hang);
    let good = FakeUpstream::start().await;
    good.on("good", Script::text("rescued"));
    let refused = format!("http://127.0.0.1:{}/v1", closed_port().await);
    let mut config = endpoints_config(&[
        ("a-overloaded", &broken, "overloaded"),
        ("b-limited", &broken, "limited"),
        ("c-hang", &broken, "hang"),
        ("z-good", &good, "good"),
    ]);
    config["providers"]["openai-compatible:b2-refused"] =
        json!({"baseUrl": refused, "modelId": "refused", "discoverModels": false});
    config["timeouts"] = json!({"firstByteMs": 300, "responseMs": 300});
    let router = start_router(config).await;

    // The first request has to discover every failure; the second goes straight to the row
    // that answered, because the others are now known to be down, busy or slow.
    for (stream, attempts) in [(false, "5"), (true, "1")] {
        let response = router.chat(user_message("auto-fastest", stream)).await;
        assert_eq!(response.status(), 200);
        assert_eq!(
            response.headers()["x-modelrelay-provider"],
            "openai-compatible:z-good"
        );
        assert_eq!(response.headers()["x-modelrelay-attempts"], attempts);
        let text = if stream {
            streamed_text(&sse_events(response).await)
        } else {
            response.json::<Value>().await.unwrap()["choices"][0]["message"]["content"]
                .as_str()
                .unwrap()
                .to_string()
        };
        assert_eq!(text, "rescued");
    }
}

#[tokio::test]
async fn a_broken_first_chunk_fails_over_but_a_later_break_becomes_an_error_event() {
    let fake = FakeUpstream::start().await;
    fake.on("dies-at-once", Script::text("").ending(StreamEnd::Drop));
    fake.on(
        "dies-later",
        Script::text("partial answer")
            .chunk_gap(ms(20))
            .ending(StreamEnd::Drop),
    );
    let config = endpoints_config(&[("a", &fake, "dies-at-once"), ("b", &fake, "dies-later")]);
    let router = start_router(config).await;

    let response = router.chat(user_message("auto-fastest", true)).await;
    assert_eq!(response.status(), 200);
    assert_eq!(response.headers()["x-modelrelay-model"], "dies-later");
    let events = sse_events(response).await;
    assert_eq!(streamed_text(&events), "partial answer");
    let last: Value = serde_json::from_str(events.last().unwrap()).unwrap();
    assert_eq!(last["error"]["code"], "upstream_stream_failed");
    assert!(
        !events.iter().any(|e| e == "[DONE]"),
        "a cut stream must not look complete"
    );
}

#[tokio::test]
async fn a_stream_closed_without_finishing_ends_with_an_error_event() {
    let fake = FakeUpstream::start().await;
    fake.on("m", Script::text("half of it").ending(StreamEnd::Truncate));
    let router = start_router(endpoints_config(&[("a", &fake, "m")])).await;
    let events = sse_events(router.chat(user_message("m", true)).await).await;
    let last: Value = serde_json::from_str(events.last().unwrap()).unwrap();
    assert!(last["error"]["message"]
        .as_str()
        .unwrap()
        .contains("before the answer was complete"));
}

#[tokio::test]
async fn a_silent_stream_is_cut_after_the_idle_budget() {
    let fake = FakeUpstream::start().await;
    fake.on("m", Script::text("started").ending(StreamEnd::Hang));
    let mut config = endpoints_config(&[("a", &fake, "m")]);
    config["timeouts"] = json!({"idleMs": 200});
    let router = start_router(config).await;
    let events = sse_events(router.chat(user_message("m", true)).await).await;
    assert_eq!(streamed_text(&events), "started");
    let last: Value = serde_json::from_str(events.last().unwrap()).unwrap();
    assert!(last["error"]["message"]
        .as_str()
        .unwrap()
        .contains("sent nothing for 200 ms"));
}

#[tokio::test]
async fn a_client_that_disconnects_cancels_its_upstream_request() {
    let fake = FakeUpstream::start().await;
    fake.on("m", Script::text("tick").ending(StreamEnd::Hang));
    let router = start_router(endpoints_config(&[("a", &fake, "m")])).await;
    let response = router.chat(user_message("m", true)).await;
    let mut body = response.bytes_stream();
    body.next().await.unwrap().unwrap();
    assert_eq!(fake.open_streams(), 1);
    drop(body);
    tokio::time::timeout(Duration::from_secs(10), async {
        while fake.open_streams() != 0 {
            tokio::time::sleep(ms(10)).await;
        }
    })
    .await
    .expect("the upstream request is dropped when the client goes away");
}

#[tokio::test]
async fn upstream_client_errors_are_returned_without_failover() {
    let fake = FakeUpstream::start().await;
    fake.on("a", Script::status(400, "max_tokens is too large"));
    fake.on("b", Script::text("should not be used"));
    let router = start_router(endpoints_config(&[("a", &fake, "a"), ("b", &fake, "b")])).await;
    let response = router.chat(user_message("auto-fastest", false)).await;
    assert_eq!(response.status(), 400);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["error"]["message"], "max_tokens is too large");
    assert_eq!(fake.chat_requests().len(), 1);
}

#[tokio::test]
async fn when_every_candidate_fails_the_error_names_each_one() {
    let fake = FakeUpstream::start().await;
    fake.on("a", Script::status(503, "overloaded"));
    fake.on(
        "b",
        Script::raw(502, "text/html", "<html>bad gateway</html>"),
    );
    let router = start_router(endpoints_config(&[("a", &fake, "a"), ("b", &fake, "b")])).await;
    let response = router.chat(user_message("auto-fastest", false)).await;
    assert_eq!(response.status(), 502);
    let body: Value = response.json().await.unwrap();
    let message = body["error"]["message"].as_str().unwrap();
    assert!(
        message.contains("openai-compatible:a/a") && message.contains("overloaded"),
        "{message}"
    );
    assert!(message.contains("bad gateway"), "{message}");
    assert_eq!(body["error"]["type"], "upstream_error");
}

#[tokio::test]
async fn one_cause_met_by_several_rows_is_said_once_naming_each_row() {
    let port = closed_port().await;
    let mut providers = serde_json::Map::new();
    for name in ["a", "b", "c"] {
        providers.insert(
            format!("openai-compatible:{name}"),
            json!({"enabled": true, "name": name, "baseUrl": format!("http://127.0.0.1:{port}/v1"),
                   "modelId": "same-model", "discoverModels": false}),
        );
    }
    let router = start_router(json!({"providers": providers, "maxAttempts": 5})).await;
    let response = router.chat(user_message("auto-fastest", false)).await;
    assert_eq!(response.status(), 502);
    let body: Value = response.json().await.unwrap();
    let message = body["error"]["message"].as_str().unwrap();
    for name in ["a", "b", "c"] {
        let row = format!("`openai-compatible:{name}/same-model`");
        assert_eq!(message.matches(&row).count(), 1, "{message}");
    }
    assert_eq!(
        message.matches(';').count(),
        0,
        "one cause, one line: {message}"
    );
    assert!(message.starts_with("all 3 attempts failed: "), "{message}");
}

#[tokio::test]
async fn when_every_candidate_is_rate_limited_the_answer_is_429_with_retry_after() {
    let fake = FakeUpstream::start().await;
    fake.on("a", Script::status(429, "rpm").header("retry-after", "12"));
    fake.on("b", Script::status(429, "rpd").header("retry-after", "40"));
    let router = start_router(endpoints_config(&[("a", &fake, "a"), ("b", &fake, "b")])).await;
    let response = router.chat(user_message("auto-fastest", false)).await;
    assert_eq!(response.status(), 429);
    assert_eq!(response.headers()["retry-after"], "12");
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["error"]["code"], "rate_limited");
}

#[tokio::test]
async fn bad_requests_get_openai_shaped_errors() {
    let fake = FakeUpstream::start().await;
    fake.on("m", Script::text("x"));
    let mut config = endpoints_config(&[("a", &fake, "m")]);
    config["maxBodyBytes"] = json!(2048);
    let router = start_router(config).await;
    let post = |body: Vec<u8>| {
        router
            .client
            .post(router.url("/v1/chat/completions"))
            .header("content-type", "application/json")
            .body(body)
            .send()
    };
    let cases: Vec<(Vec<u8>, u16, &str)> = vec![
        (b"{\"messages\": [".to_vec(), 400, "invalid_json"),
        (b"{\"model\": \"m\"}".to_vec(), 400, "invalid_request"),
        (
            serde_json::to_vec(&user_message("no-such-model", false)).unwrap(),
            404,
            "model_not_found",
        ),
        (vec![b' '; 4096], 413, "request_too_large"),
    ];
    for (body, status, code) in cases {
        let response = post(body).await.unwrap();
        assert_eq!(response.status(), status);
        let error: Value = response.json().await.unwrap();
        assert_eq!(error["error"]["code"], code);
        for field in ["message", "type", "param", "code"] {
            assert!(error["error"].get(field).is_some(), "missing {field}");
        }
    }
    let not_found: Value = router
        .chat(user_message("no-such-model", false))
        .await
        .json()
        .await
        .unwrap();
    let message = not_found["error"]["message"].as_str().unwrap();
    assert!(
        message.contains("`no-such-model`") && message.contains("/v1/models"),
        "{message}"
    );
    assert!(fake.chat_requests().is_empty());
}

#[tokio::test]
async fn nothing_configured_answers_503_saying_what_to_configure() {
    let router = start_router(json!({})).await;
    let response = router.chat(user_message("auto-fastest", false)).await;
    assert_eq!(response.status(), 503);
    let body: Value = response.json().await.unwrap();
    assert!(body["error"]["message"]
        .as_str()
        .unwrap()
        .contains("providers"));
}

#[tokio::test]
async fn models_lists_auto_fastest_and_every_group() {
    let fake = FakeUpstream::start().await;
    let router = start_router(endpoints_config(&[
        ("a", &fake, "org/Model-One"),
        ("b", &fake, "model-one"),
    ]))
    .await;
    let models = router.get_json("/v1/models").await;
    assert_eq!(models["object"], "list");
    let data = models["data"].as_array().unwrap();
    assert_eq!(data[0]["id"], "auto-fastest");
    assert_eq!(data[0]["owned_by"], "router");
    let ours: Vec<&Value> = data.iter().filter(|m| m["id"] == "model-one").collect();
    assert_eq!(ours.len(), 1, "both endpoints serve one group");
    assert_eq!(
        ours[0]["providers"],
        json!(["openai-compatible:a", "openai-compatible:b"])
    );
    assert_eq!(ours[0]["owned_by"], "relay");
    let health = router.get_json("/health").await;
    assert_eq!(health["status"], "ok");
    assert_eq!(health["key_store"], "memory");
}

#[tokio::test]
async fn discovered_models_become_routable() {
    let fake = FakeUpstream::start().await;
    fake.on("configured", Script::text("c"));
    fake.on("found/by-discovery", Script::text("d"));
    fake.list_models(&["text-embedding-3-small"]);
    let config = json!({"providers": {"openai-compatible:x": {"baseUrl": fake.base_url(), "modelId": "configured"}}});
    let router = start_router(config).await;
    let groups = tokio::time::timeout(Duration::from_secs(10), async {
        loop {
            let models = router.get_json("/v1/models").await;
            let ids: Vec<String> = models["data"]
                .as_array()
                .unwrap()
                .iter()
                .map(|m| m["id"].as_str().unwrap().to_string())
                .collect();
            if ids.contains(&"by-discovery".to_string()) {
                return ids;
            }
            tokio::time::sleep(ms(20)).await;
        }
    })
    .await
    .expect("discovery runs in the background");
    assert!(
        !groups.iter().any(|id| id.contains("embedding")),
        "{groups:?}"
    );
    let response = router.chat(user_message("by-discovery", false)).await;
    assert_eq!(
        response.headers()["x-modelrelay-model"],
        "found/by-discovery"
    );
}

#[tokio::test]
async fn unknown_routes_and_methods_get_openai_errors() {
    let router = start_router(json!({})).await;
    let response = router
        .client
        .get(router.url("/v2/nothing"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 404);
    assert_eq!(
        response.json::<Value>().await.unwrap()["error"]["code"],
        "not_found"
    );
    let response = router
        .client
        .get(router.url("/v1/chat/completions"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 405);
    assert!(response.json::<Value>().await.unwrap()["error"]["message"].is_string());
}

#[tokio::test]
async fn shutdown_lets_an_in_flight_stream_finish() {
    let fake = FakeUpstream::start().await;
    fake.on("m", Script::text("a b c d").chunk_gap(ms(100)));
    let router = start_router(endpoints_config(&[("a", &fake, "m")])).await;
    let response = router.chat(user_message("m", true)).await;
    let addr = router.addr();
    let TestRouter {
        engine, dir: _dir, ..
    } = router;
    let stopping = tokio::spawn(engine.shutdown());
    let events = sse_events(response).await;
    assert_eq!(streamed_text(&events), "a b c d");
    assert_eq!(events.last().unwrap(), "[DONE]");
    stopping.await.unwrap();
    assert!(
        tokio::net::TcpStream::connect(addr).await.is_err(),
        "no longer listening"
    );
}

#[tokio::test]
async fn chunk_helper_builds_openai_chunks() {
    // Guards the fake itself: its chunks must be what real providers send.
    let value = chunk("m", Some("x"), None);
    assert_eq!(value["object"], "chat.completion.chunk");
    assert_eq!(value["choices"][0]["delta"]["content"], "x");
}
