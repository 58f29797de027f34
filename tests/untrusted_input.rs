//! Property tests: every parser of untrusted input — the SSE parser and stream progress, the
//! splice of a continuation, the Kiro event stream, the translators, config import tokens, the
//! `model` selector and the chat request, Kiro's request translation — is fed arbitrary bytes and arbitrary JSON. None may
//! panic; each either answers or returns a clean error.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use bytes::Bytes;
use modelrelay::engine::forward::progress::StreamProgress;
use modelrelay::engine::forward::splice::{Delivered, Splicer};
use modelrelay::engine::forward::ChatRequest;
use modelrelay::engine::providers::kiro::eventstream::FrameDecoder;
use modelrelay::engine::providers::kiro::request::build_kiro_request;
use modelrelay::engine::providers::kiro::response::ChunkTranslator;
use modelrelay::engine::providers::ContinueMode;
use modelrelay::engine::routing::parse_selector;
use modelrelay::engine::sse::{self, LineSplitter};
use modelrelay::engine::transfer::{decode_token, open_token};
use modelrelay::engine::translate::{anthropic, responses, OpenAiEvent};
use modelrelay::engine::upstream::{error_message_from_body, failure::is_context_overflow};
use proptest::prelude::*;
use serde_json::Value;

/// Any JSON document, nested a few levels.
fn json() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(Value::from),
        any::<f64>()
            .prop_filter("finite", |f| f.is_finite())
            .prop_map(Value::from),
        ".{0,12}".prop_map(Value::String),
        prop_oneof![
            Just("role"),
            Just("content"),
            Just("messages"),
            Just("choices"),
            Just("delta"),
            Just("tool_calls"),
            Just("assistant"),
            Just("user"),
            Just("text"),
            Just("type")
        ]
        .prop_map(|s| Value::String(s.to_string())),
    ];
    leaf.prop_recursive(4, 48, 6, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..6).prop_map(Value::Array),
            prop::collection::vec(
                (
                    prop_oneof![
                        Just("role".to_string()),
                        Just("content".to_string()),
                        Just("messages".to_string()),
                        Just("choices".to_string()),
                        Just("delta".to_string()),
                        Just("tool_calls".to_string()),
                        Just("model".to_string()),
                        Just("input".to_string()),
                        Just("type".to_string()),
                        Just("finish_reason".to_string()),
                        Just("index".to_string()),
                        Just("usage".to_string()),
                        ".{0,8}"
                    ],
                    inner
                ),
                0..6
            )
            .prop_map(|pairs| Value::Object(pairs.into_iter().collect())),
        ]
    })
}

/// A chat-completion-chunk-shaped document with arbitrary parts.
fn chunk_like() -> impl Strategy<Value = Value> {
    (json(), ".{0,20}", prop::option::of("[a-z_]{0,8}"), 0u32..3).prop_map(
        |(extra, content, finish, index)| {
            serde_json::json!({"id": "x", "extra": extra, "choices": [{"index": index,
                "delta": {"content": content}, "finish_reason": finish}]})
        },
    )
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, failure_persistence: None, ..ProptestConfig::default() })]

    #[test]
    fn sse_lines_of_any_bytes_in_any_pieces(chunks in prop::collection::vec(prop::collection::vec(any::<u8>(), 0..200), 0..12)) {
        let mut lines = LineSplitter::default();
        let mut progress = StreamProgress::default();
        for chunk in chunks {
            if let Ok(whole) = lines.feed(Bytes::from(chunk)) {
                for data in sse::data_lines(&whole).flatten() {
                    progress.observe(data);
                    let _ = OpenAiEvent::from_data(data);
                }
            }
        }
        let tail = lines.finish();
        let _ = sse::classify(&tail);
        let _ = progress.finished();
    }

    #[test]
    fn stream_progress_of_any_json(values in prop::collection::vec(json(), 0..8)) {
        let mut progress = StreamProgress::default();
        for value in values {
            progress.observe(value.to_string().as_bytes());
        }
        let _ = (progress.finished(), progress.tokens());
    }

    #[test]
    fn a_splice_of_any_continuation(delivered in ".{0,40}", chunks in prop::collection::vec(prop_oneof![json(), chunk_like()], 0..10), mode in 0usize..4) {
        let mode = [ContinueMode::Prefill, ContinueMode::PrefixFlag, ContinueMode::VllmContinue, ContinueMode::Restart][mode];
        let mut splicer = Splicer::new(Delivered { text: delivered, ..Delivered::default() }, mode);
        for chunk in chunks {
            if splicer.feed(chunk).is_err() {
                return Ok(());
            }
        }
        let _ = splicer.finish();
    }

    #[test]
    fn kiro_event_stream_of_any_bytes(chunks in prop::collection::vec(prop::collection::vec(any::<u8>(), 0..300), 0..8)) {
        let mut decoder = FrameDecoder::default();
        let mut translator = ChunkTranslator::new("m", 0);
        'outer: for chunk in chunks {
            decoder.push(&chunk);
            loop {
                match decoder.next_frame() {
                    Ok(Some(frame)) => { let _ = translator.frame(&frame); }
                    Ok(None) => break,
                    Err(_) => break 'outer,
                }
            }
        }
        let _ = decoder.finish();
        let _ = translator.finish();
    }

    #[test]
    fn translators_of_any_json(body in json(), answer in json(), events in prop::collection::vec(prop_oneof![json(), chunk_like()], 0..8)) {
        let _ = anthropic::request_to_openai(&body);
        let _ = anthropic::estimate_input_tokens(&body);
        let _ = responses::request_to_openai(&body);
        let _ = build_kiro_request(&body, "m", "2026-01-01T00:00:00Z", None);
        let _ = anthropic::response_from_openai(&answer, "m");
        let _ = responses::response_from_openai(&answer, "m", 0);
        let mut to_anthropic = anthropic::StreamTranslator::new("m");
        let mut to_responses = responses::StreamTranslator::new("m", 0);
        for event in &events {
            if let Some(event) = OpenAiEvent::from_data(event.to_string().as_bytes()) {
                to_anthropic.on_event(&event);
                to_responses.on_event(&event);
            }
        }
        to_anthropic.finish();
        to_responses.finish();
    }

    #[test]
    fn config_tokens_of_any_text(text in ".{0,200}", raw in prop::collection::vec(any::<u8>(), 0..200)) {
        let _ = decode_token(&text);
        let _ = open_token(&text, Some("pass"));
        let _ = decode_token(&format!("mrconf:v1:{text}"));
        let _ = open_token(&format!("mrconf:v1e:{text}"), Some("pass"));
        let _ = decode_token(&String::from_utf8_lossy(&raw));
    }

    #[test]
    fn model_selectors_of_any_text(text in ".{0,80}") {
        let _ = parse_selector(Some(&text));
        let _ = parse_selector(Some(&format!("{text}+min_ctx:{text}")));
    }

    #[test]
    fn chat_requests_of_any_bytes_and_json(raw in prop::collection::vec(any::<u8>(), 0..300), body in json()) {
        let _ = ChatRequest::parse(&raw);
        if let Ok(request) = ChatRequest::parse(body.to_string().as_bytes()) {
            let _ = request.body_for("m");
            let _ = request.continuation_body("m", "partial", ContinueMode::PrefixFlag);
            let _ = request.continuation_body("m", "partial", ContinueMode::VllmContinue);
            let _ = request.messages_preview(10);
        }
        let _ = error_message_from_body(&raw);
        let _ = is_context_overflow(&raw);
    }
}
