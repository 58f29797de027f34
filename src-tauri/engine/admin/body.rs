//! The JSON body of an admin change, with the router's own errors: a body over the limit is
//! `413 request_too_large` like on `/v1`, anything else unreadable is `400 invalid_json`.

use std::sync::Arc;

use axum::extract::{FromRequest, Request};
use axum::http::StatusCode;
use axum::Json;
use serde_json::Value;

use crate::engine::error::ApiError;
use crate::engine::state::AppState;

/// A JSON request body read within the body limit.
pub struct JsonBody(pub Value);

impl FromRequest<Arc<AppState>> for JsonBody {
    type Rejection = ApiError;

    async fn from_request(request: Request, state: &Arc<AppState>) -> Result<Self, ApiError> {
        match Json::<Value>::from_request(request, state).await {
            Ok(Json(value)) => Ok(Self(value)),
            Err(rejection) if rejection.status() == StatusCode::PAYLOAD_TOO_LARGE => {
                Err(ApiError::BodyTooLarge {
                    limit: state.config.settings().max_body_bytes(),
                })
            }
            Err(rejection) => Err(ApiError::MalformedJson(rejection.body_text())),
        }
    }
}
