//! Reading a provider's model list (`GET <base>/models`) and keeping only chat models.
//! Parsing is pure; `fetch_models` is the one function here that does IO.

use std::time::Duration;

use secrecy::{ExposeSecret, SecretString};
use serde_json::Value;

use super::{describe_http_error, Provider};

/// A model a provider says it serves.
#[derive(Debug, Clone, PartialEq)]
pub struct DiscoveredModel {
    pub id: String,
    pub name: Option<String>,
    pub context: Option<u32>,
}

/// Why a discovery failed (kept for the UI; never contains a key).
#[derive(Debug, Clone, thiserror::Error)]
pub enum DiscoveryError {
    #[error("`{url}` could not be reached: {reason}")]
    Unreachable { url: String, reason: String },
    #[error("`{url}` answered HTTP {status}")]
    Status { url: String, status: u16 },
    #[error("`{url}` did not return a model list: {reason}")]
    Unparseable { url: String, reason: String },
}

const DISCOVERY_TIMEOUT: Duration = Duration::from_secs(15);

/// Ids that are not chat models (embeddings, rerankers, guards, speech, images).
pub fn is_chat_model(id: &str) -> bool {
    const NOT_CHAT: [&str; 11] = [
        "embed",
        "rerank",
        "moderation",
        "guard",
        "safety",
        "classifier",
        "whisper",
        "text-to-speech",
        "tts",
        "image",
        "dall-e",
    ];
    let lower = id.to_ascii_lowercase();
    !NOT_CHAT.iter().any(|word| lower.contains(word))
}

/// Parses the OpenAI list shape (`{"data": [{"id": …}]}`), also accepting a bare array.
pub fn parse_model_list(body: &Value) -> Result<Vec<DiscoveredModel>, String> {
    let entries = match body {
        Value::Object(map) => map
            .get("data")
            .or_else(|| map.get("models"))
            .and_then(Value::as_array)
            .ok_or("no `data` array")?,
        Value::Array(entries) => entries,
        _ => return Err("not a JSON object".into()),
    };
    Ok(entries
        .iter()
        .filter_map(|entry| {
            let id = entry.get("id").and_then(Value::as_str)?.trim().to_string();
            if id.is_empty() || !is_chat_model(&id) {
                return None;
            }
            let context = [
                "context_length",
                "contextLength",
                "context_window",
                "max_model_len",
            ]
            .iter()
            .find_map(|field| entry.get(*field).and_then(Value::as_u64))
            .or_else(|| {
                entry
                    .pointer("/top_provider/context_length")
                    .and_then(Value::as_u64)
            })
            .and_then(|n| u32::try_from(n).ok());
            let name = entry
                .get("name")
                .and_then(Value::as_str)
                .map(str::to_string);
            Some(DiscoveredModel { id, name, context })
        })
        .collect())
}

/// Fetches and parses `<base>/models`.
pub async fn fetch_models(
    http: &reqwest::Client,
    provider: &Provider,
    key: Option<&SecretString>,
) -> Result<Vec<DiscoveredModel>, DiscoveryError> {
    let url = provider.models_url();
    let mut request = http.get(&url).timeout(DISCOVERY_TIMEOUT);
    if let Some(key) = key {
        request = request.bearer_auth(key.expose_secret());
    }
    let response = request
        .send()
        .await
        .map_err(|error| DiscoveryError::Unreachable {
            url: url.clone(),
            reason: describe_http_error(&error),
        })?;
    let status = response.status();
    if !status.is_success() {
        return Err(DiscoveryError::Status {
            url,
            status: status.as_u16(),
        });
    }
    let body: Value = response
        .json()
        .await
        .map_err(|error| DiscoveryError::Unparseable {
            url: url.clone(),
            reason: describe_http_error(&error),
        })?;
    parse_model_list(&body).map_err(|reason| DiscoveryError::Unparseable { url, reason })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn keeps_chat_models_and_reads_context() {
        let body = json!({"object": "list", "data": [
            {"id": "qwen-coder", "context_length": 32768},
            {"id": "text-embedding-3-small"},
            {"id": "meta-llama/llama-guard-4-12b"},
            {"id": "x", "top_provider": {"context_length": 1000}},
            {"id": "  "},
            {"no_id": true}
        ]});
        let models = parse_model_list(&body).unwrap();
        let ids: Vec<_> = models.iter().map(|m| m.id.as_str()).collect();
        assert_eq!(ids, ["qwen-coder", "x"]);
        assert_eq!(models[0].context, Some(32768));
        assert_eq!(models[1].context, Some(1000));
    }

    #[test]
    fn a_body_without_a_list_is_an_error() {
        assert!(parse_model_list(&json!({"error": "nope"})).is_err());
        assert!(parse_model_list(&json!("text")).is_err());
    }
}
