//! Kiro through the running router, against an in-test fake of Kiro (AWS event-stream framing
//! with real CRCs) and of its token endpoints.
#![allow(clippy::unwrap_used, clippy::expect_used)]
// The fake Kiro's server task belongs to the test, not to an engine.
#![allow(clippy::disallowed_methods)]

#[allow(unused_imports)] // `support` re-exports helpers this file does not use.
mod support;

use std::sync::{Arc, Mutex};

use axum::body::{Body, Bytes};
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use axum::{Json, Router};
use modelrelay::engine::config::EnvSource;
use modelrelay::engine::providers::kiro::eventstream::{encode_event, encode_frame};
use serde_json::{json, Value};
use support::{sse_events, start_router_with, streamed_text, RouterSetup, TestRouter};

const REFRESH: &str = "aorAAAAAGrefresh";

#[derive(Default)]
struct Fake {
    /// The access token Kiro accepts now (the last one issued).
    accepted: Option<String>,
    issued: usize,
    token_calls: Vec<(String, Value)>,
    kiro_calls: Vec<(HeaderMap, Value)>,
    /// The frames the next answers carry.
    answer: Vec<u8>,
}

#[derive(Clone, Default)]
struct FakeKiro(Arc<Mutex<Fake>>);

impl FakeKiro {
    fn answer(&self, frames: Vec<u8>) {
        self.0.lock().unwrap().answer = frames;
    }

    /// Every token issued so far stops working.
    fn expire_tokens(&self) {
        self.0.lock().unwrap().accepted = None;
    }

    fn token_calls(&self) -> Vec<(String, Value)> {
        self.0.lock().unwrap().token_calls.clone()
    }

    fn kiro_calls(&self) -> Vec<(HeaderMap, Value)> {
        self.0.lock().unwrap().kiro_calls.clone()
    }
}

fn issue(fake: &FakeKiro, path: &str, body: Value) -> Response {
    let mut state = fake.0.lock().unwrap();
    state.token_calls.push((path.to_string(), body.clone()));
    if body["refreshToken"] != REFRESH {
        return (StatusCode::UNAUTHORIZED, "bad refresh token").into_response();
    }
    state.issued += 1;
    let token = format!("access-{}", state.issued);
    state.accepted = Some(token.clone());
    Json(json!({"accessToken": token, "expiresIn": 3600, "profileArn": "arn:aws:test"}))
        .into_response()
}

async fn desktop_refresh(State(fake): State<FakeKiro>, Json(body): Json<Value>) -> Response {
    issue(&fake, "/refreshToken", body)
}

async fn oidc_token(State(fake): State<FakeKiro>, Json(body): Json<Value>) -> Response {
    if body["clientId"] != "client-1" || body["clientSecret"] != "secret-1" {
        return (StatusCode::BAD_REQUEST, "bad client").into_response();
    }
    issue(&fake, "/token", body)
}

async fn generate(
    State(fake): State<FakeKiro>,
    headers: HeaderMap,
    Json(body): Json<Value>,
) -> Response {
    let mut state = fake.0.lock().unwrap();
    state.kiro_calls.push((headers.clone(), body));
    let bearer = headers
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .map(str::to_string);
    if bearer.is_none() || bearer != state.accepted {
        return (
            StatusCode::FORBIDDEN,
            Json(json!({"message": "The bearer token included in the request is expired"})),
        )
            .into_response();
    }
    // Seven-byte pieces, so frames are split across chunks on the wire.
    let pieces: Vec<Result<Bytes, std::convert::Infallible>> = state
        .answer
        .chunks(7)
        .map(|piece| Ok(Bytes::copy_from_slice(piece)))
        .collect();
    Response::builder()
        .header("content-type", "application/vnd.amazon.eventstream")
        .body(Body::from_stream(futures_util::stream::iter(pieces)))
        .unwrap()
}

async fn start_fake() -> (FakeKiro, String) {
    let fake = FakeKiro::default();
    let app = Router::new()
        .route("/refreshToken", post(desktop_refresh))
        .route("/token", post(oidc_token))
        .route("/generateAssistantResponse", post(generate))
        .with_state(fake.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    (fake, base)
}

async fn router_for(base: &str, env: EnvSource) -> TestRouter {
    let config = json!({"providers": {"kiro": {
        "enabled": true,
        "baseUrl": format!("{base}/generateAssistantResponse"),
        "tokenUrl": base,
        "oidcUrl": base,
    }}});
    let mut setup = RouterSetup::new(config);
    setup.env = env;
    start_router_with(setup).await
}

fn refresh_env() -> EnvSource {
    EnvSource::from_pairs([("KIRO_REFRESH_TOKEN", REFRESH)])
}

fn text_answer(parts: &[&str]) -> Vec<u8> {
    let mut bytes = Vec::new();
    for part in parts {
        bytes.extend(encode_event(
            "assistantResponseEvent",
            &json!({"content": part}).to_string(),
        ));
    }
    bytes.extend(encode_event(
        "metricsEvent",
        r#"{"inputTokens":10,"outputTokens":4}"#,
    ));
    bytes.extend(encode_event("messageStopEvent", "{}"));
    bytes
}

fn ask(model: &str, stream: bool) -> Value {
    json!({"model": model, "stream": stream, "messages": [
        {"role": "system", "content": "Be brief."},
        {"role": "user", "content": "hello"},
    ]})
}

#[tokio::test]
async fn streams_kiro_events_as_openai_chunks() {
    let (fake, base) = start_fake().await;
    fake.answer(text_answer(&["Hel", "lo ", "there"]));
    let router = router_for(&base, refresh_env()).await;
    let response = router.chat(ask("claude-sonnet-4.5", true)).await;
    assert_eq!(response.status(), 200);
    assert_eq!(response.headers()["x-modelrelay-provider"], "kiro");
    let events = sse_events(response).await;
    assert_eq!(streamed_text(&events), "Hello there");
    assert_eq!(events.last().unwrap(), "[DONE]");
    let last: Value = serde_json::from_str(&events[events.len() - 2]).unwrap();
    assert_eq!(last["object"], "chat.completion.chunk");
    assert_eq!(last["choices"][0]["finish_reason"], "stop");
    assert_eq!(last["usage"]["total_tokens"], 14);

    assert_eq!(fake.token_calls().len(), 1);
    assert_eq!(fake.token_calls()[0].0, "/refreshToken");
    let (headers, body) = fake.kiro_calls().pop().unwrap();
    assert_eq!(
        headers["x-amz-target"],
        "AmazonCodeWhispererStreamingService.GenerateAssistantResponse"
    );
    assert_eq!(headers["accept"], "application/vnd.amazon.eventstream");
    let current = &body["conversationState"]["currentMessage"]["userInputMessage"];
    assert_eq!(current["modelId"], "claude-sonnet-4.5");
    assert!(
        current["content"]
            .as_str()
            .unwrap()
            .ends_with("]\n\nBe brief.\n\nhello"),
        "the system prompt merges into the user turn that follows it"
    );
    assert_eq!(body["profileArn"], "arn:aws:test");
}

#[tokio::test]
async fn a_non_streaming_request_gets_one_chat_completion() {
    let (fake, base) = start_fake().await;
    fake.answer(text_answer(&["Hi", "!"]));
    let router = router_for(&base, refresh_env()).await;
    let response = router.chat(ask("claude-haiku-4.5", false)).await;
    assert_eq!(response.status(), 200);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["object"], "chat.completion");
    assert_eq!(body["choices"][0]["message"]["content"], "Hi!");
    assert_eq!(body["choices"][0]["finish_reason"], "stop");
    assert_eq!(body["usage"]["prompt_tokens"], 10);
}

#[tokio::test]
async fn tools_and_tool_results_round_trip() {
    let (fake, base) = start_fake().await;
    let mut frames = encode_event(
        "toolUseEvent",
        r#"{"name":"weather","toolUseId":"t9","input":"{\"city\":"}"#,
    );
    frames.extend(encode_event(
        "toolUseEvent",
        r#"{"name":"weather","toolUseId":"t9","input":"\"Oslo\"}","stop":true}"#,
    ));
    frames.extend(encode_event("messageStopEvent", "{}"));
    fake.answer(frames);
    let router = router_for(&base, refresh_env()).await;
    let request = json!({"model": "claude-sonnet-4.5", "messages": [
        {"role": "user", "content": "Weather in Paris, then Oslo?"},
        {"role": "assistant", "content": null, "tool_calls": [{"id": "t1", "type": "function",
            "function": {"name": "weather", "arguments": "{\"city\":\"Paris\"}"}}]},
        {"role": "tool", "tool_call_id": "t1", "content": "rain"},
    ], "tools": [{"type": "function", "function": {"name": "weather",
        "description": "Weather now", "parameters": {"type": "object"}}}]});
    let response = router.chat(request).await;
    assert_eq!(response.status(), 200);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["choices"][0]["finish_reason"], "tool_calls");
    assert_eq!(
        body["choices"][0]["message"]["tool_calls"],
        json!([{"id": "t9", "type": "function",
            "function": {"name": "weather", "arguments": "{\"city\":\"Oslo\"}"}}])
    );
    let (_, sent) = fake.kiro_calls().pop().unwrap();
    let state = &sent["conversationState"];
    assert_eq!(
        state["history"][1]["assistantResponseMessage"]["toolUses"][0],
        json!({"toolUseId": "t1", "name": "weather", "input": {"city": "Paris"}})
    );
    let context = &state["currentMessage"]["userInputMessage"]["userInputMessageContext"];
    assert_eq!(context["toolResults"][0]["toolUseId"], "t1");
    assert_eq!(context["toolResults"][0]["content"][0]["text"], "rain");
    assert_eq!(context["tools"][0]["toolSpecification"]["name"], "weather");
}

#[tokio::test]
async fn an_access_token_is_cached_and_refreshed_once_when_kiro_calls_it_expired() {
    let (fake, base) = start_fake().await;
    fake.answer(text_answer(&["one"]));
    let router = router_for(&base, refresh_env()).await;
    let first = router.chat(ask("claude-sonnet-4.5", false)).await;
    assert_eq!(first.status(), 200);
    let again = router.chat(ask("claude-sonnet-4.5", false)).await;
    assert_eq!(again.status(), 200);
    assert_eq!(fake.token_calls().len(), 1, "the token is cached");

    fake.expire_tokens();
    let response = router.chat(ask("claude-sonnet-4.5", true)).await;
    assert_eq!(response.status(), 200);
    assert_eq!(streamed_text(&sse_events(response).await), "one");
    assert_eq!(fake.token_calls().len(), 2, "one refresh after the 403");
    assert_eq!(
        fake.kiro_calls().len(),
        4,
        "the refused call was retried once"
    );
}

#[tokio::test]
async fn a_client_id_and_secret_select_the_oidc_refresh() {
    let (fake, base) = start_fake().await;
    fake.answer(text_answer(&["ok"]));
    let env = EnvSource::from_pairs([
        ("KIRO_REFRESH_TOKEN", REFRESH),
        ("KIRO_OAUTH_CLIENT_ID", "client-1"),
        ("KIRO_OAUTH_CLIENT_SECRET", "secret-1"),
    ]);
    let router = router_for(&base, env).await;
    let response = router.chat(ask("claude-sonnet-4.5", false)).await;
    assert_eq!(response.status(), 200);
    let calls = fake.token_calls();
    assert_eq!(calls.len(), 1);
    assert_eq!(calls[0].0, "/token");
    assert_eq!(calls[0].1["grantType"], "refresh_token");
}

#[tokio::test]
async fn an_exception_frame_is_a_502_kiro_error_when_not_streaming() {
    let (fake, base) = start_fake().await;
    fake.answer(encode_frame(
        &[
            (":message-type", "exception"),
            (":exception-type", "ValidationException"),
        ],
        br#"{"message":"Improperly formed request."}"#,
    ));
    let router = router_for(&base, refresh_env()).await;
    let response = router.chat(ask("claude-sonnet-4.5", false)).await;
    assert_eq!(response.status(), 502);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["error"]["type"], "kiro_error");
    assert_eq!(body["error"]["code"], "ValidationException");
    assert_eq!(body["error"]["message"], "Improperly formed request.");
}

#[tokio::test]
async fn an_exception_mid_stream_becomes_an_in_band_error() {
    let (fake, base) = start_fake().await;
    let mut frames = encode_event("assistantResponseEvent", r#"{"content":"partial"}"#);
    frames.extend(encode_frame(
        &[
            (":message-type", "exception"),
            (":exception-type", "ThrottlingException"),
        ],
        br#"{"message":"Too many requests"}"#,
    ));
    fake.answer(frames);
    let router = router_for(&base, refresh_env()).await;
    let response = router.chat(ask("claude-sonnet-4.5", true)).await;
    assert_eq!(response.status(), 200);
    let events = sse_events(response).await;
    assert_eq!(streamed_text(&events), "partial");
    assert!(events
        .iter()
        .any(|e| e.contains("kiro_error") && e.contains("Too many requests")));
    assert!(
        !events.iter().any(|e| e == "[DONE]"),
        "a cut stream never looks complete"
    );
}
