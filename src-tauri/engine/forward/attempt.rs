//! One attempt's bookkeeping, shared by the failover loop and a stream's rescue: what forwarding
//! needs from the engine (`ForwardContext`), an attempt's request-log line, and what a failed
//! attempt means for the row's health.

use std::sync::Arc;
use std::time::Duration;

use tokio::time::Instant;

use crate::engine::config::Settings;
use crate::engine::health::{AttemptReport, AttemptResult, SampleSource};
use crate::engine::providers::ModelRow;
use crate::engine::requestlog::AttemptLog;
use crate::engine::state::AppState;
use crate::engine::upstream::Failure;

/// What forwarding needs from the engine for one request: its state and the settings the
/// request started with. Owned (two `Arc`s), so a stream can still rescue itself after the
/// handler returned.
#[derive(Clone)]
pub struct ForwardContext {
    pub state: Arc<AppState>,
    pub settings: Arc<Settings>,
}

/// The request-log line of one attempt of `row` that began at `started`.
pub(super) fn attempt_log(
    row: &ModelRow,
    status: Option<u16>,
    started: Instant,
    error: Option<String>,
) -> AttemptLog {
    AttemptLog {
        provider: row.provider.key.clone(),
        model: row.upstream_id.clone(),
        status,
        ms: started.elapsed().as_millis() as u64,
        error,
        continuation: None,
    }
}

/// What a failed attempt means for the row's health: a gone model retires the row for
/// `retire_for`, a 429 cools it, anything else is a failure (for the breaker and error rate).
pub fn attempt_result(failure: &Failure, retire_for: Duration) -> AttemptResult {
    let message = failure.message.clone();
    if failure.is_model_gone() {
        AttemptResult::ModelGone {
            message,
            retire_for,
        }
    } else if failure.is_rate_limit() {
        AttemptResult::RateLimited { message }
    } else {
        AttemptResult::Failure {
            status: failure.status(),
            message,
            timeout: failure.is_timeout(),
            hard: failure.is_hard(),
        }
    }
}

pub(super) fn record_failure(context: &ForwardContext, row: &ModelRow, failure: &Failure) {
    if failure.is_model_gone() {
        tracing::info!(target: "modelrelay::route", row = %row.row_id(), "the provider no longer serves this model; retired: {}", failure.message);
    }
    context.state.health.record(
        row,
        AttemptReport {
            source: SampleSource::Traffic,
            outcome: attempt_result(failure, context.settings.retire_for()),
            rate: failure.rate.clone(),
        },
        Instant::now(),
    );
}
