//! `GET /health`: a small status once the engine is serving.

use std::sync::Arc;

use axum::extract::State;
use axum::Json;
use serde_json::{json, Value};

use crate::engine::state::AppState;

pub async fn health(State(state): State<Arc<AppState>>) -> Json<Value> {
    let catalog = state.catalog.current();
    Json(json!({
        "status": "ok",
        "version": env!("CARGO_PKG_VERSION"),
        "uptime_seconds": state.started_at.elapsed().as_secs(),
        "providers": catalog.providers.len(),
        "models": catalog.rows.len(),
        "key_store": state.credentials.store_kind(),
        "sharedState": state.shared.view(),
    }))
}
