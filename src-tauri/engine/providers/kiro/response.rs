//! Kiro's events → OpenAI `chat.completion.chunk`s (and, buffered, one `chat.completion`).
//! Pure: frames in, JSON out.

use serde_json::{json, Value};

use super::eventstream::Frame;

/// Kiro reports context use as a percentage of this window.
const CONTEXT_WINDOW: f64 = 200_000.0;

/// An exception frame, rendered to the client as an OpenAI-style error.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KiroError {
    pub message: String,
    pub code: String,
}

impl KiroError {
    pub fn body(&self) -> Value {
        json!({"error": {"message": self.message, "type": "kiro_error", "code": self.code}})
    }
}

/// Turns frames of one answer into chunks, remembering what the last chunk needs.
#[derive(Debug)]
pub struct ChunkTranslator {
    id: String,
    model: String,
    created: u64,
    tool_ids: Vec<String>,
    completion_chars: usize,
    prompt_tokens: Option<u64>,
    completion_tokens: Option<u64>,
    finished: bool,
}

impl ChunkTranslator {
    pub fn new(model: &str, created: u64) -> Self {
        Self {
            id: format!("chatcmpl-{}", uuid::Uuid::new_v4().simple()),
            model: model.into(),
            created,
            tool_ids: Vec::new(),
            completion_chars: 0,
            prompt_tokens: None,
            completion_tokens: None,
            finished: false,
        }
    }

    fn chunk(&self, delta: Value, finish: Option<&str>) -> Value {
        json!({
            "id": self.id,
            "object": "chat.completion.chunk",
            "created": self.created,
            "model": self.model,
            "choices": [{"index": 0, "delta": delta, "finish_reason": finish}],
        })
    }

    /// The chunks one frame yields (often none), or the error an exception frame carries.
    pub fn frame(&mut self, frame: &Frame) -> Result<Vec<Value>, KiroError> {
        let message_type = frame.header(":message-type").unwrap_or("event");
        let payload: Value = serde_json::from_slice(&frame.payload).unwrap_or(Value::Null);
        if message_type != "event" {
            let code = frame
                .header(":exception-type")
                .or_else(|| frame.header(":error-code"))
                .unwrap_or("KiroException");
            let message = payload["message"]
                .as_str()
                .or_else(|| payload["Message"].as_str())
                .or_else(|| frame.header(":error-message"))
                .unwrap_or("Kiro returned an error");
            return Err(KiroError {
                message: message.into(),
                code: code.into(),
            });
        }
        let event = frame.header(":event-type").unwrap_or_default();
        Ok(match event {
            "assistantResponseEvent" | "codeEvent" => match payload["content"].as_str() {
                Some(text) if !text.is_empty() => {
                    let role = self.role_once();
                    self.completion_chars += text.chars().count();
                    let mut delta = json!({"content": text});
                    if let Some(role) = role {
                        delta["role"] = json!(role);
                    }
                    vec![self.chunk(delta, None)]
                }
                _ => Vec::new(),
            },
            "toolUseEvent" => self.tool_use(&payload),
            "metricsEvent" => {
                let metrics = payload.get("metricsEvent").unwrap_or(&payload);
                self.prompt_tokens = metrics["inputTokens"].as_u64().or(self.prompt_tokens);
                self.completion_tokens =
                    metrics["outputTokens"].as_u64().or(self.completion_tokens);
                Vec::new()
            }
            "contextUsageEvent" => {
                if let Some(pct) = payload["contextUsagePercentage"].as_f64() {
                    self.prompt_tokens
                        .get_or_insert((pct * CONTEXT_WINDOW / 100.0).round() as u64);
                }
                Vec::new()
            }
            "messageStopEvent" => self.finish().into_iter().collect(),
            _ => Vec::new(),
        })
    }

    fn role_once(&self) -> Option<&'static str> {
        (self.completion_chars == 0 && self.tool_ids.is_empty()).then_some("assistant")
    }

    fn tool_use(&mut self, payload: &Value) -> Vec<Value> {
        let Some(id) = payload["toolUseId"].as_str() else {
            return Vec::new();
        };
        let fragment = match &payload["input"] {
            Value::String(raw) => raw.clone(),
            Value::Object(object) => match object.get("raw") {
                Some(Value::String(raw)) => raw.clone(),
                _ => Value::Object(object.clone()).to_string(),
            },
            _ => String::new(),
        };
        let role = self.role_once();
        self.completion_chars += fragment.chars().count();
        let mut chunks = Vec::new();
        let index = match self.tool_ids.iter().position(|known| known == id) {
            Some(index) => index,
            None => {
                self.tool_ids.push(id.to_string());
                let index = self.tool_ids.len() - 1;
                let mut delta = json!({"tool_calls": [{
                    "index": index, "id": id, "type": "function",
                    "function": {"name": payload["name"].as_str().unwrap_or_default(), "arguments": ""},
                }]});
                if let Some(role) = role {
                    delta["role"] = json!(role);
                }
                chunks.push(self.chunk(delta, None));
                index
            }
        };
        if !fragment.is_empty() {
            chunks.push(self.chunk(
                json!({"tool_calls": [{"index": index, "function": {"arguments": fragment}}]}),
                None,
            ));
        }
        chunks
    }

    /// The finishing chunk with usage; `None` once it has been produced.
    pub fn finish(&mut self) -> Option<Value> {
        if self.finished {
            return None;
        }
        self.finished = true;
        let reason = if self.tool_ids.is_empty() {
            "stop"
        } else {
            "tool_calls"
        };
        let mut chunk = self.chunk(json!({}), Some(reason));
        chunk["usage"] = self.usage();
        Some(chunk)
    }

    fn usage(&self) -> Value {
        let prompt = self.prompt_tokens.unwrap_or(0);
        let completion = self
            .completion_tokens
            .unwrap_or(self.completion_chars.div_ceil(4) as u64);
        json!({"prompt_tokens": prompt, "completion_tokens": completion, "total_tokens": prompt + completion})
    }
}

/// Folds a whole answer's chunks into one `chat.completion`.
pub fn completion_from_chunks(chunks: &[Value]) -> Value {
    let mut content = String::new();
    let mut tool_calls: Vec<Value> = Vec::new();
    let mut finish = Value::Null;
    let mut usage = Value::Null;
    let first = chunks.first().cloned().unwrap_or(Value::Null);
    for chunk in chunks {
        let choice = &chunk["choices"][0];
        if let Some(text) = choice["delta"]["content"].as_str() {
            content.push_str(text);
        }
        for call in choice["delta"]["tool_calls"]
            .as_array()
            .into_iter()
            .flatten()
        {
            let index = call["index"].as_u64().unwrap_or(0) as usize;
            if index >= tool_calls.len() {
                tool_calls.push(json!({"id": call["id"], "type": "function",
                    "function": {"name": call["function"]["name"], "arguments": ""}}));
            }
            if let (Some(slot), Some(fragment)) = (
                tool_calls.get_mut(index),
                call["function"]["arguments"].as_str(),
            ) {
                let joined = format!(
                    "{}{fragment}",
                    slot["function"]["arguments"].as_str().unwrap_or_default()
                );
                slot["function"]["arguments"] = json!(joined);
            }
        }
        if !choice["finish_reason"].is_null() {
            finish = choice["finish_reason"].clone();
        }
        if chunk.get("usage").is_some() {
            usage = chunk["usage"].clone();
        }
    }
    let mut message = json!({"role": "assistant", "content": content});
    if !tool_calls.is_empty() {
        message["tool_calls"] = Value::Array(tool_calls);
        if content.is_empty() {
            message["content"] = Value::Null;
        }
    }
    json!({
        "id": first["id"],
        "object": "chat.completion",
        "created": first["created"],
        "model": first["model"],
        "choices": [{"index": 0, "message": message, "finish_reason": finish}],
        "usage": usage,
    })
}

#[cfg(test)]
mod tests {
    use super::super::eventstream::{encode_event, encode_frame, FrameDecoder};
    use super::*;

    fn frames(bytes: &[u8]) -> Vec<Frame> {
        let mut decoder = FrameDecoder::default();
        decoder.push(bytes);
        std::iter::from_fn(|| decoder.next_frame().unwrap()).collect()
    }

    fn translate(bytes: &[u8]) -> Result<Vec<Value>, KiroError> {
        let mut translator = ChunkTranslator::new("claude-sonnet-4.5", 1);
        let mut chunks = Vec::new();
        for frame in frames(bytes) {
            chunks.extend(translator.frame(&frame)?);
        }
        chunks.extend(translator.finish());
        Ok(chunks)
    }

    #[test]
    fn text_events_become_content_deltas_and_a_stop() {
        let mut bytes = encode_event("assistantResponseEvent", r#"{"content":"Hello"}"#);
        bytes.extend(encode_event("codeEvent", r#"{"content":" world"}"#));
        bytes.extend(encode_event(
            "contextUsageEvent",
            r#"{"contextUsagePercentage":1.5}"#,
        ));
        let chunks = translate(&bytes).unwrap();
        assert_eq!(
            chunks[0]["choices"][0]["delta"],
            json!({"role": "assistant", "content": "Hello"})
        );
        assert_eq!(
            chunks[1]["choices"][0]["delta"],
            json!({"content": " world"})
        );
        let done = completion_from_chunks(&chunks);
        assert_eq!(done["choices"][0]["message"]["content"], "Hello world");
        assert_eq!(done["choices"][0]["finish_reason"], "stop");
        assert_eq!(
            done["usage"],
            json!({"prompt_tokens": 3000, "completion_tokens": 3, "total_tokens": 3003})
        );
    }

    #[test]
    fn tool_use_fragments_become_one_tool_call() {
        let mut bytes = encode_event(
            "toolUseEvent",
            r#"{"name":"weather","toolUseId":"t1","input":"{\"city\":"}"#,
        );
        bytes.extend(encode_event(
            "toolUseEvent",
            r#"{"name":"weather","toolUseId":"t1","input":{"raw":"\"Paris\"}"}}"#,
        ));
        bytes.extend(encode_event(
            "toolUseEvent",
            r#"{"name":"weather","toolUseId":"t1","stop":true}"#,
        ));
        bytes.extend(encode_event(
            "metricsEvent",
            r#"{"inputTokens":12,"outputTokens":5}"#,
        ));
        bytes.extend(encode_event("messageStopEvent", "{}"));
        let chunks = translate(&bytes).unwrap();
        let done = completion_from_chunks(&chunks);
        assert_eq!(done["choices"][0]["finish_reason"], "tool_calls");
        assert_eq!(
            done["choices"][0]["message"]["tool_calls"],
            json!([{"id": "t1", "type": "function", "function": {"name": "weather", "arguments": "{\"city\":\"Paris\"}"}}])
        );
        assert_eq!(done["usage"]["total_tokens"], 17);
        assert_eq!(
            chunks
                .iter()
                .filter(|c| !c["choices"][0]["finish_reason"].is_null())
                .count(),
            1
        );
    }

    #[test]
    fn an_exception_frame_becomes_a_kiro_error() {
        let bytes = encode_frame(
            &[
                (":message-type", "exception"),
                (":exception-type", "ThrottlingException"),
            ],
            br#"{"message":"slow down"}"#,
        );
        let error = translate(&bytes).unwrap_err();
        assert_eq!(error.code, "ThrottlingException");
        assert_eq!(error.body()["error"]["type"], "kiro_error");
        assert_eq!(error.body()["error"]["message"], "slow down");
    }
}
