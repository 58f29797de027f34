//! Anthropic Messages ⇄ OpenAI chat: the request body on the way in, the answer (whole or as
//! a stream of chunks) on the way out, and Anthropic's error shape. Pure functions and one small
//! streaming state machine; it must not do IO or know about routing.

use serde_json::{json, Map, Value};

use super::{invalid, named_event, random_id, Invalid, OpenAiEvent};

/// The OpenAI chat body for an Anthropic Messages request, without `model` (the handler
/// decides where it routes).
pub fn request_to_openai(body: &Value) -> Result<Value, Invalid> {
    let object = body
        .as_object()
        .ok_or_else(|| invalid("the request body must be a JSON object", "body"))?;
    let mut messages = Vec::new();
    if let Some(system) = object.get("system").filter(|s| !s.is_null()) {
        let text = system_text(system)?;
        if !text.is_empty() {
            messages.push(json!({"role": "system", "content": text}));
        }
    }
    let list = object
        .get("messages")
        .and_then(Value::as_array)
        .ok_or_else(|| invalid("`messages` is required and must be an array", "messages"))?;
    if list.is_empty() {
        return Err(invalid(
            "`messages` must contain at least one message",
            "messages",
        ));
    }
    for message in list {
        translate_message(message, &mut messages)?;
    }
    let mut out = Map::new();
    out.insert("messages".into(), Value::Array(messages));
    for key in ["max_tokens", "temperature", "top_p", "stream"] {
        if let Some(value) = object.get(key).filter(|v| !v.is_null()) {
            out.insert(key.into(), value.clone());
        }
    }
    if let Some(stop) = object.get("stop_sequences").and_then(Value::as_array) {
        if !stop.is_empty() {
            out.insert("stop".into(), Value::Array(stop.clone()));
        }
    }
    if let Some(tools) = object.get("tools").and_then(Value::as_array) {
        let tools: Vec<Value> = tools.iter().filter_map(tool_to_openai).collect();
        if !tools.is_empty() {
            out.insert("tools".into(), Value::Array(tools));
        }
    }
    if let Some(choice) = object.get("tool_choice").filter(|c| !c.is_null()) {
        let (choice, parallel) = tool_choice_to_openai(choice)?;
        if out.contains_key("tools") || choice == "none" {
            out.insert("tool_choice".into(), choice);
        }
        if parallel == Some(false) && out.contains_key("tools") {
            out.insert("parallel_tool_calls".into(), Value::Bool(false));
        }
    }
    Ok(Value::Object(out))
}

fn system_text(system: &Value) -> Result<String, Invalid> {
    match system {
        Value::String(text) => Ok(text.clone()),
        Value::Array(blocks) => Ok(blocks
            .iter()
            .filter_map(|b| b.get("text").and_then(Value::as_str))
            .collect::<Vec<_>>()
            .join("\n\n")),
        _ => Err(invalid(
            "`system` must be a string or an array of text blocks",
            "system",
        )),
    }
}

fn translate_message(message: &Value, out: &mut Vec<Value>) -> Result<(), Invalid> {
    let role = message.get("role").and_then(Value::as_str).unwrap_or("");
    let content = message.get("content").unwrap_or(&Value::Null);
    match (role, content) {
        // Claude Code puts `role: "system"` entries inside `messages`.
        ("system", _) => {
            out.push(json!({"role": "system", "content": system_text(content)?}));
            Ok(())
        }
        ("user" | "assistant", Value::String(text)) => {
            out.push(json!({"role": role, "content": text}));
            Ok(())
        }
        ("user", Value::Array(blocks)) => {
            user_blocks(blocks, out);
            Ok(())
        }
        ("assistant", Value::Array(blocks)) => {
            out.push(assistant_blocks(blocks));
            Ok(())
        }
        ("user" | "assistant", _) => Err(invalid(
            "a message's `content` must be a string or an array of content blocks",
            "messages",
        )),
        _ => Err(invalid(
            format!("message role `{role}` is not supported; use `user` or `assistant`"),
            "messages",
        )),
    }
}

/// User blocks in order: runs of text and images become one user message, each `tool_result`
/// becomes a `tool` message.
fn user_blocks(blocks: &[Value], out: &mut Vec<Value>) {
    let mut parts: Vec<Value> = Vec::new();
    for block in blocks {
        match block.get("type").and_then(Value::as_str) {
            Some("text") => {
                let text = block.get("text").and_then(Value::as_str).unwrap_or("");
                parts.push(json!({"type": "text", "text": text}));
            }
            Some("image") => {
                if let Some(url) = image_url(block) {
                    parts.push(json!({"type": "image_url", "image_url": {"url": url}}));
                }
            }
            Some("tool_result") => {
                flush_user(&mut parts, out);
                let id = block
                    .get("tool_use_id")
                    .and_then(Value::as_str)
                    .unwrap_or("");
                let mut text = tool_result_text(block.get("content").unwrap_or(&Value::Null));
                if block.get("is_error").and_then(Value::as_bool) == Some(true) {
                    text = format!("Error: {text}");
                }
                out.push(json!({"role": "tool", "tool_call_id": id, "content": text}));
            }
            _ => {}
        }
    }
    flush_user(&mut parts, out);
}

fn flush_user(parts: &mut Vec<Value>, out: &mut Vec<Value>) {
    if parts.is_empty() {
        return;
    }
    let parts = std::mem::take(parts);
    let text_only = parts.iter().all(|p| p["type"] == "text");
    let content = if text_only {
        Value::String(
            parts
                .iter()
                .filter_map(|p| p["text"].as_str())
                .collect::<Vec<_>>()
                .join("\n"),
        )
    } else {
        Value::Array(parts)
    };
    out.push(json!({"role": "user", "content": content}));
}

fn image_url(block: &Value) -> Option<String> {
    let source = block.get("source")?;
    match source.get("type").and_then(Value::as_str)? {
        "base64" => Some(format!(
            "data:{};base64,{}",
            source.get("media_type").and_then(Value::as_str)?,
            source.get("data").and_then(Value::as_str)?
        )),
        "url" => source
            .get("url")
            .and_then(Value::as_str)
            .map(str::to_string),
        _ => None,
    }
}

fn tool_result_text(content: &Value) -> String {
    match content {
        Value::String(text) => text.clone(),
        Value::Array(blocks) => blocks
            .iter()
            .filter_map(|b| match b.get("type").and_then(Value::as_str) {
                Some("text") => b.get("text").and_then(Value::as_str).map(str::to_string),
                Some("image") => Some("[image]".to_string()),
                _ => None,
            })
            .collect::<Vec<_>>()
            .join("\n"),
        Value::Null => String::new(),
        other => other.to_string(),
    }
}

fn assistant_blocks(blocks: &[Value]) -> Value {
    let mut text = Vec::new();
    let mut calls = Vec::new();
    for block in blocks {
        match block.get("type").and_then(Value::as_str) {
            Some("text") => text.push(block.get("text").and_then(Value::as_str).unwrap_or("")),
            Some("tool_use") => calls.push(json!({
                "id": block.get("id").and_then(Value::as_str).unwrap_or(""),
                "type": "function",
                "function": {
                    "name": block.get("name").and_then(Value::as_str).unwrap_or(""),
                    "arguments": block.get("input").unwrap_or(&json!({})).to_string(),
                }
            })),
            // Thinking blocks are the upstream's private scratchpad; OpenAI has no slot for them.
            _ => {}
        }
    }
    let mut message = json!({"role": "assistant", "content": text.join("")});
    if !calls.is_empty() {
        if text.is_empty() {
            message["content"] = Value::Null;
        }
        message["tool_calls"] = Value::Array(calls);
    }
    message
}

/// Client tools become function tools; Anthropic's server tools (web search and the like)
/// cannot run on an OpenAI upstream and are left out.
fn tool_to_openai(tool: &Value) -> Option<Value> {
    match tool.get("type").and_then(Value::as_str) {
        None | Some("custom") => {}
        Some(_) => return None,
    }
    let name = tool.get("name").and_then(Value::as_str)?;
    let mut function = json!({
        "name": name,
        "parameters": tool.get("input_schema").cloned().unwrap_or_else(|| json!({"type": "object"})),
    });
    if let Some(description) = tool.get("description").and_then(Value::as_str) {
        function["description"] = Value::String(description.to_string());
    }
    Some(json!({"type": "function", "function": function}))
}

fn tool_choice_to_openai(choice: &Value) -> Result<(Value, Option<bool>), Invalid> {
    let parallel = choice
        .get("disable_parallel_tool_use")
        .and_then(Value::as_bool)
        .map(|disable| !disable);
    let openai = match choice.get("type").and_then(Value::as_str) {
        Some("auto") => json!("auto"),
        Some("any") => json!("required"),
        Some("none") => json!("none"),
        Some("tool") => {
            let name = choice.get("name").and_then(Value::as_str).ok_or_else(|| {
                invalid("`tool_choice` of type `tool` needs a `name`", "tool_choice")
            })?;
            json!({"type": "function", "function": {"name": name}})
        }
        _ => {
            return Err(invalid(
                "`tool_choice.type` must be `auto`, `any`, `tool` or `none`",
                "tool_choice",
            ))
        }
    };
    Ok((openai, parallel))
}

/// A rough token count for `/v1/messages/count_tokens`: about four characters a token over the
/// system prompt, the messages and the tools.
pub fn estimate_input_tokens(body: &Value) -> u64 {
    let chars: usize = ["system", "messages", "tools"]
        .iter()
        .filter_map(|key| body.get(*key))
        .map(|value| match value {
            Value::String(text) => text.chars().count(),
            other => other.to_string().chars().count(),
        })
        .sum();
    (chars as u64).div_ceil(4)
}

fn stop_reason(finish: &str) -> &'static str {
    match finish {
        "length" => "max_tokens",
        "tool_calls" | "function_call" => "tool_use",
        _ => "end_turn",
    }
}

fn message_id(openai: &Value) -> String {
    match openai.get("id").and_then(Value::as_str) {
        Some(id) if !id.is_empty() => format!("msg_{id}"),
        _ => format!("msg_{}", random_id()),
    }
}

fn parse_arguments(arguments: &str) -> Value {
    match serde_json::from_str::<Value>(arguments) {
        Ok(value @ Value::Object(_)) => value,
        _ if arguments.trim().is_empty() => json!({}),
        _ => json!({"arguments": arguments}),
    }
}

/// The Anthropic `message` for a whole OpenAI chat completion.
pub fn response_from_openai(openai: &Value, model: &str) -> Value {
    let choice = openai.pointer("/choices/0").unwrap_or(&Value::Null);
    let message = choice.get("message").unwrap_or(&Value::Null);
    let mut content = Vec::new();
    if let Some(text) = message.get("content").and_then(Value::as_str) {
        if !text.is_empty() {
            content.push(json!({"type": "text", "text": text}));
        }
    }
    for call in message
        .get("tool_calls")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        let arguments = call
            .pointer("/function/arguments")
            .and_then(Value::as_str)
            .unwrap_or("");
        content.push(json!({
            "type": "tool_use",
            "id": call.get("id").and_then(Value::as_str).map_or_else(|| format!("toolu_{}", random_id()), str::to_string),
            "name": call.pointer("/function/name").and_then(Value::as_str).unwrap_or(""),
            "input": parse_arguments(arguments),
        }));
    }
    let finish = choice
        .get("finish_reason")
        .and_then(Value::as_str)
        .unwrap_or("stop");
    json!({
        "id": message_id(openai),
        "type": "message",
        "role": "assistant",
        "model": model,
        "content": content,
        "stop_reason": stop_reason(finish),
        "stop_sequence": null,
        "usage": usage(openai),
    })
}

fn usage(openai: &Value) -> Value {
    let number = |pointer: &str| openai.pointer(pointer).and_then(Value::as_u64).unwrap_or(0);
    json!({
        "input_tokens": number("/usage/prompt_tokens"),
        "output_tokens": number("/usage/completion_tokens"),
    })
}

/// Anthropic's `error.type` for an HTTP status.
pub fn error_type(status: u16) -> &'static str {
    match status {
        400 | 405 | 422 => "invalid_request_error",
        401 => "authentication_error",
        403 => "permission_error",
        404 => "not_found_error",
        413 => "request_too_large",
        429 => "rate_limit_error",
        503 | 529 => "overloaded_error",
        _ => "api_error",
    }
}

/// `{"type":"error","error":{"type","message"}}`.
pub fn error_body(status: u16, message: &str) -> Value {
    json!({"type": "error", "error": {"type": error_type(status), "message": message}})
}

/// The block the stream is currently inside.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Open {
    None,
    Text,
    /// A tool call, by its index in the upstream's `tool_calls`.
    Tool(u64),
}

/// Turns OpenAI chat chunks into Anthropic stream events, one chunk at a time.
#[derive(Debug)]
pub struct StreamTranslator {
    model: String,
    started: bool,
    open: Open,
    blocks: u64,
    stop_reason: Option<&'static str>,
    input_tokens: u64,
    output_tokens: Option<u64>,
    chunks: u64,
    ended: bool,
}

impl StreamTranslator {
    pub fn new(model: &str) -> Self {
        Self {
            model: model.to_string(),
            started: false,
            open: Open::None,
            blocks: 0,
            stop_reason: None,
            input_tokens: 0,
            output_tokens: None,
            chunks: 0,
            ended: false,
        }
    }

    /// True once `message_stop` or `error` has been emitted.
    pub fn ended(&self) -> bool {
        self.ended
    }

    pub fn ping() -> String {
        named_event("ping", &json!({"type": "ping"}))
    }

    /// The events for one upstream event.
    pub fn on_event(&mut self, event: &OpenAiEvent) -> String {
        if self.ended {
            return String::new();
        }
        match event {
            OpenAiEvent::Chunk(chunk) => self.on_chunk(chunk),
            OpenAiEvent::Done => self.finish(),
            OpenAiEvent::Error(message) => self.error(message),
        }
    }

    /// An `error` event; the stream ends after it.
    pub fn error(&mut self, message: &str) -> String {
        if self.ended {
            return String::new();
        }
        self.ended = true;
        named_event("error", &error_body(500, message))
    }

    /// Closes the message: the open block, `message_delta` and `message_stop`.
    pub fn finish(&mut self) -> String {
        if self.ended {
            return String::new();
        }
        let mut out = self.start(None);
        out.push_str(&self.close_block());
        self.ended = true;
        out.push_str(&named_event(
            "message_delta",
            &json!({
                "type": "message_delta",
                "delta": {"stop_reason": self.stop_reason.unwrap_or("end_turn"), "stop_sequence": null},
                "usage": {"output_tokens": self.output_tokens.unwrap_or(self.chunks)},
            }),
        ));
        out.push_str(&named_event(
            "message_stop",
            &json!({"type": "message_stop"}),
        ));
        out
    }

    fn start(&mut self, chunk: Option<&Value>) -> String {
        if self.started {
            return String::new();
        }
        self.started = true;
        let id = chunk.map_or_else(|| format!("msg_{}", random_id()), message_id);
        let message = json!({
            "id": id, "type": "message", "role": "assistant", "model": self.model,
            "content": [], "stop_reason": null, "stop_sequence": null,
            "usage": {"input_tokens": self.input_tokens, "output_tokens": 0},
        });
        let mut out = named_event(
            "message_start",
            &json!({"type": "message_start", "message": message}),
        );
        out.push_str(&Self::ping());
        out
    }

    fn close_block(&mut self) -> String {
        if self.open == Open::None {
            return String::new();
        }
        self.open = Open::None;
        let index = self.blocks - 1;
        named_event(
            "content_block_stop",
            &json!({"type": "content_block_stop", "index": index}),
        )
    }

    fn open_block(&mut self, open: Open, block: Value) -> String {
        let mut out = self.close_block();
        out.push_str(&named_event(
            "content_block_start",
            &json!({"type": "content_block_start", "index": self.blocks, "content_block": block}),
        ));
        self.blocks += 1;
        self.open = open;
        out
    }

    fn delta(&self, delta: Value) -> String {
        named_event(
            "content_block_delta",
            &json!({"type": "content_block_delta", "index": self.blocks - 1, "delta": delta}),
        )
    }

    fn on_chunk(&mut self, chunk: &Value) -> String {
        if let Some(prompt) = chunk
            .pointer("/usage/prompt_tokens")
            .and_then(Value::as_u64)
        {
            self.input_tokens = prompt;
        }
        let mut out = self.start(Some(chunk));
        self.chunks += 1;
        if let Some(tokens) = chunk
            .pointer("/usage/completion_tokens")
            .and_then(Value::as_u64)
        {
            self.output_tokens = Some(tokens);
        }
        let Some(choice) = chunk.pointer("/choices/0") else {
            return out;
        };
        let delta = choice.get("delta").unwrap_or(&Value::Null);
        if let Some(text) = delta.get("content").and_then(Value::as_str) {
            if !text.is_empty() {
                if self.open != Open::Text {
                    out.push_str(&self.open_block(Open::Text, json!({"type": "text", "text": ""})));
                }
                out.push_str(&self.delta(json!({"type": "text_delta", "text": text})));
            }
        }
        for call in delta
            .get("tool_calls")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
        {
            let index = call.get("index").and_then(Value::as_u64).unwrap_or(0);
            if self.open != Open::Tool(index) {
                let id = call
                    .get("id")
                    .and_then(Value::as_str)
                    .map_or_else(|| format!("toolu_{}", random_id()), str::to_string);
                let name = call
                    .pointer("/function/name")
                    .and_then(Value::as_str)
                    .unwrap_or("");
                out.push_str(&self.open_block(
                    Open::Tool(index),
                    json!({"type": "tool_use", "id": id, "name": name, "input": {}}),
                ));
            }
            if let Some(arguments) = call.pointer("/function/arguments").and_then(Value::as_str) {
                if !arguments.is_empty() {
                    out.push_str(
                        &self.delta(json!({"type": "input_json_delta", "partial_json": arguments})),
                    );
                }
            }
        }
        if let Some(finish) = choice.get("finish_reason").and_then(Value::as_str) {
            self.stop_reason = Some(stop_reason(finish));
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::translate::EventReader;

    #[test]
    fn translates_a_request_with_system_images_and_tools() {
        let body = json!({
            "model": "claude-sonnet-4-5",
            "max_tokens": 1024,
            "temperature": 0.2,
            "top_p": 0.9,
            "stream": true,
            "stop_sequences": ["END"],
            "system": [{"type": "text", "text": "Be brief.", "cache_control": {"type": "ephemeral"}}, {"type": "text", "text": "Use tools."}],
            "metadata": {"user_id": "u"},
            "thinking": {"type": "adaptive"},
            "tools": [
                {"name": "get_weather", "description": "Weather", "input_schema": {"type": "object", "properties": {"city": {"type": "string"}}}},
                {"type": "web_search_20250305", "name": "web_search"}
            ],
            "tool_choice": {"type": "any", "disable_parallel_tool_use": true},
            "messages": [
                {"role": "user", "content": [
                    {"type": "text", "text": "Look:"},
                    {"type": "image", "source": {"type": "base64", "media_type": "image/png", "data": "AAAA"}},
                    {"type": "image", "source": {"type": "url", "url": "https://x/y.png"}}
                ]},
                {"role": "system", "content": [{"type": "text", "text": "reminder"}]},
                {"role": "assistant", "content": [
                    {"type": "thinking", "thinking": "hmm", "signature": "s"},
                    {"type": "text", "text": "Checking."},
                    {"type": "tool_use", "id": "toolu_1", "name": "get_weather", "input": {"city": "Paris"}}
                ]},
                {"role": "user", "content": [
                    {"type": "tool_result", "tool_use_id": "toolu_1", "content": [{"type": "text", "text": "sunny"}]},
                    {"type": "text", "text": "And tomorrow?"}
                ]},
                {"role": "assistant", "content": "Rain."}
            ]
        });
        let openai = request_to_openai(&body).unwrap();
        assert_eq!(
            openai,
            json!({
                "messages": [
                    {"role": "system", "content": "Be brief.\n\nUse tools."},
                    {"role": "user", "content": [
                        {"type": "text", "text": "Look:"},
                        {"type": "image_url", "image_url": {"url": "data:image/png;base64,AAAA"}},
                        {"type": "image_url", "image_url": {"url": "https://x/y.png"}}
                    ]},
                    {"role": "system", "content": "reminder"},
                    {"role": "assistant", "content": "Checking.", "tool_calls": [
                        {"id": "toolu_1", "type": "function", "function": {"name": "get_weather", "arguments": "{\"city\":\"Paris\"}"}}
                    ]},
                    {"role": "tool", "tool_call_id": "toolu_1", "content": "sunny"},
                    {"role": "user", "content": "And tomorrow?"},
                    {"role": "assistant", "content": "Rain."}
                ],
                "max_tokens": 1024,
                "temperature": 0.2,
                "top_p": 0.9,
                "stream": true,
                "stop": ["END"],
                "tools": [{"type": "function", "function": {"name": "get_weather", "parameters": {"type": "object", "properties": {"city": {"type": "string"}}}, "description": "Weather"}}],
                "tool_choice": "required",
                "parallel_tool_calls": false
            })
        );
    }

    #[test]
    fn the_claude_code_capture_translates() {
        let captures: Value = serde_json::from_str(include_str!(
            "../../../tests/fixtures/captures/claude_code.trimmed.json"
        ))
        .unwrap();
        let openai = request_to_openai(&captures[0]["body"]).unwrap();
        assert_eq!(openai["messages"][0]["role"], "system");
        assert_eq!(openai["stream"], true);
        assert_eq!(openai["max_tokens"], 32000);
        assert_eq!(openai["tools"][0]["type"], "function");
        assert!(openai.get("thinking").is_none() && openai.get("metadata").is_none());
    }

    #[test]
    fn tool_choices_map() {
        let choice = |c: Value| {
            request_to_openai(&json!({"messages": [{"role": "user", "content": "x"}], "tools": [{"name": "t", "input_schema": {}}], "tool_choice": c}))
                .unwrap()["tool_choice"]
                .clone()
        };
        assert_eq!(choice(json!({"type": "auto"})), json!("auto"));
        assert_eq!(choice(json!({"type": "none"})), json!("none"));
        assert_eq!(
            choice(json!({"type": "tool", "name": "t"})),
            json!({"type": "function", "function": {"name": "t"}})
        );
    }

    #[test]
    fn bad_requests_are_refused() {
        for body in [
            json!([1]),
            json!({"messages": []}),
            json!({"messages": "hi"}),
            json!({"messages": [{"role": "tool", "content": "x"}]}),
            json!({"messages": [{"role": "user", "content": "x"}], "tool_choice": {"type": "sometimes"}}),
        ] {
            assert!(request_to_openai(&body).is_err(), "{body}");
        }
    }

    #[test]
    fn estimates_tokens_at_four_characters_each() {
        let body = json!({"system": "12345678", "messages": [], "model": "ignored-entirely"});
        assert_eq!(estimate_input_tokens(&body), 3);
    }

    #[test]
    fn translates_a_whole_answer_with_a_tool_call() {
        let openai = json!({
            "id": "chatcmpl-1", "object": "chat.completion", "model": "up",
            "choices": [{"index": 0, "finish_reason": "tool_calls", "message": {
                "role": "assistant", "content": "Let me check.",
                "tool_calls": [{"id": "call_1", "type": "function", "function": {"name": "get_weather", "arguments": "{\"city\":\"Paris\"}"}}]
            }}],
            "usage": {"prompt_tokens": 12, "completion_tokens": 7, "total_tokens": 19}
        });
        assert_eq!(
            response_from_openai(&openai, "claude-sonnet-4-5"),
            json!({
                "id": "msg_chatcmpl-1", "type": "message", "role": "assistant", "model": "claude-sonnet-4-5",
                "content": [
                    {"type": "text", "text": "Let me check."},
                    {"type": "tool_use", "id": "call_1", "name": "get_weather", "input": {"city": "Paris"}}
                ],
                "stop_reason": "tool_use", "stop_sequence": null,
                "usage": {"input_tokens": 12, "output_tokens": 7}
            })
        );
        let cut = json!({"choices": [{"finish_reason": "length", "message": {"content": "ab"}}]});
        assert_eq!(response_from_openai(&cut, "m")["stop_reason"], "max_tokens");
    }

    fn events(sse: &str) -> Vec<(String, Value)> {
        sse.split("\n\n")
            .filter(|e| !e.is_empty())
            .map(|event| {
                let mut lines = event.lines();
                let name = lines.next().unwrap().strip_prefix("event: ").unwrap();
                let data = lines.next().unwrap().strip_prefix("data: ").unwrap();
                (name.to_string(), serde_json::from_str(data).unwrap())
            })
            .collect()
    }

    #[test]
    fn translates_a_stream_with_text_then_a_tool_call() {
        let upstream = concat!(
            "data: {\"id\":\"c1\",\"choices\":[{\"index\":0,\"delta\":{\"role\":\"assistant\",\"content\":\"Hi\"},\"finish_reason\":null}]}\n\n",
            "data: {\"id\":\"c1\",\"choices\":[{\"index\":0,\"delta\":{\"content\":\" there\"},\"finish_reason\":null}]}\n\n",
            "data: {\"id\":\"c1\",\"choices\":[{\"index\":0,\"delta\":{\"tool_calls\":[{\"index\":0,\"id\":\"call_1\",\"type\":\"function\",\"function\":{\"name\":\"get_weather\",\"arguments\":\"\"}}]},\"finish_reason\":null}]}\n\n",
            "data: {\"id\":\"c1\",\"choices\":[{\"index\":0,\"delta\":{\"tool_calls\":[{\"index\":0,\"function\":{\"arguments\":\"{\\\"city\\\":\"}}]},\"finish_reason\":null}]}\n\n",
            "data: {\"id\":\"c1\",\"choices\":[{\"index\":0,\"delta\":{\"tool_calls\":[{\"index\":0,\"function\":{\"arguments\":\"\\\"Paris\\\"}\"}}]},\"finish_reason\":null}]}\n\n",
            "data: {\"id\":\"c1\",\"choices\":[{\"index\":0,\"delta\":{},\"finish_reason\":\"tool_calls\"}]}\n\n",
            "data: {\"id\":\"c1\",\"choices\":[],\"usage\":{\"prompt_tokens\":5,\"completion_tokens\":9}}\n\n",
            "data: [DONE]\n\n",
        );
        let mut parser = EventReader::default();
        let mut translator = StreamTranslator::new("claude-x");
        let mut out = String::new();
        // Byte by byte: nothing may depend on how the upstream's bytes are split.
        for byte in upstream.as_bytes() {
            for event in parser.feed(&[*byte]) {
                out.push_str(&translator.on_event(&event));
            }
        }
        assert!(translator.ended());
        let events = events(&out);
        let names: Vec<&str> = events.iter().map(|(n, _)| n.as_str()).collect();
        assert_eq!(
            names,
            [
                "message_start",
                "ping",
                "content_block_start",
                "content_block_delta",
                "content_block_delta",
                "content_block_stop",
                "content_block_start",
                "content_block_delta",
                "content_block_delta",
                "content_block_stop",
                "message_delta",
                "message_stop"
            ]
        );
        assert_eq!(events[0].1["message"]["id"], "msg_c1");
        assert_eq!(events[0].1["message"]["model"], "claude-x");
        assert_eq!(
            events[3].1,
            json!({"type": "content_block_delta", "index": 0, "delta": {"type": "text_delta", "text": "Hi"}})
        );
        assert_eq!(
            events[6].1,
            json!({"type": "content_block_start", "index": 1, "content_block": {"type": "tool_use", "id": "call_1", "name": "get_weather", "input": {}}})
        );
        assert_eq!(
            events[8].1["delta"],
            json!({"type": "input_json_delta", "partial_json": "\"Paris\"}"})
        );
        assert_eq!(
            events[10].1,
            json!({"type": "message_delta", "delta": {"stop_reason": "tool_use", "stop_sequence": null}, "usage": {"output_tokens": 9}})
        );
    }

    #[test]
    fn a_cut_stream_ends_with_an_error_event_and_no_message_stop() {
        let mut parser = EventReader::default();
        let mut translator = StreamTranslator::new("m");
        let mut out = String::new();
        for event in parser.feed(b"data: {\"choices\":[{\"delta\":{\"content\":\"ha\"}}]}\n\ndata: {\"error\":{\"message\":\"the upstream closed\",\"type\":\"upstream_error\"}}\n\n") {
            out.push_str(&translator.on_event(&event));
        }
        out.push_str(&translator.finish());
        let events = events(&out);
        let last = events.last().unwrap();
        assert_eq!(last.0, "error");
        assert_eq!(
            last.1,
            json!({"type": "error", "error": {"type": "api_error", "message": "the upstream closed"}})
        );
        assert!(!out.contains("message_stop"));
    }

    #[test]
    fn errors_take_anthropic_types() {
        assert_eq!(error_type(404), "not_found_error");
        assert_eq!(error_type(429), "rate_limit_error");
        assert_eq!(error_type(503), "overloaded_error");
        assert_eq!(error_type(502), "api_error");
    }
}
