//! OpenAI Responses ⇄ OpenAI chat: the request body on the way in, the answer (whole or as a
//! stream of chunks) on the way out. Stateless: `previous_response_id` and `store: true` are
//! refused, since the router keeps no conversations. Pure functions and one small streaming
//! state machine; it must not do IO or know about routing.

use serde_json::{json, Map, Value};

use super::{invalid, named_event, random_id, Invalid, OpenAiEvent};

/// The OpenAI chat body for a Responses request, without `model` (the handler decides where
/// it routes).
pub fn request_to_openai(body: &Value) -> Result<Value, Invalid> {
    let object = body
        .as_object()
        .ok_or_else(|| invalid("the request body must be a JSON object", "body"))?;
    if object
        .get("previous_response_id")
        .is_some_and(|id| !id.is_null())
    {
        return Err(invalid(
            "`previous_response_id` is not supported: this router keeps no conversations; send the whole conversation in `input` instead",
            "previous_response_id",
        ));
    }
    if object.get("store").and_then(Value::as_bool) == Some(true) {
        return Err(invalid(
            "`store: true` is not supported: this router stores no responses; send `store: false` (or leave it out)",
            "store",
        ));
    }
    let mut messages = Vec::new();
    if let Some(instructions) = object.get("instructions").and_then(Value::as_str) {
        if !instructions.is_empty() {
            messages.push(json!({"role": "system", "content": instructions}));
        }
    }
    match object.get("input") {
        Some(Value::String(text)) => messages.push(json!({"role": "user", "content": text})),
        Some(Value::Array(items)) => {
            for item in items {
                translate_item(item, &mut messages)?;
            }
        }
        _ => {
            return Err(invalid(
                "`input` is required: a string or an array of input items",
                "input",
            ))
        }
    }
    if messages.iter().all(|m| m["role"] == "system") {
        return Err(invalid(
            "`input` must contain at least one message",
            "input",
        ));
    }
    let mut out = Map::new();
    out.insert("messages".into(), Value::Array(messages));
    if let Some(max) = object.get("max_output_tokens").filter(|v| !v.is_null()) {
        out.insert("max_tokens".into(), max.clone());
    }
    for key in ["temperature", "top_p", "stream"] {
        if let Some(value) = object.get(key).filter(|v| !v.is_null()) {
            out.insert(key.into(), value.clone());
        }
    }
    if let Some(tools) = object.get("tools").and_then(Value::as_array) {
        let tools: Vec<Value> = tools.iter().filter_map(tool_to_openai).collect();
        if !tools.is_empty() {
            out.insert("tools".into(), Value::Array(tools));
            if let Some(parallel) = object.get("parallel_tool_calls").and_then(Value::as_bool) {
                out.insert("parallel_tool_calls".into(), Value::Bool(parallel));
            }
        }
    }
    if let Some(choice) = object.get("tool_choice").filter(|c| !c.is_null()) {
        let choice = tool_choice_to_openai(choice)?;
        if out.contains_key("tools") || choice == "none" {
            out.insert("tool_choice".into(), choice);
        }
    }
    Ok(Value::Object(out))
}

fn translate_item(item: &Value, out: &mut Vec<Value>) -> Result<(), Invalid> {
    let kind = item.get("type").and_then(Value::as_str);
    match kind {
        None | Some("message") => {
            let role = match item.get("role").and_then(Value::as_str) {
                Some("developer" | "system") => "system",
                Some("assistant") => "assistant",
                Some("user") => "user",
                other => {
                    return Err(invalid(
                        format!(
                            "input message role `{}` is not supported; use `user`, `assistant`, `system` or `developer`",
                            other.unwrap_or("")
                        ),
                        "input",
                    ))
                }
            };
            let content = message_content(item.get("content").unwrap_or(&Value::Null), role);
            out.push(json!({"role": role, "content": content}));
        }
        Some("function_call") => {
            let call = json!({
                "id": item.get("call_id").and_then(Value::as_str).unwrap_or(""),
                "type": "function",
                "function": {
                    "name": item.get("name").and_then(Value::as_str).unwrap_or(""),
                    "arguments": item.get("arguments").and_then(Value::as_str).unwrap_or("{}"),
                }
            });
            // Consecutive calls (and the text before them) are one assistant turn in chat.
            match out.last_mut() {
                Some(last) if last["role"] == "assistant" => {
                    if let Some(calls) = last.get_mut("tool_calls").and_then(Value::as_array_mut) {
                        calls.push(call);
                    } else {
                        last["tool_calls"] = json!([call]);
                    }
                }
                _ => out.push(json!({"role": "assistant", "content": null, "tool_calls": [call]})),
            }
        }
        Some("function_call_output") => {
            let output = match item.get("output") {
                Some(Value::String(text)) => text.clone(),
                Some(Value::Array(parts)) => parts_text(parts),
                Some(other) => other.to_string(),
                None => String::new(),
            };
            out.push(json!({
                "role": "tool",
                "tool_call_id": item.get("call_id").and_then(Value::as_str).unwrap_or(""),
                "content": output,
            }));
        }
        // Reasoning and hosted-tool items have no chat equivalent; the upstream never made them.
        Some(_) => {}
    }
    Ok(())
}

fn parts_text(parts: &[Value]) -> String {
    parts
        .iter()
        .filter_map(|p| p.get("text").and_then(Value::as_str))
        .collect::<Vec<_>>()
        .join("\n")
}

fn message_content(content: &Value, role: &str) -> Value {
    let Value::Array(parts) = content else {
        return Value::String(content.as_str().unwrap_or("").to_string());
    };
    let images: Vec<&str> = parts
        .iter()
        .filter(|p| p.get("type").and_then(Value::as_str) == Some("input_image"))
        .filter_map(|p| p.get("image_url").and_then(Value::as_str))
        .collect();
    if images.is_empty() || role != "user" {
        return Value::String(parts_text(parts));
    }
    Value::Array(
        parts
            .iter()
            .filter_map(|p| match p.get("type").and_then(Value::as_str) {
                Some("input_image") => p
                    .get("image_url")
                    .and_then(Value::as_str)
                    .map(|url| json!({"type": "image_url", "image_url": {"url": url}})),
                _ => p
                    .get("text")
                    .and_then(Value::as_str)
                    .map(|text| json!({"type": "text", "text": text})),
            })
            .collect(),
    )
}

/// Function tools pass; hosted tools (web search, namespaces) cannot run on a chat upstream.
fn tool_to_openai(tool: &Value) -> Option<Value> {
    if tool.get("type").and_then(Value::as_str) != Some("function") {
        return None;
    }
    let mut function = json!({
        "name": tool.get("name").and_then(Value::as_str)?,
        "parameters": tool.get("parameters").cloned().unwrap_or_else(|| json!({"type": "object"})),
    });
    if let Some(description) = tool.get("description").and_then(Value::as_str) {
        function["description"] = Value::String(description.to_string());
    }
    Some(json!({"type": "function", "function": function}))
}

fn tool_choice_to_openai(choice: &Value) -> Result<Value, Invalid> {
    match choice {
        Value::String(mode) if matches!(mode.as_str(), "auto" | "none" | "required") => {
            Ok(choice.clone())
        }
        Value::Object(object) if object.get("type").and_then(Value::as_str) == Some("function") => {
            let name = object.get("name").and_then(Value::as_str).ok_or_else(|| {
                invalid("`tool_choice` of type `function` needs a `name`", "tool_choice")
            })?;
            Ok(json!({"type": "function", "function": {"name": name}}))
        }
        _ => Err(invalid(
            "`tool_choice` must be `auto`, `none`, `required` or `{\"type\":\"function\",\"name\":…}`",
            "tool_choice",
        )),
    }
}

fn response_id(openai: &Value) -> String {
    match openai.get("id").and_then(Value::as_str) {
        Some(id) if !id.is_empty() => format!("resp_{id}"),
        _ => format!("resp_{}", random_id()),
    }
}

fn usage(openai: &Value) -> Value {
    let number = |pointer: &str| openai.pointer(pointer).and_then(Value::as_u64).unwrap_or(0);
    let (input, output) = (
        number("/usage/prompt_tokens"),
        number("/usage/completion_tokens"),
    );
    json!({
        "input_tokens": input,
        "input_tokens_details": {"cached_tokens": 0},
        "output_tokens": output,
        "output_tokens_details": {"reasoning_tokens": 0},
        "total_tokens": input + output,
    })
}

fn message_item(id: &str, text: &str, status: &str) -> Value {
    json!({
        "type": "message", "id": id, "status": status, "role": "assistant",
        "content": [{"type": "output_text", "text": text, "annotations": []}],
    })
}

fn call_item(id: &str, call_id: &str, name: &str, arguments: &str, status: &str) -> Value {
    json!({
        "type": "function_call", "id": id, "call_id": call_id, "name": name,
        "arguments": arguments, "status": status,
    })
}

/// The `response` object around `output`.
fn response_object(
    id: &str,
    model: &str,
    created_at: u64,
    status: &str,
    output: Vec<Value>,
    usage: Value,
) -> Value {
    let incomplete = (status == "incomplete").then(|| json!({"reason": "max_output_tokens"}));
    json!({
        "id": id, "object": "response", "created_at": created_at, "status": status,
        "error": null, "incomplete_details": incomplete, "model": model, "output": output,
        "parallel_tool_calls": true, "tool_choice": "auto", "tools": [], "store": false,
        "usage": usage,
    })
}

fn status_for(finish: Option<&str>) -> &'static str {
    if finish == Some("length") {
        "incomplete"
    } else {
        "completed"
    }
}

/// The Responses `response` for a whole OpenAI chat completion.
pub fn response_from_openai(openai: &Value, model: &str, created_at: u64) -> Value {
    let choice = openai.pointer("/choices/0").unwrap_or(&Value::Null);
    let message = choice.get("message").unwrap_or(&Value::Null);
    let mut output = Vec::new();
    if let Some(text) = message.get("content").and_then(Value::as_str) {
        if !text.is_empty() {
            output.push(message_item(
                &format!("msg_{}", random_id()),
                text,
                "completed",
            ));
        }
    }
    for call in message
        .get("tool_calls")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        let call_id = call
            .get("id")
            .and_then(Value::as_str)
            .map_or_else(|| format!("call_{}", random_id()), str::to_string);
        output.push(call_item(
            &format!("fc_{}", random_id()),
            &call_id,
            call.pointer("/function/name")
                .and_then(Value::as_str)
                .unwrap_or(""),
            call.pointer("/function/arguments")
                .and_then(Value::as_str)
                .unwrap_or(""),
            "completed",
        ));
    }
    let finish = choice.get("finish_reason").and_then(Value::as_str);
    response_object(
        &response_id(openai),
        model,
        created_at,
        status_for(finish),
        output,
        usage(openai),
    )
}

/// The output item the stream is currently inside.
#[derive(Debug)]
enum Open {
    None,
    Text {
        id: String,
        text: String,
    },
    Call {
        index: u64,
        id: String,
        call_id: String,
        name: String,
        arguments: String,
    },
}

/// Turns OpenAI chat chunks into Responses stream events, one chunk at a time.
#[derive(Debug)]
pub struct StreamTranslator {
    model: String,
    created_at: u64,
    id: Option<String>,
    sequence: u64,
    open: Open,
    output: Vec<Value>,
    finish: Option<String>,
    usage: Value,
    ended: bool,
}

impl StreamTranslator {
    pub fn new(model: &str, created_at: u64) -> Self {
        Self {
            model: model.to_string(),
            created_at,
            id: None,
            sequence: 0,
            open: Open::None,
            output: Vec::new(),
            finish: None,
            usage: usage(&Value::Null),
            ended: false,
        }
    }

    pub fn ended(&self) -> bool {
        self.ended
    }

    fn event(&mut self, name: &str, mut data: Value) -> String {
        data["type"] = Value::String(name.to_string());
        data["sequence_number"] = Value::from(self.sequence);
        self.sequence += 1;
        named_event(name, &data)
    }

    fn response(&self, status: &str, output: Vec<Value>) -> Value {
        response_object(
            self.id.as_deref().unwrap_or(""),
            &self.model,
            self.created_at,
            status,
            output,
            self.usage.clone(),
        )
    }

    fn start(&mut self, chunk: Option<&Value>) -> String {
        if self.id.is_some() {
            return String::new();
        }
        self.id = Some(chunk.map_or_else(|| format!("resp_{}", random_id()), response_id));
        let response = self.response("in_progress", Vec::new());
        let mut out = self.event("response.created", json!({"response": response}));
        out.push_str(&self.event("response.in_progress", json!({"response": response})));
        out
    }

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
        self.event(
            "error",
            json!({"code": "upstream_stream_failed", "message": message, "param": null}),
        )
    }

    /// Closes the open item and sends `response.completed` (or `.incomplete`).
    pub fn finish(&mut self) -> String {
        if self.ended {
            return String::new();
        }
        let mut out = self.start(None);
        out.push_str(&self.close_item());
        self.ended = true;
        let status = status_for(self.finish.as_deref());
        let response = self.response(status, self.output.clone());
        let name = if status == "incomplete" {
            "response.incomplete"
        } else {
            "response.completed"
        };
        out.push_str(&self.event(name, json!({"response": response})));
        out
    }

    fn close_item(&mut self) -> String {
        let index = self.output.len();
        match std::mem::replace(&mut self.open, Open::None) {
            Open::None => String::new(),
            Open::Text { id, text } => {
                let part = json!({"type": "output_text", "text": text, "annotations": []});
                let mut out = self.event(
                    "response.output_text.done",
                    json!({"item_id": id, "output_index": index, "content_index": 0, "text": text}),
                );
                out.push_str(&self.event(
                    "response.content_part.done",
                    json!({"item_id": id, "output_index": index, "content_index": 0, "part": part}),
                ));
                let item = message_item(&id, &text, "completed");
                out.push_str(&self.event(
                    "response.output_item.done",
                    json!({"output_index": index, "item": item}),
                ));
                self.output.push(item);
                out
            }
            Open::Call {
                id,
                call_id,
                name,
                arguments,
                ..
            } => {
                let mut out = self.event(
                    "response.function_call_arguments.done",
                    json!({"item_id": id, "output_index": index, "arguments": arguments}),
                );
                let item = call_item(&id, &call_id, &name, &arguments, "completed");
                out.push_str(&self.event(
                    "response.output_item.done",
                    json!({"output_index": index, "item": item}),
                ));
                self.output.push(item);
                out
            }
        }
    }

    fn on_chunk(&mut self, chunk: &Value) -> String {
        let mut out = self.start(Some(chunk));
        if chunk.get("usage").is_some_and(Value::is_object) {
            self.usage = usage(chunk);
        }
        let Some(choice) = chunk.pointer("/choices/0") else {
            return out;
        };
        let delta = choice.get("delta").unwrap_or(&Value::Null);
        if let Some(text) = delta.get("content").and_then(Value::as_str) {
            if !text.is_empty() {
                out.push_str(&self.text_delta(text));
            }
        }
        for call in delta
            .get("tool_calls")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
        {
            out.push_str(&self.call_delta(call));
        }
        if let Some(finish) = choice.get("finish_reason").and_then(Value::as_str) {
            self.finish = Some(finish.to_string());
        }
        out
    }

    fn text_delta(&mut self, text: &str) -> String {
        let mut out = String::new();
        if !matches!(self.open, Open::Text { .. }) {
            out.push_str(&self.close_item());
            let id = format!("msg_{}", random_id());
            let index = self.output.len();
            let item = json!({"type": "message", "id": id, "status": "in_progress", "role": "assistant", "content": []});
            out.push_str(&self.event(
                "response.output_item.added",
                json!({"output_index": index, "item": item}),
            ));
            out.push_str(&self.event(
                "response.content_part.added",
                json!({"item_id": id, "output_index": index, "content_index": 0, "part": {"type": "output_text", "text": "", "annotations": []}}),
            ));
            self.open = Open::Text {
                id,
                text: String::new(),
            };
        }
        let index = self.output.len();
        let Open::Text { id, text: so_far } = &mut self.open else {
            return out;
        };
        so_far.push_str(text);
        let id = id.clone();
        out.push_str(&self.event(
            "response.output_text.delta",
            json!({"item_id": id, "output_index": index, "content_index": 0, "delta": text}),
        ));
        out
    }

    fn call_delta(&mut self, call: &Value) -> String {
        let mut out = String::new();
        let index = call.get("index").and_then(Value::as_u64).unwrap_or(0);
        if !matches!(self.open, Open::Call { index: open, .. } if open == index) {
            out.push_str(&self.close_item());
            let id = format!("fc_{}", random_id());
            let call_id = call
                .get("id")
                .and_then(Value::as_str)
                .map_or_else(|| format!("call_{}", random_id()), str::to_string);
            let name = call
                .pointer("/function/name")
                .and_then(Value::as_str)
                .unwrap_or("")
                .to_string();
            let item = call_item(&id, &call_id, &name, "", "in_progress");
            let output_index = self.output.len();
            out.push_str(&self.event(
                "response.output_item.added",
                json!({"output_index": output_index, "item": item}),
            ));
            self.open = Open::Call {
                index,
                id,
                call_id,
                name,
                arguments: String::new(),
            };
        }
        let Some(piece) = call
            .pointer("/function/arguments")
            .and_then(Value::as_str)
            .filter(|p| !p.is_empty())
        else {
            return out;
        };
        let output_index = self.output.len();
        let Open::Call { id, arguments, .. } = &mut self.open else {
            return out;
        };
        arguments.push_str(piece);
        let id = id.clone();
        out.push_str(&self.event(
            "response.function_call_arguments.delta",
            json!({"item_id": id, "output_index": output_index, "delta": piece}),
        ));
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::translate::EventReader;

    #[test]
    fn translates_items_instructions_and_tools() {
        let body = json!({
            "model": "gpt-x",
            "instructions": "Be brief.",
            "store": false,
            "stream": true,
            "max_output_tokens": 200,
            "temperature": 0.3,
            "include": ["reasoning.encrypted_content"],
            "reasoning": {"summary": "auto"},
            "parallel_tool_calls": true,
            "tools": [
                {"type": "function", "name": "exec", "description": "Run", "parameters": {"type": "object"}, "strict": false},
                {"type": "web_search"}
            ],
            "tool_choice": "auto",
            "input": [
                {"type": "message", "role": "developer", "content": [{"type": "input_text", "text": "dev rules"}]},
                {"type": "message", "role": "user", "content": [{"type": "input_text", "text": "look"}, {"type": "input_image", "image_url": "data:image/png;base64,AA"}]},
                {"type": "reasoning", "summary": []},
                {"type": "message", "role": "assistant", "content": [{"type": "output_text", "text": "Running."}]},
                {"type": "function_call", "call_id": "call_1", "name": "exec", "arguments": "{\"cmd\":\"ls\"}"},
                {"type": "function_call", "call_id": "call_2", "name": "exec", "arguments": "{}"},
                {"type": "function_call_output", "call_id": "call_1", "output": "a.txt"},
                {"type": "function_call_output", "call_id": "call_2", "output": [{"type": "input_text", "text": "ok"}]},
                {"role": "user", "content": "thanks"}
            ]
        });
        assert_eq!(
            request_to_openai(&body).unwrap(),
            json!({
                "messages": [
                    {"role": "system", "content": "Be brief."},
                    {"role": "system", "content": "dev rules"},
                    {"role": "user", "content": [
                        {"type": "text", "text": "look"},
                        {"type": "image_url", "image_url": {"url": "data:image/png;base64,AA"}}
                    ]},
                    {"role": "assistant", "content": "Running.", "tool_calls": [
                        {"id": "call_1", "type": "function", "function": {"name": "exec", "arguments": "{\"cmd\":\"ls\"}"}},
                        {"id": "call_2", "type": "function", "function": {"name": "exec", "arguments": "{}"}}
                    ]},
                    {"role": "tool", "tool_call_id": "call_1", "content": "a.txt"},
                    {"role": "tool", "tool_call_id": "call_2", "content": "ok"},
                    {"role": "user", "content": "thanks"}
                ],
                "max_tokens": 200,
                "temperature": 0.3,
                "stream": true,
                "tools": [{"type": "function", "function": {"name": "exec", "parameters": {"type": "object"}, "description": "Run"}}],
                "parallel_tool_calls": true,
                "tool_choice": "auto"
            })
        );
        let plain = request_to_openai(&json!({"input": "hi"})).unwrap();
        assert_eq!(
            plain["messages"],
            json!([{"role": "user", "content": "hi"}])
        );
    }

    #[test]
    fn the_codex_capture_translates() {
        let captures: Value = serde_json::from_str(include_str!(
            "../../../tests/fixtures/captures/codex_cli.trimmed.json"
        ))
        .unwrap();
        let openai = request_to_openai(&captures[0]["body"]).unwrap();
        assert_eq!(openai["messages"][0]["role"], "system");
        assert_eq!(openai["tools"][0]["function"]["name"], "exec_command");
        assert_eq!(openai["tool_choice"], "auto");
    }

    #[test]
    fn stateful_and_malformed_requests_are_refused() {
        for (body, param) in [
            (
                json!({"input": "x", "previous_response_id": "resp_1"}),
                "previous_response_id",
            ),
            (json!({"input": "x", "store": true}), "store"),
            (json!({"input": 5}), "input"),
            (json!({"input": []}), "input"),
            (
                json!({"input": "x", "tools": [{"type": "function", "name": "f"}], "tool_choice": "sometimes"}),
                "tool_choice",
            ),
        ] {
            assert_eq!(request_to_openai(&body).unwrap_err().param, param, "{body}");
        }
    }

    #[test]
    fn translates_a_whole_answer_with_text_and_a_call() {
        let openai = json!({
            "id": "c1",
            "choices": [{"finish_reason": "tool_calls", "message": {"role": "assistant", "content": "Let me look.",
                "tool_calls": [{"id": "call_1", "type": "function", "function": {"name": "exec", "arguments": "{\"cmd\":\"ls\"}"}}]}}],
            "usage": {"prompt_tokens": 10, "completion_tokens": 5}
        });
        let response = response_from_openai(&openai, "gpt-x", 7);
        assert_eq!(response["id"], "resp_c1");
        assert_eq!(response["object"], "response");
        assert_eq!(response["status"], "completed");
        assert_eq!(response["created_at"], 7);
        assert_eq!(response["output"][0]["type"], "message");
        assert_eq!(
            response["output"][0]["content"],
            json!([{"type": "output_text", "text": "Let me look.", "annotations": []}])
        );
        let call = &response["output"][1];
        assert_eq!(
            (
                &call["type"],
                &call["call_id"],
                &call["name"],
                &call["arguments"]
            ),
            (
                &json!("function_call"),
                &json!("call_1"),
                &json!("exec"),
                &json!("{\"cmd\":\"ls\"}")
            )
        );
        assert_eq!(response["usage"]["total_tokens"], 15);
    }

    fn events(sse: &str) -> Vec<Value> {
        sse.split("\n\n")
            .filter(|e| !e.is_empty())
            .map(|event| {
                let mut lines = event.lines();
                let name = lines.next().unwrap().strip_prefix("event: ").unwrap();
                let data: Value =
                    serde_json::from_str(lines.next().unwrap().strip_prefix("data: ").unwrap())
                        .unwrap();
                assert_eq!(data["type"], name);
                data
            })
            .collect()
    }

    #[test]
    fn translates_a_stream_with_text_then_a_call() {
        let upstream = concat!(
            "data: {\"id\":\"c1\",\"choices\":[{\"index\":0,\"delta\":{\"role\":\"assistant\",\"content\":\"Hi\"},\"finish_reason\":null}]}\n\n",
            "data: {\"id\":\"c1\",\"choices\":[{\"index\":0,\"delta\":{\"content\":\" there\"},\"finish_reason\":null}]}\n\n",
            "data: {\"id\":\"c1\",\"choices\":[{\"index\":0,\"delta\":{\"tool_calls\":[{\"index\":0,\"id\":\"call_1\",\"type\":\"function\",\"function\":{\"name\":\"exec\",\"arguments\":\"{\\\"cmd\\\":\"}}]},\"finish_reason\":null}]}\n\n",
            "data: {\"id\":\"c1\",\"choices\":[{\"index\":0,\"delta\":{\"tool_calls\":[{\"index\":0,\"function\":{\"arguments\":\"\\\"ls\\\"}\"}}]},\"finish_reason\":null}]}\n\n",
            "data: {\"id\":\"c1\",\"choices\":[{\"index\":0,\"delta\":{},\"finish_reason\":\"tool_calls\"}],\"usage\":{\"prompt_tokens\":3,\"completion_tokens\":4}}\n\n",
            "data: [DONE]\n\n",
        );
        let mut parser = EventReader::default();
        let mut translator = StreamTranslator::new("gpt-x", 1);
        let mut out = String::new();
        for byte in upstream.as_bytes() {
            for event in parser.feed(&[*byte]) {
                out.push_str(&translator.on_event(&event));
            }
        }
        assert!(translator.ended());
        let events = events(&out);
        let names: Vec<&str> = events.iter().map(|e| e["type"].as_str().unwrap()).collect();
        assert_eq!(
            names,
            [
                "response.created",
                "response.in_progress",
                "response.output_item.added",
                "response.content_part.added",
                "response.output_text.delta",
                "response.output_text.delta",
                "response.output_text.done",
                "response.content_part.done",
                "response.output_item.done",
                "response.output_item.added",
                "response.function_call_arguments.delta",
                "response.function_call_arguments.delta",
                "response.function_call_arguments.done",
                "response.output_item.done",
                "response.completed"
            ]
        );
        let sequence: Vec<u64> = events
            .iter()
            .map(|e| e["sequence_number"].as_u64().unwrap())
            .collect();
        assert_eq!(sequence, (0..15).collect::<Vec<_>>());
        assert_eq!(events[6]["text"], "Hi there");
        assert_eq!(events[9]["output_index"], 1);
        assert_eq!(events[9]["item"]["call_id"], "call_1");
        assert_eq!(events[12]["arguments"], "{\"cmd\":\"ls\"}");
        let done = &events[14]["response"];
        assert_eq!(done["status"], "completed");
        assert_eq!(done["id"], "resp_c1");
        assert_eq!(done["output"][0]["content"][0]["text"], "Hi there");
        assert_eq!(done["output"][1]["arguments"], "{\"cmd\":\"ls\"}");
        assert_eq!(done["usage"]["output_tokens"], 4);
    }

    #[test]
    fn a_cut_stream_ends_with_an_error_event() {
        let mut parser = EventReader::default();
        let mut translator = StreamTranslator::new("m", 1);
        let mut out = String::new();
        for event in parser.feed(b"data: {\"choices\":[{\"delta\":{\"content\":\"ha\"}}]}\n\ndata: {\"error\":{\"message\":\"cut\"}}\n\n") {
            out.push_str(&translator.on_event(&event));
        }
        out.push_str(&translator.finish());
        let events = events(&out);
        let last = events.last().unwrap();
        assert_eq!(last["type"], "error");
        assert_eq!(last["message"], "cut");
        assert!(!out.contains("response.completed"));
    }
}
