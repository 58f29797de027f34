//! The one path every endpoint shares: a parsed chat request → its selector → the rows it
//! names → the plan → the failover loop → a typed [`Routed`] answer. Edges only parse their
//! dialect in and serialise the answer out.

use std::sync::Arc;
use std::time::Duration;

use tokio::time::Instant;

use crate::engine::catalog::Catalog;
use crate::engine::config::Settings;
use crate::engine::error::ApiError;
use crate::engine::health::Window;
use crate::engine::routing::{parse_selector, plan_request, resolve_rows, Plan, SkipReason};
use crate::engine::state::AppState;

use super::attempt::ForwardContext;
use super::executor::{forward_chat, Routed};
use super::policy;
use super::request::ChatRequest;
use super::trace::{log_failure, Trace};

/// Plans and forwards a parsed chat request.
pub async fn route(
    state: &Arc<AppState>,
    settings: &Arc<Settings>,
    request: ChatRequest,
) -> Result<Routed, ApiError> {
    let catalog = state.catalog.current();
    let selector = parse_selector(request.model.as_deref())?;
    let requested = request
        .model
        .clone()
        .unwrap_or_else(|| "auto-fastest".into());
    let messages = settings.log_prompts.then(|| request.messages_preview(300));
    let trace = Trace::new(&requested, request.stream, messages);
    let Some(rows) = resolve_rows(&catalog, &selector, &settings.model_tags) else {
        return Err(log_refusal(
            state,
            trace,
            ApiError::ModelNotFound(requested),
        ));
    };
    let needs = request.needs();
    let limit = Some(policy::candidate_limit(settings.max_attempts()));
    let plan_now = |now| {
        plan_request(
            state, settings, &catalog, &selector, needs, &rows, now, limit,
        )
    };
    let mut plan = plan_now(Instant::now());
    if plan.candidates.is_empty() {
        if let Some(reset) = policy::reset_worth_waiting(plan.earliest_reset(), Instant::now()) {
            tokio::time::sleep_until(reset).await;
            plan = plan_now(Instant::now());
        }
    }
    if plan.candidates.is_empty() {
        // Every usable row is failing: wait for the first circuit trial and send this request
        // as that trial, rather than answering 503 at once.
        let deadline = trace.started + settings.routing_deadline();
        if let Some(trial) =
            policy::trial_worth_waiting(plan.earliest_trial(), Instant::now(), deadline)
        {
            tracing::info!(target: "modelrelay::route", wait_ms = trial.saturating_duration_since(Instant::now()).as_millis() as u64, "every row is failing; waiting for the next circuit trial");
            tokio::time::sleep_until(trial).await;
            plan = plan_now(Instant::now());
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
        state: state.clone(),
        settings: settings.clone(),
    };
    forward_chat(&context, Arc::new(request), plan.candidates, trace).await
}

/// True when `model` names something this router serves (an `auto-*` selector, a group or a
/// row). The translating endpoints route any other name (`claude-sonnet-4-5`) as `auto-fastest`.
pub fn serves_model(state: &AppState, model: &str) -> bool {
    let catalog = state.catalog.current();
    parse_selector(Some(model))
        .ok()
        .and_then(|selector| resolve_rows(&catalog, &selector, &state.config.settings().model_tags))
        .is_some()
}

/// Logs a request the router refused before trying any row, and passes the error on.
fn log_refusal(state: &AppState, trace: Trace, error: ApiError) -> ApiError {
    log_failure(&state.log, trace, error)
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
