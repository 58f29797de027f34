//! The HTTP edge: routes, body limit, security layers and the thin handlers that call into
//! the engine. `/v1` is the OpenAI API (with Anthropic's `/v1/messages` and OpenAI's
//! `/v1/responses` translated onto chat); `/` and `/api` are the page and its admin API.

pub mod chat;
pub mod connections;
pub mod guard;
mod health;
mod messages;
mod metrics;
mod models;
mod responses;
mod translated;
mod ui;

use std::sync::Arc;

use axum::extract::DefaultBodyLimit;
use axum::http::{Method, Uri};
use axum::middleware;
use axum::routing::{get, post};
use axum::Router;

use crate::engine::admin;
use crate::engine::error::ApiError;
use crate::engine::state::AppState;

pub fn router(state: Arc<AppState>) -> Router {
    let body_limit = state.config.settings().max_body_bytes();
    let openai = Router::new()
        .route("/v1/chat/completions", post(chat::chat_completions))
        .route("/v1/messages", post(messages::messages))
        .route("/v1/messages/count_tokens", post(messages::count_tokens))
        .route("/v1/models", get(models::list_models))
        .route("/v1/responses", post(responses::create_response))
        .route_layer(middleware::from_fn_with_state(
            state.clone(),
            guard::guard_router,
        ));
    let admin = Router::new()
        .nest("/api", admin::router())
        .route("/metrics", get(metrics::metrics))
        .route("/", get(ui::index))
        .route("/{file}", get(ui::asset))
        .route("/js/{file}", get(ui::script))
        .layer(middleware::from_fn(guard::require_json))
        .layer(middleware::from_fn_with_state(
            state.clone(),
            guard::guard_admin,
        ));
    Router::new()
        .merge(openai)
        .merge(admin)
        .route("/health", get(health::health))
        .fallback(not_found)
        .method_not_allowed_fallback(method_not_allowed)
        .layer(DefaultBodyLimit::max(body_limit))
        .layer(middleware::from_fn_with_state(
            state.clone(),
            guard::guard_edge,
        ))
        .with_state(state)
}

async fn not_found(uri: Uri) -> ApiError {
    ApiError::RouteNotFound(uri.path().to_string())
}

async fn method_not_allowed(method: Method, uri: Uri) -> ApiError {
    ApiError::MethodNotAllowed {
        method: method.to_string(),
        path: uri.path().to_string(),
    }
}
