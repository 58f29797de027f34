//! `GET /metrics`: the Prometheus scrape, mounted with the admin routes (loopback only, or the
//! admin token on a network bind). The numbers come from `engine::metrics`.

use std::sync::Arc;

use axum::extract::State;
use axum::response::{IntoResponse, Response};
use http::header;

use crate::engine::error::ApiError;
use crate::engine::metrics::{Gauged, CONTENT_TYPE};
use crate::engine::state::AppState;

pub async fn metrics(State(state): State<Arc<AppState>>) -> Result<Response, ApiError> {
    let settings = state.config.settings();
    let catalog = state.catalog.current();
    let text = state
        .metrics
        .render(Gauged {
            settings: &settings,
            catalog: &catalog,
            credentials: &state.credentials,
            health: &state.health,
        })
        .map_err(|error| ApiError::Storage(format!("the metrics could not be encoded: {error}")))?;
    Ok(([(header::CONTENT_TYPE, CONTENT_TYPE)], text).into_response())
}
