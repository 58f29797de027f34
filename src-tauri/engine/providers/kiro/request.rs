//! OpenAI chat request → Kiro `generateAssistantResponse` payload. Pure: the clock and the
//! profile ARN come in as arguments.

use serde_json::{json, Map, Value};

/// Fixed namespace for the deterministic conversation id, so one conversation keeps one id.
const CONVERSATION_NAMESPACE: &[u8; 16] = b"modelrelay-kiro\0";
const CONVERSATION_SEED_CHARS: usize = 4000;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Role {
    User,
    Assistant,
}

#[derive(Debug, Default)]
struct Turn {
    text: Vec<String>,
    tool_uses: Vec<Value>,
    tool_results: Vec<Value>,
}

/// Text of an OpenAI `content`: a string or an array of `{type:"text"}` parts.
fn text_of(content: Option<&Value>) -> String {
    match content {
        Some(Value::String(text)) => text.clone(),
        Some(Value::Array(parts)) => parts
            .iter()
            .filter(|part| part["type"] == "text")
            .filter_map(|part| part["text"].as_str())
            .collect::<Vec<_>>()
            .join("\n"),
        _ => String::new(),
    }
}

fn tool_result(id: &str, content: Option<&Value>) -> Value {
    let text = match content {
        Some(Value::String(_)) | Some(Value::Array(_)) => text_of(content),
        Some(other) => other.to_string(),
        None => String::new(),
    };
    json!({"content": [{"text": text}], "status": "success", "toolUseId": id})
}

/// Arguments arrive as a JSON string in OpenAI; Kiro wants the object.
fn tool_input(arguments: &Value) -> Value {
    match arguments {
        Value::String(raw) => serde_json::from_str(raw).unwrap_or_else(|_| json!({})),
        Value::Null => json!({}),
        other => other.clone(),
    }
}

/// One message → its role and contribution (system and tool results count as user turns).
fn turn_of(message: &Value) -> (Role, Turn) {
    let mut turn = Turn::default();
    let role = match message["role"].as_str().unwrap_or("user") {
        "assistant" => Role::Assistant,
        _ => Role::User,
    };
    match message["role"].as_str() {
        Some("tool") => {
            let id = message["tool_call_id"].as_str().unwrap_or_default();
            turn.tool_results
                .push(tool_result(id, message.get("content")));
            return (role, turn);
        }
        _ => turn.text.push(text_of(message.get("content"))),
    }
    if let Some(parts) = message["content"].as_array() {
        for part in parts {
            match part["type"].as_str() {
                Some("tool_result") => turn.tool_results.push(tool_result(
                    part["tool_use_id"].as_str().unwrap_or_default(),
                    part.get("content"),
                )),
                Some("tool_use") => turn.tool_uses.push(json!({
                    "toolUseId": part["id"],
                    "name": part["name"],
                    "input": tool_input(&part["input"]),
                })),
                _ => {}
            }
        }
    }
    for call in message["tool_calls"].as_array().into_iter().flatten() {
        turn.tool_uses.push(json!({
            "toolUseId": call["id"],
            "name": call["function"]["name"],
            "input": tool_input(&call["function"]["arguments"]),
        }));
    }
    (role, turn)
}

/// Messages as alternating turns: consecutive messages of one role are merged.
fn turns(messages: &[Value]) -> Vec<(Role, Turn)> {
    let mut merged: Vec<(Role, Turn)> = Vec::new();
    for message in messages {
        let (role, turn) = turn_of(message);
        match merged.last_mut() {
            Some((last_role, last)) if *last_role == role => {
                last.text.extend(turn.text);
                last.tool_uses.extend(turn.tool_uses);
                last.tool_results.extend(turn.tool_results);
            }
            _ => merged.push((role, turn)),
        }
    }
    merged
}

fn joined_text(turn: &Turn, empty: &str) -> String {
    let text = turn
        .text
        .iter()
        .filter(|t| !t.trim().is_empty())
        .cloned()
        .collect::<Vec<_>>()
        .join("\n\n");
    if text.is_empty() {
        empty.to_string()
    } else {
        text
    }
}

fn user_message(turn: &Turn, model: &str, content: String, tools: Option<&Value>) -> Value {
    let mut message = json!({"content": content, "modelId": model, "origin": "AI_EDITOR"});
    let mut context = Map::new();
    if let Some(tools) = tools {
        context.insert("tools".into(), tools.clone());
    }
    if !turn.tool_results.is_empty() {
        context.insert(
            "toolResults".into(),
            Value::Array(turn.tool_results.clone()),
        );
    }
    if !context.is_empty() {
        message["userInputMessageContext"] = Value::Object(context);
    }
    json!({"userInputMessage": message})
}

fn assistant_message(turn: &Turn) -> Value {
    let mut message = json!({"content": joined_text(turn, "...")});
    if !turn.tool_uses.is_empty() {
        message["toolUses"] = Value::Array(turn.tool_uses.clone());
    }
    json!({"assistantResponseMessage": message})
}

/// The same first message always yields the same id (a name-based, SHA-1 UUID).
pub fn conversation_id(messages: &[Value]) -> String {
    let seed: String = messages
        .first()
        .map(|m| text_of(m.get("content")))
        .unwrap_or_default()
        .chars()
        .take(CONVERSATION_SEED_CHARS)
        .collect();
    let mut hash = sha1_smol::Sha1::new();
    hash.update(CONVERSATION_NAMESPACE);
    hash.update(seed.as_bytes());
    let digest = hash.digest().bytes();
    let mut bytes = [0u8; 16];
    bytes.copy_from_slice(&digest[..16]);
    uuid::Builder::from_sha1_bytes(bytes)
        .into_uuid()
        .hyphenated()
        .to_string()
}

fn kiro_tools(tools: &Value) -> Option<Value> {
    let specs: Vec<Value> = tools
        .as_array()?
        .iter()
        .filter_map(|tool| {
            let function = tool.get("function").unwrap_or(tool);
            let name = function["name"].as_str()?;
            let schema = function
                .get("parameters")
                .or_else(|| function.get("input_schema"))
                .cloned()
                .unwrap_or_else(|| json!({"type": "object", "properties": {}}));
            Some(json!({"toolSpecification": {
                "name": name,
                "description": function["description"].as_str().unwrap_or(name),
                "inputSchema": {"json": schema},
            }}))
        })
        .collect();
    (!specs.is_empty()).then_some(Value::Array(specs))
}

/// Builds Kiro's payload from an OpenAI chat request for `model`, at `now_iso`.
pub fn build_kiro_request(
    openai: &Value,
    model: &str,
    now_iso: &str,
    profile_arn: Option<&str>,
) -> Value {
    let messages = openai["messages"].as_array().cloned().unwrap_or_default();
    let mut turns = turns(&messages);
    // The current message must be the user's: after an assistant turn, ask it to go on.
    if !matches!(turns.last(), Some((Role::User, _))) {
        turns.push((Role::User, Turn::default()));
    }
    let (_, current) = turns.pop().unwrap_or((Role::User, Turn::default()));
    let history: Vec<Value> = turns
        .iter()
        .map(|(role, turn)| match role {
            Role::User => user_message(turn, model, joined_text(turn, "continue"), None),
            Role::Assistant => assistant_message(turn),
        })
        .collect();
    let tools = openai.get("tools").and_then(kiro_tools);
    let content = format!(
        "[Context: Current time is {now_iso}]\n\n{}",
        joined_text(&current, "continue")
    );
    let mut state = json!({
        "chatTriggerType": "MANUAL",
        "conversationId": conversation_id(&messages),
        "currentMessage": user_message(&current, model, content, tools.as_ref()),
    });
    if !history.is_empty() {
        state["history"] = Value::Array(history);
    }
    let mut payload = json!({"conversationState": state});
    if let Some(arn) = profile_arn {
        payload["profileArn"] = json!(arn);
    }
    let mut inference = Map::new();
    let max_tokens = openai
        .get("max_tokens")
        .or_else(|| openai.get("max_completion_tokens"));
    for (from, to) in [
        (max_tokens, "maxTokens"),
        (openai.get("temperature"), "temperature"),
        (openai.get("top_p"), "topP"),
    ] {
        if let Some(value) = from.filter(|v| v.is_number()) {
            inference.insert(to.into(), value.clone());
        }
    }
    if !inference.is_empty() {
        payload["inferenceConfig"] = Value::Object(inference);
    }
    payload
}

#[cfg(test)]
mod tests {
    use super::*;

    const NOW: &str = "2026-01-02T03:04:05Z";

    #[test]
    fn system_history_and_current_message_are_translated() {
        let openai = json!({
            "model": "claude-sonnet-4.5",
            "max_tokens": 100,
            "temperature": 0.2,
            "messages": [
                {"role": "system", "content": "Be brief."},
                {"role": "user", "content": "Hi"},
                {"role": "assistant", "content": ""},
                {"role": "user", "content": [{"type": "text", "text": "What is 2+2?"}]},
            ],
        });
        let payload = build_kiro_request(&openai, "claude-sonnet-4.5", NOW, Some("arn:x"));
        let id = conversation_id(openai["messages"].as_array().unwrap());
        assert_eq!(
            payload,
            json!({
                "conversationState": {
                    "chatTriggerType": "MANUAL",
                    "conversationId": id,
                    "currentMessage": {"userInputMessage": {
                        "content": format!("[Context: Current time is {NOW}]\n\nWhat is 2+2?"),
                        "modelId": "claude-sonnet-4.5",
                        "origin": "AI_EDITOR",
                    }},
                    "history": [
                        {"userInputMessage": {"content": "Be brief.\n\nHi", "modelId": "claude-sonnet-4.5", "origin": "AI_EDITOR"}},
                        {"assistantResponseMessage": {"content": "..."}},
                    ],
                },
                "profileArn": "arn:x",
                "inferenceConfig": {"maxTokens": 100, "temperature": 0.2},
            })
        );
    }

    #[test]
    fn tools_tool_calls_and_tool_results_are_translated() {
        let openai = json!({
            "messages": [
                {"role": "user", "content": "Weather in Paris?"},
                {"role": "assistant", "content": null, "tool_calls": [{
                    "id": "call_1", "type": "function",
                    "function": {"name": "weather", "arguments": "{\"city\":\"Paris\"}"},
                }]},
                {"role": "tool", "tool_call_id": "call_1", "content": "sunny"},
            ],
            "tools": [{"type": "function", "function": {
                "name": "weather", "description": "Current weather",
                "parameters": {"type": "object", "properties": {"city": {"type": "string"}}},
            }}],
        });
        let payload = build_kiro_request(&openai, "claude-haiku-4.5", NOW, None);
        let state = &payload["conversationState"];
        assert_eq!(
            state["history"][1],
            json!({"assistantResponseMessage": {"content": "...", "toolUses": [
                {"toolUseId": "call_1", "name": "weather", "input": {"city": "Paris"}}
            ]}})
        );
        let current = &state["currentMessage"]["userInputMessage"];
        assert_eq!(
            current["content"],
            format!("[Context: Current time is {NOW}]\n\ncontinue")
        );
        assert_eq!(
            current["userInputMessageContext"],
            json!({
                "tools": [{"toolSpecification": {
                    "name": "weather", "description": "Current weather",
                    "inputSchema": {"json": {"type": "object", "properties": {"city": {"type": "string"}}}},
                }}],
                "toolResults": [{"content": [{"text": "sunny"}], "status": "success", "toolUseId": "call_1"}],
            })
        );
        assert!(payload.get("inferenceConfig").is_none());
        assert!(payload.get("profileArn").is_none());
    }

    #[test]
    fn anthropic_style_blocks_are_accepted() {
        let openai = json!({"messages": [
            {"role": "user", "content": "go"},
            {"role": "assistant", "content": [{"type": "tool_use", "id": "t1", "name": "ls", "input": {"path": "."}}]},
            {"role": "user", "content": [{"type": "tool_result", "tool_use_id": "t1", "content": "a.txt"}]},
        ]});
        let payload = build_kiro_request(&openai, "m", NOW, None);
        let state = &payload["conversationState"];
        assert_eq!(
            state["history"][1]["assistantResponseMessage"]["toolUses"][0]["toolUseId"],
            "t1"
        );
        assert_eq!(
            state["currentMessage"]["userInputMessage"]["userInputMessageContext"]["toolResults"]
                [0]["content"][0]["text"],
            "a.txt"
        );
    }

    #[test]
    fn the_conversation_id_is_stable_for_one_first_message() {
        let a = conversation_id(&[json!({"role": "user", "content": "same"})]);
        let b = conversation_id(&[json!({"role": "user", "content": "same"}), json!({})]);
        let c = conversation_id(&[json!({"role": "user", "content": "other"})]);
        assert_eq!(a, b);
        assert_ne!(a, c);
        assert_eq!(a.len(), 36);
    }
}
