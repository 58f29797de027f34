//! `POST /v1/messages` and `POST /v1/messages/count_tokens`: the Anthropic Messages API over
//! the same planning and failover path as `/v1/chat/completions`. A model name this router
//! does not serve (`claude-sonnet-4-5`) is routed as `auto-fastest`. Errors take Anthropic's
//! shape. Translation lives in `translate::anthropic`; this module only wires it up.

use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::State;
use axum::response::Response;
use axum::Json;
use http::{HeaderValue, StatusCode};
use serde_json::{json, Value};

use crate::engine::error::ApiError;
use crate::engine::forward::{route, serves_model, ChatRequest};
use crate::engine::state::AppState;
use crate::engine::translate::{anthropic, OpenAiEvent};

use super::chat::body_error;
use super::translated::{json_response, respond, Dialect, StreamDialect};

struct Anthropic {
    model: String,
}

impl Dialect for Anthropic {
    type Stream = anthropic::StreamTranslator;

    fn answer(&self, openai: &Value) -> Value {
        anthropic::response_from_openai(openai, &self.model)
    }

    fn error(&self, status: StatusCode, message: &str) -> Value {
        anthropic::error_body(status.as_u16(), message)
    }

    fn stream(&self) -> Self::Stream {
        anthropic::StreamTranslator::new(&self.model)
    }
}

impl StreamDialect for anthropic::StreamTranslator {
    fn on_event(&mut self, event: &OpenAiEvent) -> String {
        anthropic::StreamTranslator::on_event(self, event)
    }

    fn finish(&mut self) -> String {
        anthropic::StreamTranslator::finish(self)
    }

    fn error(&mut self, message: &str) -> String {
        anthropic::StreamTranslator::error(self, message)
    }

    fn ping(&self) -> Option<String> {
        Some(anthropic::StreamTranslator::ping())
    }

    fn ended(&self) -> bool {
        anthropic::StreamTranslator::ended(self)
    }
}

pub async fn messages(
    State(state): State<Arc<AppState>>,
    body: Result<Bytes, BytesRejection>,
) -> Response {
    match forward_messages(&state, body).await {
        Ok(response) => response,
        Err(error) => error_response(&error),
    }
}

async fn forward_messages(
    state: &Arc<AppState>,
    body: Result<Bytes, BytesRejection>,
) -> Result<Response, ApiError> {
    let settings = state.config.settings();
    let client = parse_body(body, settings.max_body_bytes())?;
    let model = client
        .get("model")
        .and_then(Value::as_str)
        .unwrap_or("auto-fastest")
        .to_string();
    let openai =
        anthropic::request_to_openai(&client).map_err(|invalid| ApiError::InvalidRequest {
            message: invalid.message,
            param: Some(invalid.param),
        })?;
    let request = translated_request(state, openai, &model)?;
    let routed = route(state, &settings, request).await?;
    Ok(respond(&Anthropic { model }, routed).await)
}

/// The chat request a translator built, with the model to route.
pub fn translated_request(
    state: &AppState,
    openai: Value,
    model: &str,
) -> Result<ChatRequest, ApiError> {
    let Value::Object(mut object) = openai else {
        return Err(ApiError::InvalidRequest {
            message: "the request body must be a JSON object".into(),
            param: None,
        });
    };
    object.insert("model".into(), Value::String(routed_model(state, model)));
    ChatRequest::from_object(object)
}

/// The model to route: the client's when this router serves it, else `auto-fastest`.
pub fn routed_model(state: &AppState, model: &str) -> String {
    if serves_model(state, model) {
        model.to_string()
    } else {
        "auto-fastest".to_string()
    }
}

pub fn parse_body(body: Result<Bytes, BytesRejection>, limit: usize) -> Result<Value, ApiError> {
    let body = body.map_err(|rejection| body_error(&rejection, limit))?;
    let value: Value = serde_json::from_slice(&body)
        .map_err(|error| ApiError::MalformedJson(error.to_string()))?;
    if value.is_object() {
        Ok(value)
    } else {
        Err(ApiError::InvalidRequest {
            message: "the request body must be a JSON object".into(),
            param: None,
        })
    }
}

pub async fn count_tokens(
    State(state): State<Arc<AppState>>,
    body: Result<Bytes, BytesRejection>,
) -> Response {
    let counted = parse_body(body, state.config.settings().max_body_bytes()).and_then(|client| {
        let messages = client.get("messages").and_then(Value::as_array);
        if !messages.is_some_and(|list| list.iter().all(Value::is_object)) {
            return Err(ApiError::InvalidRequest {
                message: "`messages` must be an array of message objects".into(),
                param: Some("messages"),
            });
        }
        Ok(anthropic::estimate_input_tokens(&client))
    });
    match counted {
        Ok(tokens) => {
            axum::response::IntoResponse::into_response(Json(json!({"input_tokens": tokens})))
        }
        Err(error) => error_response(&error),
    }
}

/// The router's own error in Anthropic's shape, with the same status.
fn error_response(error: &ApiError) -> Response {
    let status = error.status_code();
    let mut response = json_response(
        status,
        &anthropic::error_body(status.as_u16(), &error.to_string()),
    );
    if let ApiError::RateLimited {
        retry_after_secs, ..
    } = error
    {
        if let Ok(value) = HeaderValue::from_str(&retry_after_secs.to_string()) {
            response
                .headers_mut()
                .insert(http::header::RETRY_AFTER, value);
        }
    }
    response
}
