//! Reading a provider's model list (`GET <base>/models`) and keeping only chat models.
//! Parsing is pure; `fetch_models` is the one function here that does IO.

use std::collections::HashMap;
use std::time::Duration;

use secrecy::{ExposeSecret, SecretString};
use serde_json::Value;

use futures_util::future::join_all;

use super::headers::{provider_headers, ClientIdentity};
use super::{describe_http_error, DiscoveryKind, Provider};

/// A model a provider says it serves.
#[derive(Debug, Clone, PartialEq)]
pub struct DiscoveredModel {
    pub id: String,
    pub name: Option<String>,
    pub context: Option<u32>,
}

/// A provider's last successful model list, and when each id was last listed by one.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ModelListing {
    pub models: Vec<DiscoveredModel>,
    /// Unix ms of the last list that had each id, for every id a list had since the start.
    pub last_seen: HashMap<String, u64>,
}

impl ModelListing {
    /// Takes a new successful list seen at `at` (unix ms). An empty list says nothing (a
    /// provider that lists no model at all is having a bad moment) and changes nothing.
    pub fn update(&mut self, models: Vec<DiscoveredModel>, at: u64) {
        if models.is_empty() {
            return;
        }
        for model in &models {
            self.last_seen.insert(model.id.clone(), at);
        }
        self.models = models;
    }

    pub fn lists(&self, id: &str) -> bool {
        self.models.iter().any(|model| model.id == id)
    }
}

/// Why a discovery failed (kept for the UI; never contains a key).
#[derive(Debug, Clone, thiserror::Error)]
pub enum DiscoveryError {
    #[error("`{url}` could not be reached: {reason}")]
    Unreachable { url: String, reason: String },
    #[error("`{url}` answered HTTP {status}")]
    Status {
        url: String,
        status: u16,
        /// The answer's `Retry-After`, as it was written.
        retry_after: Option<String>,
    },
    #[error("`{url}` did not return a model list: {reason}")]
    Unparseable { url: String, reason: String },
}

/// Why a body is not an OpenAI model list.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum ModelListError {
    #[error("no `data` array")]
    NoDataArray,
    #[error("not a JSON object")]
    NotAnObject,
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
pub fn parse_model_list(body: &Value) -> Result<Vec<DiscoveredModel>, ModelListError> {
    let entries = match body {
        Value::Object(map) => map
            .get("data")
            .or_else(|| map.get("models"))
            .and_then(Value::as_array)
            .ok_or(ModelListError::NoDataArray)?,
        Value::Array(entries) => entries,
        _ => return Err(ModelListError::NotAnObject),
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

/// Runs the provider's kind of discovery.
pub async fn discover(
    http: &reqwest::Client,
    provider: &Provider,
    key: Option<&SecretString>,
    identity: &ClientIdentity,
) -> Result<Vec<DiscoveredModel>, DiscoveryError> {
    // A key bound to another host is not sent where the provider points now.
    let key = key.filter(|_| provider.may_send_key());
    let models = match provider.discovery {
        DiscoveryKind::None => return Ok(Vec::new()),
        DiscoveryKind::OllamaTags => return fetch_ollama(http, provider, key).await,
        _ => fetch_models(http, provider, key, identity).await?,
    };
    Ok(keep_for_kind(provider.discovery, models))
}

/// OpenRouter and KiloCode: only `:free` ids are free to call.
pub fn keep_for_kind(kind: DiscoveryKind, models: Vec<DiscoveredModel>) -> Vec<DiscoveredModel> {
    match kind {
        DiscoveryKind::OpenrouterFree | DiscoveryKind::KilocodeFree => models
            .into_iter()
            .filter(|m| m.id.ends_with(":free"))
            .collect(),
        _ => models,
    }
}

fn authorized(
    request: reqwest::RequestBuilder,
    key: Option<&SecretString>,
) -> reqwest::RequestBuilder {
    match key {
        Some(key) => request.bearer_auth(key.expose_secret()),
        None => request,
    }
}

async fn get_json(request: reqwest::RequestBuilder, url: &str) -> Result<Value, DiscoveryError> {
    let response = request
        .timeout(DISCOVERY_TIMEOUT)
        .send()
        .await
        .map_err(|error| DiscoveryError::Unreachable {
            url: url.to_string(),
            reason: describe_http_error(&error),
        })?;
    let status = response.status();
    if !status.is_success() {
        return Err(DiscoveryError::Status {
            url: url.to_string(),
            status: status.as_u16(),
            retry_after: response
                .headers()
                .get(reqwest::header::RETRY_AFTER)
                .and_then(|value| value.to_str().ok())
                .map(str::to_string),
        });
    }
    response
        .json()
        .await
        .map_err(|error| DiscoveryError::Unparseable {
            url: url.to_string(),
            reason: describe_http_error(&error),
        })
}

/// Fetches and parses `<base>/models`.
pub async fn fetch_models(
    http: &reqwest::Client,
    provider: &Provider,
    key: Option<&SecretString>,
    identity: &ClientIdentity,
) -> Result<Vec<DiscoveredModel>, DiscoveryError> {
    let url = provider.models_url();
    let mut request = authorized(http.get(&url), key);
    for (name, value) in provider_headers(provider, identity) {
        request = request.header(name, value);
    }
    let body = get_json(request, &url).await?;
    parse_model_list(&body).map_err(|reason| DiscoveryError::Unparseable {
        url,
        reason: reason.to_string(),
    })
}

/// Ollama's native API lives at the host root, beside its `/v1` compatibility layer.
fn ollama_host(base_url: &str) -> &str {
    base_url.strip_suffix("/v1").unwrap_or(base_url)
}

/// `GET /api/tags` for the names, `POST /api/show` for each model's context window.
async fn fetch_ollama(
    http: &reqwest::Client,
    provider: &Provider,
    key: Option<&SecretString>,
) -> Result<Vec<DiscoveredModel>, DiscoveryError> {
    let host = ollama_host(&provider.base_url);
    let url = format!("{host}/api/tags");
    let body = get_json(authorized(http.get(&url), key), &url).await?;
    let names: Vec<String> = body
        .get("models")
        .and_then(Value::as_array)
        .ok_or_else(|| DiscoveryError::Unparseable {
            url: url.clone(),
            reason: "no `models` array".into(),
        })?
        .iter()
        .filter_map(|m| {
            m.get("name")
                .or_else(|| m.get("model"))
                .and_then(Value::as_str)
        })
        .filter(|name| is_chat_model(name))
        .map(str::to_string)
        .take(MAX_OLLAMA_MODELS)
        .collect();
    let show_url = format!("{host}/api/show");
    let contexts = join_all(names.iter().map(|name| {
        let request =
            authorized(http.post(&show_url), key).json(&serde_json::json!({"model": name}));
        let show_url = show_url.clone();
        async move {
            get_json(request, &show_url)
                .await
                .ok()
                .and_then(|show| ollama_context(&show))
        }
    }))
    .await;
    Ok(names
        .into_iter()
        .zip(contexts)
        .map(|(id, context)| DiscoveredModel {
            id,
            name: None,
            context,
        })
        .collect())
}

const MAX_OLLAMA_MODELS: usize = 64;

/// The configured `num_ctx` if set, else the model's maximum from `model_info`.
pub fn ollama_context(show: &Value) -> Option<u32> {
    let configured = show
        .get("parameters")
        .and_then(Value::as_str)
        .and_then(|parameters| {
            parameters.lines().find_map(|line| {
                let mut words = line.split_whitespace();
                (words.next() == Some("num_ctx"))
                    .then(|| words.next()?.parse().ok())
                    .flatten()
            })
        });
    configured.or_else(|| {
        show.get("model_info")?
            .as_object()?
            .iter()
            .find(|(key, _)| key.ends_with(".context_length"))
            .and_then(|(_, value)| value.as_u64())
            .and_then(|n| u32::try_from(n).ok())
    })
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
    fn openrouter_and_kilocode_keep_only_free_models() {
        let models = vec![
            DiscoveredModel {
                id: "a/b:free".into(),
                name: None,
                context: None,
            },
            DiscoveredModel {
                id: "a/paid".into(),
                name: None,
                context: None,
            },
        ];
        assert_eq!(
            keep_for_kind(DiscoveryKind::OpenrouterFree, models.clone()).len(),
            1
        );
        assert_eq!(keep_for_kind(DiscoveryKind::OpenaiModels, models).len(), 2);
    }

    #[test]
    fn ollama_context_prefers_num_ctx_over_the_model_maximum() {
        let show = json!({"parameters": "stop \"<|im_end|>\"\nnum_ctx 16384", "model_info": {"qwen2.context_length": 32768}});
        assert_eq!(ollama_context(&show), Some(16384));
        let show = json!({"model_info": {"general.architecture": "llama", "llama.context_length": 131072}});
        assert_eq!(ollama_context(&show), Some(131072));
        assert_eq!(ollama_context(&json!({})), None);
        assert_eq!(
            ollama_host("http://127.0.0.1:11434/v1"),
            "http://127.0.0.1:11434"
        );
    }

    #[test]
    fn a_body_without_a_list_is_an_error() {
        assert!(parse_model_list(&json!({"error": "nope"})).is_err());
        assert!(parse_model_list(&json!("text")).is_err());
    }
}
