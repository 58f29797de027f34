//! `POST /v1/chat/completions`: parse, plan, forward.

use std::sync::Arc;
use std::time::Duration;

use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::State;
use axum::response::Response;
use tokio::time::Instant;

use crate::engine::catalog::Catalog;
use crate::engine::config::{PinningMode, Settings};
use crate::engine::error::ApiError;
use crate::engine::forward::{forward_chat, ChatRequest, Ending, ForwardContext, Trace};
use crate::engine::health::Window;
use crate::engine::providers::{ModelRow, Provider};
use crate::engine::routing::{
    parse_selector, plan_candidates, resolve_rows, Plan, PlanInputs, RankOrder, Selector,
    SkipReason, Target,
};
use crate::engine::state::AppState;

/// When every candidate is cooling down and the first comes back within this long, wait.
const WAIT_FOR_RESET: Duration = Duration::from_secs(5);

pub async fn chat_completions(
    State(state): State<Arc<AppState>>,
    body: Result<Bytes, BytesRejection>,
) -> Result<Response, ApiError> {
    let settings = state.config.settings();
    let body = body.map_err(|rejection| body_error(&rejection, settings.max_body_bytes()))?;
    let request = ChatRequest::parse(&body)?;
    route_chat(&state, &settings, request).await
}

/// True when `model` names something this router serves (an `auto-*` selector, a group or a
/// row). The translating endpoints route any other name (`claude-sonnet-4-5`) as `auto-fastest`.
pub fn serves_model(state: &AppState, model: &str) -> bool {
    let catalog = state.catalog.current();
    parse_selector(Some(model))
        .ok()
        .and_then(|selector| resolve_rows(&catalog, &selector))
        .is_some()
}

/// Plans and forwards a parsed chat request: the one path every endpoint shares. The answer is
/// the upstream's OpenAI response, relayed as it arrives.
pub async fn route_chat(
    state: &AppState,
    settings: &Settings,
    request: ChatRequest,
) -> Result<Response, ApiError> {
    let catalog = state.catalog.current();
    let selector =
        parse_selector(request.model.as_deref()).map_err(|message| ApiError::InvalidRequest {
            message,
            param: Some("model"),
        })?;
    let requested = request
        .model
        .clone()
        .unwrap_or_else(|| "auto-fastest".into());
    let messages = settings.log_prompts.then(|| request.messages_preview(300));
    let trace = Trace::new(&requested, request.stream, messages);
    let Some(rows) = resolve_rows(&catalog, &selector) else {
        return Err(log_refusal(
            state,
            trace,
            ApiError::ModelNotFound(requested),
        ));
    };
    let mut plan = plan_request(
        state,
        settings,
        &catalog,
        &selector,
        Needs::from(&request),
        rows.clone(),
        Instant::now(),
    );
    if plan.candidates.is_empty() {
        if let Some(reset) = plan
            .earliest_reset()
            .filter(|r| r.duration_since(Instant::now()) <= WAIT_FOR_RESET)
        {
            tokio::time::sleep_until(reset).await;
            plan = plan_request(
                state,
                settings,
                &catalog,
                &selector,
                Needs::from(&request),
                rows,
                Instant::now(),
            );
        }
    }
    if plan.candidates.is_empty() {
        let error = nothing_available(state, &catalog, &requested, &plan);
        return Err(log_refusal(state, trace, error));
    }
    if state.log_requests {
        tracing::info!(
            target: "modelrelay::request",
            model = %requested,
            candidates = ?plan.candidates.iter().take(6).map(|c| c.row.row_id()).collect::<Vec<_>>(),
            messages = ?request.messages_preview(500),
            "request"
        );
    }
    let context = ForwardContext {
        http: &state.http,
        credentials: &state.credentials,
        settings,
        identity: &state.identity,
        kiro: &state.kiro,
        health: &state.health,
        log: &state.log,
    };
    forward_chat(&context, &request, &plan.candidates, trace).await
}

/// Logs a request the router refused before trying any row, and passes the error on.
fn log_refusal(state: &AppState, trace: Trace, error: ApiError) -> ApiError {
    state.log.push(trace.finish(Ending {
        status: error.status_code().as_u16(),
        row: None,
        outcome: "failed",
        error: Some(error.to_string()),
        ttft: None,
        tokens: None,
    }));
    error
}

pub fn body_error(rejection: &BytesRejection, limit: usize) -> ApiError {
    if rejection.status() == axum::http::StatusCode::PAYLOAD_TOO_LARGE {
        ApiError::BodyTooLarge { limit }
    } else {
        ApiError::MalformedJson(rejection.body_text())
    }
}

/// The pinned rows, which go first for `auto-*` requests.
pub fn pinned_rows(settings: &Settings, catalog: &Catalog) -> Vec<String> {
    let Some(pin) = &settings.pinned else {
        return Vec::new();
    };
    match settings.pinning_mode {
        PinningMode::Exact => vec![format!("{}/{}", pin.provider, pin.model_id)],
        PinningMode::Canonical => catalog
            .group_rows(&pin.group)
            .map(|row| row.row_id())
            .collect(),
    }
}

/// What a request needs from a row, beyond being named by its selector.
#[derive(Debug, Clone, Copy, Default)]
pub struct Needs {
    pub wants_tools: bool,
    pub has_images: bool,
    pub estimated_prompt_tokens: u32,
}

impl From<&ChatRequest> for Needs {
    fn from(request: &ChatRequest) -> Self {
        Self {
            wants_tools: request.wants_tools,
            has_images: request.has_images,
            estimated_prompt_tokens: request.estimated_prompt_tokens,
        }
    }
}

/// The plan for `rows` as this engine would make it now: health, pin, floor and order applied.
pub fn plan_request(
    state: &AppState,
    settings: &Settings,
    catalog: &Catalog,
    selector: &Selector,
    needs: Needs,
    rows: Vec<Arc<ModelRow>>,
    now: Instant,
) -> Plan {
    let has_key = |provider: &Provider| state.credentials.has_key(settings, &provider.key);
    let condition = |row: &ModelRow| state.health.condition(row, now);
    let pinned = if selector.is_auto() {
        pinned_rows(settings, catalog)
    } else {
        Vec::new()
    };
    plan_candidates(
        rows,
        &PlanInputs {
            settings,
            cli_bans: &state.cli_bans,
            has_key: &has_key,
            condition: &condition,
            now,
            order: if selector.target == Target::AutoBest {
                RankOrder::Best
            } else {
                RankOrder::Fastest
            },
            quality_floor: if selector.is_auto() {
                settings.quality_floor()
            } else {
                None
            },
            pinned: &pinned,
            wants_tools: needs.wants_tools,
            has_images: needs.has_images,
            estimated_prompt_tokens: needs.estimated_prompt_tokens,
        },
    )
}

/// "in 45 s", "in 12 min", "in 3 h 5 min".
fn describe_wait(wait: Duration) -> String {
    let seconds = wait.as_secs_f64().ceil() as u64;
    match seconds {
        0..=119 => format!("in {seconds} s"),
        120..=3599 => format!("in {} min", seconds.div_ceil(60)),
        _ => format!("in {} h {} min", seconds / 3600, (seconds % 3600) / 60),
    }
}

fn nothing_available(
    state: &AppState,
    catalog: &Catalog,
    requested: &str,
    plan: &Plan,
) -> ApiError {
    let now = Instant::now();
    if let Some(reset) = plan.earliest_reset() {
        let waits: Vec<String> = plan
            .skipped
            .iter()
            .filter_map(|(row, reason)| match reason {
                SkipReason::RateLimited { until, window } => Some(format!(
                    "`{}` resets {}{}",
                    row.row_id(),
                    describe_wait(until.saturating_duration_since(now)),
                    if *window == Window::Day {
                        " (daily quota)"
                    } else {
                        ""
                    }
                )),
                _ => None,
            })
            .take(8)
            .collect();
        let wait = reset.saturating_duration_since(now);
        return ApiError::RateLimited {
            message: format!(
                "every model for `{requested}` is rate-limited: {}",
                waits.join(", ")
            ),
            retry_after_secs: wait.as_secs_f64().ceil().max(1.0) as u64,
        };
    }
    let unconfigured = plan
        .skipped
        .iter()
        .all(|(_, reason)| matches!(reason, SkipReason::NoKey | SkipReason::ProviderDisabled));
    if catalog.rows.is_empty() || unconfigured {
        return ApiError::NoProviderAvailable(format!(
            "no provider is usable yet: add an API key (for example set GROQ_API_KEY or NVIDIA_API_KEY) or an OpenAI-compatible endpoint under `providers` in `{}`, then try again",
            state.config.path().display()
        ));
    }
    let reasons = plan
        .skipped
        .iter()
        .filter(|(_, reason)| *reason != SkipReason::NoKey)
        .take(10)
        .map(|(row, reason)| format!("`{}` ({})", row.row_id(), reason.describe()))
        .collect::<Vec<_>>()
        .join(", ");
    ApiError::NoProviderAvailable(format!(
        "no model is available for `{requested}` right now: {reasons}; unban a model, enable a provider, lower the minimum coding score or add an API key"
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn waits_read_naturally() {
        assert_eq!(describe_wait(Duration::from_millis(44_100)), "in 45 s");
        assert_eq!(describe_wait(Duration::from_secs(600)), "in 10 min");
        assert_eq!(
            describe_wait(Duration::from_secs(3 * 3600 + 300)),
            "in 3 h 5 min"
        );
    }
}
