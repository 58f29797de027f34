//! Replays the chat requests real agents sent (tests/fixtures/captures, see
//! shared/reference/real-clients.md §1.11) through the real router, and checks that the upstream
//! received the client's body with nothing changed but `model`: same value, same bytes.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};

use indexmap::IndexMap;
use serde::Deserialize;
use serde_json::value::RawValue;
use serde_json::{json, Value};
use support::*;

/// Every capture asks for this model (the name the clients were configured with).
const CLIENT_MODEL: &str = "fake-model";
/// What the endpoint calls the model; it must replace `CLIENT_MODEL` on the way upstream.
const UPSTREAM_MODEL: &str = "relay-upstream/coder-7b";
const ANSWER: &str = "Hello from the captured upstream";
const CHAT_PATH: &str = "/v1/chat/completions";
/// Transport headers of the original connection: reqwest sets its own.
const TRANSPORT_HEADERS: [&str; 5] = [
    "host",
    "content-length",
    "connection",
    "accept-encoding",
    "transfer-encoding",
];

/// One captured request. `body` borrows its exact text from the fixture file.
#[derive(Deserialize)]
struct Capture<'a> {
    method: String,
    path: String,
    #[serde(default)]
    headers: BTreeMap<String, String>,
    #[serde(borrow)]
    body: Option<&'a RawValue>,
}

fn captures_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/captures")
}

/// `(file name, file text)` of every capture, sorted by name.
fn capture_files() -> Vec<(String, String)> {
    let mut files: Vec<(String, String)> = std::fs::read_dir(captures_dir())
        .unwrap()
        .map(|entry| entry.unwrap().path())
        .filter(|path| path.to_string_lossy().ends_with(".trimmed.json"))
        .map(|path| {
            let name = path.file_name().unwrap().to_string_lossy().into_owned();
            (name, std::fs::read_to_string(&path).unwrap())
        })
        .collect();
    files.sort();
    assert!(
        files.len() >= 10,
        "expected the captures in {}",
        captures_dir().display()
    );
    files
}

/// A chat-completions request from a capture, labelled `file[index]`.
struct ChatCapture<'a> {
    label: String,
    headers: &'a BTreeMap<String, String>,
    /// The body exactly as the fixture holds it (pretty-printed).
    body: &'a RawValue,
}

/// The chat-completions entries of every capture; Anthropic, Responses and `/v1/models`
/// entries are not for this endpoint and are left out.
fn chat_captures<'a>(files: &'a [(String, Vec<Capture<'a>>)]) -> Vec<ChatCapture<'a>> {
    let mut chats = Vec::new();
    for (name, captures) in files {
        for (index, capture) in captures.iter().enumerate() {
            if capture.method != "POST" || capture.path != CHAT_PATH {
                continue;
            }
            chats.push(ChatCapture {
                label: format!("{name}[{index}]"),
                headers: &capture.headers,
                body: capture
                    .body
                    .unwrap_or_else(|| panic!("{name}[{index}] has no body")),
            });
        }
    }
    chats
}

fn parse_captures(files: &[(String, String)]) -> Vec<(String, Vec<Capture<'_>>)> {
    files
        .iter()
        .map(|(name, text)| {
            let captures: Vec<Capture<'_>> = serde_json::from_str(text)
                .unwrap_or_else(|error| panic!("{name} is not a list of captures: {error}"));
            (name.clone(), captures)
        })
        .collect()
}

/// The JSON text without insignificant whitespace, every token (numbers included) verbatim:
/// how the clients put it on the wire.
fn minify(json: &str) -> String {
    let mut out = String::with_capacity(json.len());
    let (mut in_string, mut escaped) = (false, false);
    for c in json.chars() {
        if in_string {
            out.push(c);
            if escaped {
                escaped = false;
            } else if c == '\\' {
                escaped = true;
            } else if c == '"' {
                in_string = false;
            }
        } else if c == '"' {
            in_string = true;
            out.push(c);
        } else if !matches!(c, ' ' | '\t' | '\n' | '\r') {
            out.push(c);
        }
    }
    out
}

/// `sent` with the text of its top-level `model` value replaced by `model` as a JSON string.
fn with_model_text(sent: &str, model: &str) -> String {
    let fields: HashMap<String, &RawValue> = serde_json::from_str(sent).unwrap();
    let old = fields
        .get("model")
        .expect("the capture names a model")
        .get();
    // A borrowed `RawValue` is a slice of `sent`, so its address gives its position.
    let start = old.as_ptr() as usize - sent.as_ptr() as usize;
    let end = start + old.len();
    format!(
        "{}{}{}",
        &sent[..start],
        serde_json::to_string(model).unwrap(),
        &sent[end..]
    )
}

/// Each top-level field's raw text, in order, without `model`.
fn fields_but_model(body: &[u8]) -> Vec<(String, String)> {
    let fields: IndexMap<String, &RawValue> = serde_json::from_slice(body).unwrap();
    fields
        .into_iter()
        .filter(|(key, _)| key != "model")
        .map(|(key, value)| (key, value.get().to_string()))
        .collect()
}

async fn start() -> (FakeUpstream, TestRouter) {
    let fake = FakeUpstream::start().await;
    fake.on(UPSTREAM_MODEL, Script::text(ANSWER));
    let mut config = endpoints_config(&[("captures", &fake, UPSTREAM_MODEL)]);
    // The captures ask for `fake-model`: make that the endpoint's group so they route as sent.
    config["providers"]["openai-compatible:captures"]["group"] = json!(CLIENT_MODEL);
    let router = start_router(config).await;
    (fake, router)
}

/// Sends `body` with the capture's own headers, checks the client's answer, and returns the
/// body the fake upstream received for it.
async fn replay(
    fake: &FakeUpstream,
    router: &TestRouter,
    capture: &ChatCapture<'_>,
    body: &str,
) -> Vec<u8> {
    let label = &capture.label;
    let before = fake.chat_requests().len();
    let mut request = router.client.post(router.url(CHAT_PATH));
    for (name, value) in capture.headers {
        if !TRANSPORT_HEADERS.contains(&name.to_ascii_lowercase().as_str()) {
            request = request.header(name, value);
        }
    }
    let response = request.body(body.to_string()).send().await.unwrap();
    let status = response.status();
    let text = response.text().await.unwrap();
    assert_eq!(status, 200, "{label}: the client got {status}: {text}");

    let streams = serde_json::from_str::<Value>(body).unwrap()["stream"] == json!(true);
    if streams {
        assert!(
            text.trim_end().ends_with("data: [DONE]"),
            "{label}: the stream does not end with `data: [DONE]`: {text}"
        );
        let events: Vec<String> = text
            .lines()
            .filter_map(|line| line.strip_prefix("data:").map(|d| d.trim().to_string()))
            .collect();
        assert_eq!(streamed_text(&events), ANSWER, "{label}: {text}");
    } else {
        let answer: Value = serde_json::from_str(&text)
            .unwrap_or_else(|error| panic!("{label}: the answer is not JSON ({error}): {text}"));
        assert_eq!(
            answer["choices"][0]["message"]["content"], ANSWER,
            "{label}: {text}"
        );
    }

    let received = fake.chat_requests();
    assert_eq!(
        received.len(),
        before + 1,
        "{label}: the upstream should see exactly one request"
    );
    received[before].body.to_vec()
}

#[tokio::test]
async fn captured_chat_requests_reach_the_upstream_with_only_the_model_changed() {
    let files = capture_files();
    let parsed = parse_captures(&files);
    let chats = chat_captures(&parsed);
    assert!(chats.len() >= 30, "only {} chat captures", chats.len());
    let (fake, router) = start().await;

    for capture in &chats {
        let label = &capture.label;
        let sent = minify(capture.body.get());
        let client_body: Value = serde_json::from_str(&sent).unwrap();
        assert_eq!(client_body["model"], CLIENT_MODEL, "{label}");

        let received = replay(&fake, &router, capture, &sent).await;

        let mut expected = client_body.clone();
        expected["model"] = json!(UPSTREAM_MODEL);
        let received_value: Value = serde_json::from_slice(&received)
            .unwrap_or_else(|error| panic!("{label}: the upstream got invalid JSON: {error}"));
        assert_eq!(
            received_value, expected,
            "{label}: the upstream got another body"
        );
        assert_eq!(
            String::from_utf8_lossy(&received),
            with_model_text(&sent, UPSTREAM_MODEL),
            "{label}: the upstream got other bytes"
        );
    }
}

#[tokio::test]
async fn a_pretty_printed_body_keeps_each_fields_text() {
    // The router re-joins top-level fields, so whitespace between them may go, but each field's
    // own text (nested whitespace included) must arrive as sent.
    let files = capture_files();
    let parsed = parse_captures(&files);
    let chats = chat_captures(&parsed);
    let (fake, router) = start().await;

    for capture in &chats {
        let label = &capture.label;
        let sent = capture.body.get();
        let received = replay(&fake, &router, capture, sent).await;
        assert_eq!(
            fields_but_model(&received),
            fields_but_model(sent.as_bytes()),
            "{label}: a field's text or order changed"
        );
        let received: Value = serde_json::from_slice(&received).unwrap();
        assert_eq!(received["model"], UPSTREAM_MODEL, "{label}");
    }
}

#[tokio::test]
async fn integers_too_big_for_u64_keep_every_digit() {
    // OpenCode's tool schemas bound integers with ±(2^53 − 1); a client may as well send bounds
    // no machine integer or float holds exactly. Only the raw text can carry them.
    let files = capture_files();
    let parsed = parse_captures(&files);
    let chats = chat_captures(&parsed);
    let capture = chats
        .iter()
        .find(|c| c.body.get().contains("9007199254740991") && c.body.get().contains("\"tools\""))
        .expect("a capture with OpenCode's integer bounds");
    let huge = "900719925474099100000000000001";
    let sent = minify(capture.body.get()).replace("9007199254740991", huge);
    let (fake, router) = start().await;

    let received = replay(&fake, &router, capture, &sent).await;

    let received = String::from_utf8(received).unwrap();
    assert!(
        received.contains(&format!("\"maximum\":{huge}")),
        "{received}"
    );
    assert!(
        received.contains(&format!("\"minimum\":-{huge}")),
        "{received}"
    );
    assert_eq!(received, with_model_text(&sent, UPSTREAM_MODEL));
}

/// True if `predicate` holds for `value` or anything inside it.
fn anywhere(value: &Value, predicate: &dyn Fn(&Value) -> bool) -> bool {
    predicate(value)
        || match value {
            Value::Array(items) => items.iter().any(|v| anywhere(v, predicate)),
            Value::Object(map) => map.values().any(|v| anywhere(v, predicate)),
            _ => false,
        }
}

#[test]
fn the_captures_hold_every_quirk_real_clients_send() {
    // §1.11 of real-clients.md: the shapes the router must pass through. If a capture is
    // re-recorded without one, the replay above would silently stop covering it.
    let files = capture_files();
    let parsed = parse_captures(&files);
    let bodies: Vec<(String, Value)> = chat_captures(&parsed)
        .iter()
        .map(|c| (c.label.clone(), serde_json::from_str(c.body.get()).unwrap()))
        .collect();
    let messages = |body: &Value| body["messages"].as_array().cloned().unwrap_or_default();
    let tools = |body: &Value| body["tools"].as_array().cloned().unwrap_or_default();
    type Quirk = (&'static str, Box<dyn Fn(&Value) -> bool>);
    let quirks: Vec<Quirk> = vec![
        (
            "content as an array of parts",
            Box::new(move |b| messages(b).iter().any(|m| m["content"].is_array())),
        ),
        (
            "`content: null` on a tool-call turn",
            Box::new(move |b| {
                messages(b)
                    .iter()
                    .any(|m| m["content"].is_null() && m["tool_calls"].is_array())
            }),
        ),
        (
            "`max_completion_tokens`",
            Box::new(|b| b.get("max_completion_tokens").is_some()),
        ),
        ("`max_tokens`", Box::new(|b| b.get("max_tokens").is_some())),
        (
            "a tool with `description: null`",
            Box::new(move |b| {
                tools(b).iter().any(|t| {
                    t["function"]
                        .as_object()
                        .is_some_and(|f| f.get("description") == Some(&Value::Null))
                })
            }),
        ),
        (
            "a tool schema with ±(2^53 − 1) integer bounds",
            Box::new(move |b| {
                tools(b).iter().any(|t| {
                    anywhere(t, &|v| {
                        v.as_i64()
                            .is_some_and(|n| n.unsigned_abs() >= 9_007_199_254_740_991)
                    })
                })
            }),
        ),
        (
            "a tool schema with `$schema`",
            Box::new(move |b| {
                tools(b)
                    .iter()
                    .any(|t| anywhere(t, &|v| v.get("$schema").is_some()))
            }),
        ),
        (
            "`stream_options`",
            Box::new(|b| b.get("stream_options").is_some()),
        ),
        (
            "explicit `stream: false`",
            Box::new(|b| b["stream"] == false),
        ),
        ("no `stream` field", Box::new(|b| b.get("stream").is_none())),
        ("`stream: true`", Box::new(|b| b["stream"] == true)),
    ];
    for (quirk, present) in &quirks {
        let holders: Vec<&str> = bodies
            .iter()
            .filter(|(_, body)| present(body))
            .map(|(label, _)| label.as_str())
            .collect();
        assert!(!holders.is_empty(), "no chat capture has {quirk}");
    }
}
