//! The client's chat request, parsed once. Each top-level field is kept as its raw JSON text,
//! so what goes upstream is exactly what the client sent except for `model`.

use bytes::Bytes;
use indexmap::IndexMap;
use serde_json::value::RawValue;

use crate::engine::error::ApiError;
use crate::engine::providers::ContinueMode;
use crate::engine::routing::Needs;

pub struct ChatRequest {
    fields: IndexMap<String, Box<RawValue>>,
    pub model: Option<String>,
    pub stream: bool,
    pub wants_tools: bool,
    pub has_images: bool,
    /// A rough prompt size (4 bytes a token), for skipping rows whose window is too small.
    pub estimated_prompt_tokens: u32,
    /// Structured output (`response_format`) or more than one choice (`n`): an answer that
    /// cannot be finished by another row if it is cut.
    pub continuable: bool,
}

fn invalid(message: impl Into<String>, param: &'static str) -> ApiError {
    ApiError::InvalidRequest {
        message: message.into(),
        param: Some(param),
    }
}

impl ChatRequest {
    pub fn parse(body: &[u8]) -> Result<Self, ApiError> {
        let fields: IndexMap<String, Box<RawValue>> =
            serde_json::from_slice(body).map_err(|error| match error.classify() {
                serde_json::error::Category::Data => ApiError::InvalidRequest {
                    message: "the request body must be a JSON object".into(),
                    param: None,
                },
                _ => ApiError::MalformedJson(error.to_string()),
            })?;
        Self::from_fields(fields)
    }

    /// A request a translating edge built as JSON (Anthropic Messages, Responses): each field
    /// is serialised once, here, and never parsed again.
    pub fn from_object(
        object: serde_json::Map<String, serde_json::Value>,
    ) -> Result<Self, ApiError> {
        let mut fields = IndexMap::with_capacity(object.len());
        for (key, value) in object {
            let raw = serde_json::value::to_raw_value(&value).map_err(|error| {
                ApiError::InvalidRequest {
                    message: format!("`{key}` cannot be forwarded: {error}"),
                    param: None,
                }
            })?;
            fields.insert(key, raw);
        }
        Self::from_fields(fields)
    }

    fn from_fields(fields: IndexMap<String, Box<RawValue>>) -> Result<Self, ApiError> {
        let model = match fields.get("model").map(|raw| raw.get()) {
            None | Some("null") => None,
            Some(raw) => Some(serde_json::from_str::<String>(raw).map_err(|_| {
                invalid("`model` must be a string such as `auto-fastest`", "model")
            })?),
        };
        let stream = match fields.get("stream").map(|raw| raw.get()) {
            None | Some("null") => false,
            Some(raw) => serde_json::from_str::<bool>(raw)
                .map_err(|_| invalid("`stream` must be true or false", "stream"))?,
        };
        let messages = fields.get("messages").ok_or_else(|| {
            invalid(
                "`messages` is required: send the conversation as an array of messages",
                "messages",
            )
        })?;
        let list: Vec<&RawValue> = serde_json::from_str(messages.get())
            .map_err(|_| invalid("`messages` must be an array of message objects", "messages"))?;
        if list.is_empty() {
            return Err(invalid(
                "`messages` must contain at least one message",
                "messages",
            ));
        }
        if let Some(index) = list
            .iter()
            .position(|m| !m.get().trim_start().starts_with('{'))
        {
            return Err(invalid(
                format!("`messages[{index}]` must be a message object such as {{\"role\": \"user\", \"content\": \"…\"}}"),
                "messages",
            ));
        }
        let messages_text = messages.get();
        let wants_tools = fields
            .get("tools")
            .is_some_and(|tools| !matches!(tools.get().trim(), "null" | "[]"));
        let has_images =
            messages_text.contains("\"image_url\"") || messages_text.contains("\"input_image\"");
        let tools_len = fields.get("tools").map_or(0, |t| t.get().len());
        let structured = fields
            .get("response_format")
            .is_some_and(|f| !matches!(f.get().trim(), "null" | "{\"type\":\"text\"}"));
        let single_choice = fields
            .get("n")
            .is_none_or(|n| matches!(n.get().trim(), "null" | "1"));
        let estimated = (messages_text.len() + tools_len) / 4;
        Ok(Self {
            model,
            stream,
            wants_tools,
            has_images,
            estimated_prompt_tokens: u32::try_from(estimated).unwrap_or(u32::MAX),
            continuable: !structured && single_choice,
            fields,
        })
    }

    /// The body that asks `upstream_model` to finish `partial`, the answer text the client
    /// already has, shaped as `mode` says (the original request again for a restart).
    pub fn continuation_body(
        &self,
        upstream_model: &str,
        partial: &str,
        mode: ContinueMode,
    ) -> Bytes {
        let Some(prefill) = (mode.is_prefill() && !partial.is_empty())
            .then(|| {
                self.messages_with_prefill(partial.trim_end(), mode == ContinueMode::PrefixFlag)
            })
            .flatten()
        else {
            return self.body_for(upstream_model);
        };
        let mut fields = self.fields.clone();
        fields.insert("messages".into(), prefill);
        if mode == ContinueMode::VllmContinue {
            for (name, value) in [
                ("continue_final_message", "true"),
                ("add_generation_prompt", "false"),
            ] {
                if let Ok(raw) = RawValue::from_string(value.to_string()) {
                    fields.insert(name.into(), raw);
                }
            }
        }
        write_body(&fields, upstream_model)
    }

    /// The messages with the partial answer appended as the last, `assistant` message.
    fn messages_with_prefill(&self, partial: &str, prefix_flag: bool) -> Option<Box<RawValue>> {
        let messages: Vec<&RawValue> =
            serde_json::from_str(self.fields.get("messages")?.get()).ok()?;
        let mut prefill = serde_json::json!({"role": "assistant", "content": partial});
        if prefix_flag {
            prefill["prefix"] = serde_json::Value::Bool(true);
        }
        let prefill = serde_json::value::to_raw_value(&prefill).ok()?;
        let mut list: Vec<&RawValue> = messages;
        list.push(&prefill);
        serde_json::value::to_raw_value(&list).ok()
    }

    /// The body to send upstream: every field as the client sent it, `model` replaced.
    pub fn body_for(&self, upstream_model: &str) -> Bytes {
        write_body(&self.fields, upstream_model)
    }
}

/// `fields` as a JSON object, with `model` set to `upstream_model` (added when absent).
fn write_body(fields: &IndexMap<String, Box<RawValue>>, upstream_model: &str) -> Bytes {
    let mut out =
        Vec::with_capacity(fields.values().map(|v| v.get().len() + 16).sum::<usize>() + 64);
    out.push(b'{');
    let mut wrote_model = false;
    for (index, (key, value)) in fields.iter().enumerate() {
        if index > 0 {
            out.push(b',');
        }
        write_json_string(&mut out, key);
        out.push(b':');
        if key == "model" {
            write_json_string(&mut out, upstream_model);
            wrote_model = true;
        } else {
            out.extend_from_slice(value.get().as_bytes());
        }
    }
    if !wrote_model {
        if !fields.is_empty() {
            out.push(b',');
        }
        out.extend_from_slice(b"\"model\":");
        write_json_string(&mut out, upstream_model);
    }
    out.push(b'}');
    Bytes::from(out)
}

impl ChatRequest {
    /// What this request needs from a row.
    pub fn needs(&self) -> Needs {
        Needs {
            wants_tools: self.wants_tools,
            has_images: self.has_images,
            estimated_prompt_tokens: self.estimated_prompt_tokens,
        }
    }

    /// The messages, each cut to `max_chars`, for `--log`.
    pub fn messages_preview(&self, max_chars: usize) -> Vec<String> {
        let Some(raw) = self.fields.get("messages") else {
            return Vec::new();
        };
        let messages: Vec<serde_json::Value> = serde_json::from_str(raw.get()).unwrap_or_default();
        messages
            .iter()
            .map(|message| {
                let role = message.get("role").and_then(|r| r.as_str()).unwrap_or("?");
                let content = match message.get("content") {
                    Some(serde_json::Value::String(text)) => text.clone(),
                    None | Some(serde_json::Value::Null) => String::new(),
                    Some(other) => other.to_string(),
                };
                let cut: String = content.chars().take(max_chars).collect();
                let ellipsis = if cut.len() < content.len() { "…" } else { "" };
                format!("{role}: {cut}{ellipsis}")
            })
            .collect()
    }
}

fn write_json_string(out: &mut Vec<u8>, text: &str) {
    // serde_json escapes exactly as JSON requires; writing to a Vec cannot fail.
    let _ = serde_json::to_writer(&mut *out, text);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_the_model_changes_on_the_way_upstream() {
        let body = br#"{"model":"auto-fastest","messages":[{"role":"user","content":"hi"}],"temperature":0.70,"n":12345678901234567890123,"x-vendor":{"a":[1,2]}}"#;
        let request = ChatRequest::parse(body).unwrap();
        let forwarded = request.body_for("org/real-model");
        assert_eq!(
            std::str::from_utf8(&forwarded).unwrap(),
            r#"{"model":"org/real-model","messages":[{"role":"user","content":"hi"}],"temperature":0.70,"n":12345678901234567890123,"x-vendor":{"a":[1,2]}}"#
        );
    }

    #[test]
    fn continuation_bodies_are_shaped_per_mode() {
        let request = ChatRequest::parse(
            br#"{"model":"x","stream":true,"messages":[{"role":"user","content":"hi"}]}"#,
        )
        .unwrap();
        assert!(request.continuable);
        let body = |mode| -> serde_json::Value {
            serde_json::from_slice(&request.continuation_body("m", "Hello wor ", mode)).unwrap()
        };
        let plain = body(ContinueMode::Prefill);
        assert_eq!(plain["model"], "m");
        assert_eq!(
            plain["messages"][1],
            serde_json::json!({"role": "assistant", "content": "Hello wor"})
        );
        assert!(plain.get("continue_final_message").is_none());
        let flagged = body(ContinueMode::PrefixFlag);
        assert_eq!(flagged["messages"][1]["prefix"], true);
        let vllm = body(ContinueMode::VllmContinue);
        assert_eq!(vllm["continue_final_message"], true);
        assert_eq!(vllm["add_generation_prompt"], false);
        assert!(vllm["messages"][1].get("prefix").is_none());
        let restart = body(ContinueMode::Restart);
        assert_eq!(restart["messages"].as_array().unwrap().len(), 1);
        assert_eq!(restart["stream"], true);
    }

    #[test]
    fn structured_output_and_several_choices_are_not_continuable() {
        for body in [
            &br#"{"messages":[{"role":"user","content":"x"}],"response_format":{"type":"json_object"}}"#[..],
            br#"{"messages":[{"role":"user","content":"x"}],"n":2}"#,
        ] {
            assert!(!ChatRequest::parse(body).unwrap().continuable);
        }
        assert!(
            ChatRequest::parse(
                br#"{"messages":[{"role":"user","content":"x"}],"n":1,"response_format":null}"#
            )
            .unwrap()
            .continuable
        );
    }

    #[test]
    fn a_missing_model_is_added() {
        let request =
            ChatRequest::parse(br#"{"messages":[{"role":"user","content":"hi"}]}"#).unwrap();
        assert_eq!(request.model, None);
        let forwarded: serde_json::Value = serde_json::from_slice(&request.body_for("m")).unwrap();
        assert_eq!(forwarded["model"], "m");
    }

    #[test]
    fn reads_stream_tools_and_images() {
        let request = ChatRequest::parse(
            br#"{"model":"x","stream":true,"tools":[{"type":"function"}],"messages":[{"role":"user","content":[{"type":"image_url","image_url":{"url":"data:"}}]}]}"#,
        )
        .unwrap();
        assert!(request.stream && request.wants_tools && request.has_images);
        let plain =
            ChatRequest::parse(br#"{"messages":[{"role":"user","content":"x"}],"tools":null}"#)
                .unwrap();
        assert!(!plain.stream && !plain.wants_tools && !plain.has_images);
    }

    #[test]
    fn bad_bodies_get_clear_errors() {
        let cases: [(&[u8], &str); 9] = [
            (b"{not json", "invalid_json"),
            (b"", "invalid_json"),
            (b"[1,2]", "invalid_request"),
            (br#"{"model":"x"}"#, "invalid_request"),
            (br#"{"messages":"hi"}"#, "invalid_request"),
            (br#"{"messages":[]}"#, "invalid_request"),
            (br#"{"messages":[{}],"model":5}"#, "invalid_request"),
            (br#"{"messages":[{}],"stream":"yes"}"#, "invalid_request"),
            (br#"{"messages":[1,"x",null]}"#, "invalid_request"),
        ];
        for (body, code) in cases {
            let error = ChatRequest::parse(body).err().unwrap();
            assert_eq!(error.code(), code, "{}", String::from_utf8_lossy(body));
            assert_eq!(error.status_code(), 400);
        }
    }

    #[test]
    fn previews_cut_long_messages() {
        let request = ChatRequest::parse(br#"{"messages":[{"role":"user","content":"abcdef"},{"role":"assistant","content":null}]}"#).unwrap();
        assert_eq!(request.messages_preview(3), ["user: abc…", "assistant: "]);
    }
}
