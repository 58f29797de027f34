//! `POST /v1/chat/completions`: parse, plan, forward.

use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::State;
use axum::response::Response;

use crate::engine::catalog::Catalog;
use crate::engine::config::Settings;
use crate::engine::error::ApiError;
use crate::engine::forward::{forward_chat, ChatRequest, ForwardContext};
use crate::engine::routing::{
    parse_selector, plan_candidates, resolve_rows, Plan, PlanInputs, SkipReason,
};
use crate::engine::state::AppState;

pub async fn chat_completions(
    State(state): State<Arc<AppState>>,
    body: Result<Bytes, BytesRejection>,
) -> Result<Response, ApiError> {
    let settings = state.config.settings();
    let body = body.map_err(|rejection| body_error(&rejection, settings.max_body_bytes()))?;
    let request = ChatRequest::parse(&body)?;
    let catalog = state.catalog.current();
    let plan = plan_request(&state, &settings, &catalog, &request)?;
    if state.log_requests {
        tracing::info!(
            target: "modelrelay::request",
            model = request.model.as_deref().unwrap_or("auto-fastest"),
            candidates = ?plan.candidates.iter().map(|r| r.row_id()).collect::<Vec<_>>(),
            messages = ?request.messages_preview(500),
            "request"
        );
    }
    let context = ForwardContext {
        http: &state.http,
        credentials: &state.credentials,
        settings: &settings,
        identity: &state.identity,
    };
    forward_chat(&context, &request, &plan.candidates).await
}

fn body_error(rejection: &BytesRejection, limit: usize) -> ApiError {
    if rejection.status() == axum::http::StatusCode::PAYLOAD_TOO_LARGE {
        ApiError::BodyTooLarge { limit }
    } else {
        ApiError::MalformedJson(rejection.body_text())
    }
}

fn plan_request(
    state: &AppState,
    settings: &Settings,
    catalog: &Catalog,
    request: &ChatRequest,
) -> Result<Plan, ApiError> {
    let selector =
        parse_selector(request.model.as_deref()).map_err(|message| ApiError::InvalidRequest {
            message,
            param: Some("model"),
        })?;
    let requested = request
        .model
        .clone()
        .unwrap_or_else(|| "auto-fastest".into());
    let rows =
        resolve_rows(catalog, &selector).ok_or(ApiError::ModelNotFound(requested.clone()))?;
    let has_key = |provider: &crate::engine::providers::Provider| {
        state.credentials.has_key(settings, &provider.key)
    };
    let plan = plan_candidates(
        rows,
        &PlanInputs {
            settings,
            cli_bans: &state.cli_bans,
            has_key: &has_key,
            wants_tools: request.wants_tools,
            has_images: request.has_images,
            estimated_prompt_tokens: request.estimated_prompt_tokens,
        },
    );
    if plan.candidates.is_empty() {
        return Err(ApiError::NoProviderAvailable(nothing_available_message(
            state, catalog, &requested, &plan,
        )));
    }
    Ok(plan)
}

fn nothing_available_message(
    state: &AppState,
    catalog: &Catalog,
    requested: &str,
    plan: &Plan,
) -> String {
    let unconfigured = plan
        .skipped
        .iter()
        .all(|(_, reason)| matches!(reason, SkipReason::NoKey | SkipReason::ProviderDisabled));
    if catalog.rows.is_empty() || unconfigured {
        return format!(
            "no provider is usable yet: add an API key (for example set GROQ_API_KEY or NVIDIA_API_KEY) or an OpenAI-compatible endpoint under `providers` in `{}`, then try again",
            state.config.path().display()
        );
    }
    let reasons = plan
        .skipped
        .iter()
        .filter(|(_, reason)| *reason != SkipReason::NoKey)
        .take(10)
        .map(|(row, reason)| format!("`{}` ({})", row.row_id(), reason.describe()))
        .collect::<Vec<_>>()
        .join(", ");
    format!("no model is available for `{requested}` right now: {reasons}; unban a model, enable a provider or add an API key")
}
