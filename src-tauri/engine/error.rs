//! The router's own errors and their one rendering: the OpenAI error body with the right status.
//! Upstream errors that are passed through unchanged never go through here.

use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use serde_json::json;

use crate::engine::routing::selector::SelectorError;
use crate::engine::upstream::failure::FailedAttempts;

/// An error the router itself produced while handling an HTTP request.
#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    #[error("the request body is not valid JSON: {0}")]
    MalformedJson(String),
    #[error("{message}")]
    InvalidRequest {
        message: String,
        param: Option<&'static str>,
    },
    #[error("the model `{0}` does not exist here; GET /v1/models lists the models this router serves, or use `auto-fastest`")]
    ModelNotFound(String),
    #[error("the request body is larger than the {limit}-byte limit; send a smaller request or raise `maxBodyBytes` in the config file")]
    BodyTooLarge { limit: usize },
    #[error("{0}")]
    NoProviderAvailable(String),
    #[error("{message}")]
    RateLimited {
        message: String,
        retry_after_secs: u64,
    },
    #[error("all {count} attempts failed: {attempts}", count = .0.len(), attempts = .0)]
    UpstreamFailed(FailedAttempts),
    #[error("all {count} attempts failed: {attempts}", count = .0.len(), attempts = .0)]
    UpstreamTimeout(FailedAttempts),
    #[error("{0}")]
    NotFound(String),
    #[error("{0}")]
    Conflict(String),
    #[error("{0}")]
    ConfirmationRequired(String),
    #[error("{0}")]
    Storage(String),
    #[error("`{method}` is not allowed on `{path}`")]
    MethodNotAllowed { method: String, path: String },
    #[error("no route for `{0}`; this router serves /v1/chat/completions, /v1/messages, /v1/messages/count_tokens, /v1/responses, /v1/models and /health")]
    RouteNotFound(String),
}

impl ApiError {
    pub fn status_code(&self) -> StatusCode {
        match self {
            Self::MalformedJson(_) | Self::InvalidRequest { .. } => StatusCode::BAD_REQUEST,
            Self::ModelNotFound(_) | Self::RouteNotFound(_) | Self::NotFound(_) => {
                StatusCode::NOT_FOUND
            }
            Self::Conflict(_) => StatusCode::CONFLICT,
            Self::ConfirmationRequired(_) => StatusCode::BAD_REQUEST,
            Self::Storage(_) => StatusCode::INTERNAL_SERVER_ERROR,
            Self::MethodNotAllowed { .. } => StatusCode::METHOD_NOT_ALLOWED,
            Self::BodyTooLarge { .. } => StatusCode::PAYLOAD_TOO_LARGE,
            Self::NoProviderAvailable(_) => StatusCode::SERVICE_UNAVAILABLE,
            Self::RateLimited { .. } => StatusCode::TOO_MANY_REQUESTS,
            Self::UpstreamFailed(_) => StatusCode::BAD_GATEWAY,
            Self::UpstreamTimeout(_) => StatusCode::GATEWAY_TIMEOUT,
        }
    }

    /// The OpenAI `error.type` for this error.
    pub fn error_type(&self) -> &'static str {
        match self {
            Self::MalformedJson(_)
            | Self::InvalidRequest { .. }
            | Self::ModelNotFound(_)
            | Self::BodyTooLarge { .. }
            | Self::MethodNotAllowed { .. }
            | Self::NotFound(_)
            | Self::Conflict(_)
            | Self::ConfirmationRequired(_)
            | Self::RouteNotFound(_) => "invalid_request_error",
            Self::Storage(_) => "server_error",
            Self::RateLimited { .. } => "rate_limit_error",
            Self::NoProviderAvailable(_) | Self::UpstreamFailed(_) | Self::UpstreamTimeout(_) => {
                "upstream_error"
            }
        }
    }

    /// The OpenAI `error.code` for this error.
    pub fn code(&self) -> &'static str {
        match self {
            Self::MalformedJson(_) => "invalid_json",
            Self::InvalidRequest { .. } => "invalid_request",
            Self::ModelNotFound(_) => "model_not_found",
            Self::BodyTooLarge { .. } => "request_too_large",
            Self::NoProviderAvailable(_) => "no_provider_available",
            Self::RateLimited { .. } => "rate_limited",
            Self::UpstreamFailed(_) => "upstream_failed",
            Self::UpstreamTimeout(_) => "upstream_timeout",
            Self::RouteNotFound(_) => "not_found",
            Self::MethodNotAllowed { .. } => "method_not_allowed",
            Self::NotFound(_) => "not_found",
            Self::Conflict(_) => "conflict",
            Self::ConfirmationRequired(_) => "confirmation_required",
            Self::Storage(_) => "storage_failed",
        }
    }

    fn param(&self) -> Option<&'static str> {
        match self {
            Self::InvalidRequest { param, .. } => *param,
            Self::ModelNotFound(_) => Some("model"),
            _ => None,
        }
    }

    /// The `{"error": {...}}` body, also used for in-band SSE error events.
    pub fn body(&self) -> serde_json::Value {
        error_body(
            &self.to_string(),
            self.error_type(),
            self.param(),
            self.code(),
        )
    }
}

/// Builds an OpenAI-shaped error object.
pub fn error_body(
    message: &str,
    error_type: &str,
    param: Option<&str>,
    code: &str,
) -> serde_json::Value {
    json!({"error": {"message": message, "type": error_type, "param": param, "code": code}})
}

impl From<SelectorError> for ApiError {
    fn from(error: SelectorError) -> Self {
        Self::InvalidRequest {
            message: error.to_string(),
            param: Some("model"),
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let mut response = (self.status_code(), axum::Json(self.body())).into_response();
        if let Self::RateLimited {
            retry_after_secs, ..
        } = &self
        {
            if let Ok(value) = HeaderValue::from_str(&retry_after_secs.to_string()) {
                response.headers_mut().insert(header::RETRY_AFTER, value);
            }
        }
        response
    }
}
