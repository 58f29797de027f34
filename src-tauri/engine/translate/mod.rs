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

impl OpenAiEvent {
    /// The event one `data:` payload carries (not `[DONE]`); `None` when it is not JSON.
    pub fn from_data(payload: &[u8]) -> Option<Self> {
        let value: Value = serde_json::from_slice(payload).ok()?;
        match value.get("error") {
            Some(error) if !error.is_null() => Some(Self::Error(error_message(error))),
            _ => Some(Self::Chunk(value)),
        }
    }
}

/// Reads OpenAI stream events from bytes fed in any pieces, through the one SSE parser
/// (`engine::sse`). For tests of the translators.
#[cfg(test)]
#[derive(Default)]
pub struct EventReader {
    lines: crate::engine::sse::LineSplitter,
}

#[cfg(test)]
impl EventReader {
    pub fn feed(&mut self, bytes: &[u8]) -> Vec<OpenAiEvent> {
        let whole = self
            .lines
            .feed(bytes::Bytes::copy_from_slice(bytes))
            .unwrap_or_default();
        events_in(&whole)
    }

    pub fn finish(&mut self) -> Vec<OpenAiEvent> {
        events_in(&self.lines.finish())
    }
}

#[cfg(test)]
fn events_in(bytes: &[u8]) -> Vec<OpenAiEvent> {
    crate::engine::sse::data_lines(bytes)
        .filter_map(|data| match data {
            None => Some(OpenAiEvent::Done),
            Some(payload) => OpenAiEvent::from_data(payload),
        })
        .collect()
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
        let mut parser = EventReader::default();
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
