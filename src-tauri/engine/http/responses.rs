//! `POST /v1/responses`: the OpenAI Responses API (Codex CLI) over the same planning and
//! failover path as `/v1/chat/completions`, stateless. A model name this router does not serve
//! is routed as `auto-fastest`. Errors keep the OpenAI error shape. Translation lives in
//! `translate::responses`; this module only wires it up.

use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::State;
use axum::response::Response;
use http::StatusCode;
use serde_json::Value;

use crate::engine::error::{error_body, ApiError};
use crate::engine::forward::route;
use crate::engine::state::AppState;
use crate::engine::translate::{responses, OpenAiEvent};

use super::messages::{parse_body, translated_request};
use super::translated::{respond, Dialect, StreamDialect};

struct Responses {
    model: String,
    created_at: u64,
}

impl Dialect for Responses {
    type Stream = responses::StreamTranslator;

    fn answer(&self, openai: &Value) -> Value {
        responses::response_from_openai(openai, &self.model, self.created_at)
    }

    fn error(&self, status: StatusCode, message: &str) -> Value {
        let kind = match status.as_u16() {
            429 => "rate_limit_error",
            400..=499 => "invalid_request_error",
            _ => "upstream_error",
        };
        error_body(message, kind, None, &status.as_u16().to_string())
    }

    fn stream(&self) -> Self::Stream {
        responses::StreamTranslator::new(&self.model, self.created_at)
    }
}

impl StreamDialect for responses::StreamTranslator {
    fn on_event(&mut self, event: &OpenAiEvent) -> String {
        responses::StreamTranslator::on_event(self, event)
    }

    fn finish(&mut self) -> String {
        responses::StreamTranslator::finish(self)
    }

    fn error(&mut self, message: &str) -> String {
        responses::StreamTranslator::error(self, message)
    }

    fn ping(&self) -> Option<String> {
        None
    }

    fn ended(&self) -> bool {
        responses::StreamTranslator::ended(self)
    }
}

pub async fn create_response(
    State(state): State<Arc<AppState>>,
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
        responses::request_to_openai(&client).map_err(|invalid| ApiError::InvalidRequest {
            message: invalid.message,
            param: Some(invalid.param),
        })?;
    let request = translated_request(&state, openai, &model)?;
    let routed = route(&state, &settings, request).await?;
    let created_at = crate::engine::requestlog::unix_ms() / 1000;
    Ok(respond(&Responses { model, created_at }, routed).await)
}
