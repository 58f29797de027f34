//! The admin API under `/api`: read views, changes, live events. Thin handlers over the
//! engine's state; the security rules live in `http::guard`.

pub mod accounts;
pub mod actions;
pub mod body;
pub mod events;
pub mod setup;
pub mod tags;
pub mod views;

use std::sync::Arc;

use axum::extract::State;
use axum::routing::{get, post, put};
use axum::{Json, Router};
use serde_json::{json, Value};

use crate::engine::state::AppState;

pub fn router() -> Router<Arc<AppState>> {
    Router::new()
        .route("/status", get(status))
        .route("/meta", get(meta))
        .route("/models", get(models))
        .route("/providers", get(providers))
        .route(
            "/settings",
            get(actions::get_settings).post(actions::set_settings),
        )
        .route(
            "/filter-rules",
            get(actions::get_filter_rules).post(actions::set_filter_rules),
        )
        .route(
            "/pinned",
            get(actions::get_pin)
                .post(actions::set_pin)
                .delete(actions::clear_pin),
        )
        .route("/models/ban", post(actions::ban))
        .route("/models/ping", post(actions::ping))
        .route("/models/tags", get(tags::get_tags).put(tags::set_tags))
        .route("/providers/refresh-all", post(actions::refresh_all))
        .route("/providers/{key}", post(actions::update_provider))
        .route(
            "/providers/{key}/key",
            put(actions::set_key).delete(actions::delete_key),
        )
        .route("/providers/{key}/refresh", post(actions::refresh_provider))
        .route(
            "/openai-compatible/endpoints",
            get(actions::list_endpoints).post(actions::add_endpoint),
        )
        .route(
            "/openai-compatible/endpoints/{id}",
            axum::routing::delete(actions::delete_endpoint),
        )
        .route("/config/export", post(actions::export))
        .route("/config/import/preview", post(actions::import_preview))
        .route("/config/import", post(actions::import))
        .route("/logs", get(logs))
        .route("/account-status", get(accounts::get_account_status))
        .route("/setup", get(setup::get_setup))
        .route("/setup/keys", post(setup::add_key))
        .route("/setup/agents/{id}", post(setup::configure_agent))
        .route("/setup/done", post(setup::set_done))
        .route("/events", get(events::events))
}

async fn status(State(state): State<Arc<AppState>>) -> Json<Value> {
    Json(views::status_view(&state))
}

async fn meta(State(state): State<Arc<AppState>>) -> Json<Value> {
    Json(views::meta(&state))
}

async fn models(State(state): State<Arc<AppState>>) -> Json<Value> {
    Json(views::models(&state))
}

async fn providers(State(state): State<Arc<AppState>>) -> Json<Value> {
    Json(views::providers(&state))
}

async fn logs(State(state): State<Arc<AppState>>) -> Json<Value> {
    Json(json!({"entries": state.log.entries()}))
}
