//! Translators between the client dialects the router speaks at its edge (Anthropic Messages,
//! OpenAI Responses) and the one internal representation: an OpenAI chat completions body.
//! Everything here is pure: JSON in, JSON or SSE text out, no IO, no clock. The handlers in
//! `http/` own the IO; routing and failover never see anything but OpenAI chat.

pub mod anthropic;
pub mod responses;

use serde_json::Value;

/// One event of an upstream OpenAI chat stream, as the translators need it.
#[derive(Debug, Clone, PartialEq)]
pub enum OpenAiEvent {
    /// A `chat.completion.chunk`.
    Chunk(Value),
    /// An in-band error: the router's own `{"error": …}` event after a cut stream, or the
    /// upstream's.
    Error(String),
    /// `data: [DONE]`.
    Done,
}

/// Splits an OpenAI SSE byte stream into events, keeping only the current partial line.
#[derive(Debug, Default)]
pub struct SseParser {
    partial: Vec<u8>,
}

impl SseParser {
    pub fn feed(&mut self, bytes: &[u8]) -> Vec<OpenAiEvent> {
        let mut events = Vec::new();
        let mut rest = bytes;
        while let Some(newline) = rest.iter().position(|&b| b == b'\n') {
            let (head, tail) = rest.split_at(newline);
            if self.partial.is_empty() {
                events.extend(parse_line(head));
            } else {
                self.partial.extend_from_slice(head);
                let line = std::mem::take(&mut self.partial);
                events.extend(parse_line(&line));
            }
            rest = &tail[1..];
        }
        self.partial.extend_from_slice(rest);
        events
    }

    /// What is left when the stream ends (a last line without its newline).
    pub fn finish(&mut self) -> Vec<OpenAiEvent> {
        let line = std::mem::take(&mut self.partial);
        parse_line(&line).into_iter().collect()
    }
}

fn parse_line(line: &[u8]) -> Option<OpenAiEvent> {
    let line = line.strip_suffix(b"\r").unwrap_or(line);
    let payload = line.strip_prefix(b"data:")?.trim_ascii();
    if payload == b"[DONE]" {
        return Some(OpenAiEvent::Done);
    }
    let value: Value = serde_json::from_slice(payload).ok()?;
    match value.get("error") {
        Some(error) if !error.is_null() => Some(OpenAiEvent::Error(error_message(error))),
        _ => Some(OpenAiEvent::Chunk(value)),
    }
}

/// The message of an OpenAI `error` object (or a plain string).
pub fn error_message(error: &Value) -> String {
    error
        .get("message")
        .and_then(Value::as_str)
        .or_else(|| error.as_str())
        .map_or_else(|| error.to_string(), str::to_string)
}

/// One SSE event with an `event:` name, as Anthropic and Responses streams carry them.
pub fn named_event(name: &str, data: &Value) -> String {
    format!("event: {name}\ndata: {data}\n\n")
}

/// A translation failure: the client's request cannot be expressed (a 400).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Invalid {
    pub message: String,
    pub param: &'static str,
}

pub fn invalid(message: impl Into<String>, param: &'static str) -> Invalid {
    Invalid {
        message: message.into(),
        param,
    }
}

/// A short random id suffix for ids the upstream did not give.
pub fn random_id() -> String {
    uuid::Uuid::new_v4().simple().to_string()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn splits_events_across_chunk_boundaries() {
        let mut parser = SseParser::default();
        assert!(parser.feed(b"data: {\"a\":").is_empty());
        assert_eq!(
            parser.feed(b"1}\r\n\r\ndata: {\"error\":{\"message\":\"cut\"}}\n\ndata: [DONE]\n"),
            vec![
                OpenAiEvent::Chunk(json!({"a": 1})),
                OpenAiEvent::Error("cut".into()),
                OpenAiEvent::Done
            ]
        );
        assert!(parser.feed(b": keep-alive\n").is_empty());
        parser.feed(b"data: {\"b\":2}");
        assert_eq!(parser.finish(), vec![OpenAiEvent::Chunk(json!({"b": 2}))]);
    }
}
