//! One attempt, shared by the failover loop, a hedge and a stream's rescue: what forwarding
//! needs from the engine (`ForwardContext`), the pacing slot an attempt takes, `send` (the
//! candidate's time budget, what the answer teaches pacing, health and the key pool), its
//! request-log line, and what a failed attempt means for the row's health.

use std::sync::Arc;
use std::time::Duration;

use tokio::time::Instant;

use crate::engine::config::Settings;
use crate::engine::credentials::KeyChoice;
use crate::engine::health::scoring::ttft_budget;
use crate::engine::health::{AttemptReport, AttemptResult, NextFree, SampleSource};
use crate::engine::providers::ModelRow;
use crate::engine::requestlog::AttemptLog;
use crate::engine::routing::Candidate;
use crate::engine::state::AppState;
use crate::engine::upstream::{self, Call, Failure, Reply};

use super::policy;
use super::request::ChatRequest;

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
        hedge: None,
        skipped: None,
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

/// The key for the next request to `row`'s provider, once its per-minute window has room;
/// the request is counted in the window and in the provider's hour (`HedgeLedger`).
pub(super) fn take_slot(
    context: &ForwardContext,
    row: &ModelRow,
    now: Instant,
) -> Result<Option<KeyChoice>, NextFree> {
    let state = &context.state;
    let key = state
        .credentials
        .key_for(&context.settings, &row.provider.key, now);
    let key_id = key.as_ref().map_or(0, |choice| choice.index);
    state.pacer.try_take(row, key_id, now)?;
    state.hedges.record_request(&row.provider.key, now);
    Ok(key)
}

/// The log line of a row passed over because its key is at its per-minute limit.
pub(super) fn paced_log(row: &ModelRow, free: Instant) -> AttemptLog {
    let wait = free.saturating_duration_since(Instant::now());
    let mut log = attempt_log(
        row,
        None,
        Instant::now(),
        Some(format!(
            "paced: at its per-minute limit, a request may go in {} s",
            wait.as_secs_f64().ceil() as u64
        )),
    );
    log.skipped = Some("paced".into());
    log
}

/// One attempt with this candidate's time budget and the key its pacing slot was taken for,
/// recorded in health when it failed; a per-minute limit the answer states is learned.
pub(super) async fn send(
    context: &ForwardContext,
    request: &ChatRequest,
    candidate: &Candidate,
    deadline: Instant,
    last_candidate: bool,
    key: Option<KeyChoice>,
) -> Result<Reply, Failure> {
    let row = &candidate.row;
    let timeouts = context.settings.timeouts;
    let budget = if request.stream {
        policy::first_token_budget(
            ttft_budget(&candidate.condition, timeouts.first_byte()),
            candidate.condition.ttft_p95_ms.is_some(),
            last_candidate,
        )
    } else {
        timeouts.response()
    };
    let left = deadline.saturating_duration_since(Instant::now());
    let state = &context.state;
    tracing::debug!(target: "modelrelay::route", row = %row.row_id(), budget_ms = budget.min(left).as_millis() as u64, "forwarding");
    let reply = upstream::send(Call {
        http: &state.http,
        row,
        key: key.as_ref().map(|choice| choice.key.clone()),
        identity: &state.identity,
        kiro: &state.kiro,
        body: request.body_for(&row.upstream_id),
        stream: request.stream,
        first_byte_budget: budget.min(left),
        idle: timeouts.idle(),
    })
    .await;
    let key_id = key.as_ref().map_or(0, |choice| choice.index);
    let rate = match &reply {
        Ok(Reply::Stream { rate, .. } | Reply::Whole { rate, .. }) => Some(rate),
        Ok(Reply::Refused { .. }) => None,
        Err(failure) => failure.rate.as_ref(),
    };
    if let Some(rate) = rate {
        state.pacer.learn(row, key_id, rate);
    }
    if let Err(failure) = &reply {
        record_failure(context, row, failure);
        if let (true, Some(choice)) = (failure.is_rate_limit(), &key) {
            state
                .credentials
                .report_rate_limited(&row.provider.key, choice.index, Instant::now());
            check_account_quota(context, row, choice.key.clone());
        }
    }
    reply
}

/// After a 429, asks the provider's account endpoint (in the background, when it has one)
/// whether the whole account's free quota is spent; if so every row of the account is
/// skipped until the reset.
fn check_account_quota(context: &ForwardContext, row: &Arc<ModelRow>, key: secrecy::SecretString) {
    if row.provider.quota_check.is_none() {
        return;
    }
    let state = &context.state;
    let (http, health, row) = (state.http.clone(), state.health.clone(), row.clone());
    state.tasks.spawn(async move {
        let Some(rate) = upstream::account_quota(&http, &row.provider, &key).await else {
            return;
        };
        if rate.exhausted_for.is_some() {
            health.record(
                &row,
                AttemptReport {
                    source: SampleSource::Traffic,
                    outcome: AttemptResult::RateLimited {
                        message: format!("the {} account's free quota is spent", row.provider.name),
                    },
                    rate: Some(rate),
                },
                Instant::now(),
            );
        }
    });
}
