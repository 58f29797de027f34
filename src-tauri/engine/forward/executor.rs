//! The failover loop: the one place that mixes the routing plan with IO. Candidates are
//! tried in order until one produces a first chunk; the client sees only that one's answer.
//! Every attempt's outcome is recorded in the health book at once.

use crate::engine::providers::kiro::auth::KiroAuth;
use std::sync::Arc;
use std::time::Duration;

use axum::body::Body;
use axum::response::Response;
use http::{header, HeaderName, HeaderValue, StatusCode};
use tokio::time::Instant;

use crate::engine::config::Settings;
use crate::engine::credentials::Credentials;
use crate::engine::error::ApiError;
use crate::engine::health::scoring::ttft_budget;
use crate::engine::health::{
    AttemptReport, AttemptResult, HealthBook, RateLimitInfo, SampleSource,
};
use crate::engine::providers::headers::{provider_headers, ClientIdentity};
use crate::engine::providers::ModelRow;
use crate::engine::requestlog::{AttemptLog, LogEntry, RequestLog};
use crate::engine::routing::Candidate;

use super::attempt::{attempt, AttemptRequest, Outcome};
use super::failure::{is_context_overflow, Failure, FailureKind};
use super::relay::{relay_stream, StreamEnd, StreamOutcome};
use super::request::ChatRequest;

pub const PROVIDER_HEADER: &str = "x-modelrelay-provider";
pub const MODEL_HEADER: &str = "x-modelrelay-model";
pub const ATTEMPTS_HEADER: &str = "x-modelrelay-attempts";

/// A 429 that asks for at most this long may be waited out on the same row when no other
/// candidate is left.
const SHORT_RATE_LIMIT_WAIT: Duration = Duration::from_secs(5);

/// What forwarding needs from the engine, borrowed for one request.
pub struct ForwardContext<'a> {
    pub http: &'a reqwest::Client,
    pub credentials: &'a Credentials,
    pub settings: &'a Settings,
    pub identity: &'a ClientIdentity,
    pub kiro: &'a KiroAuth,
    pub health: &'a Arc<HealthBook>,
    pub log: &'a Arc<RequestLog>,
}

/// What the request log will say about one request, filled in as it is forwarded.
#[derive(Debug, Clone)]
pub struct Trace {
    pub at: u64,
    pub started: Instant,
    pub model: String,
    pub stream: bool,
    pub messages: Option<Vec<String>>,
    pub attempts: Vec<AttemptLog>,
}

/// How a request ended, for its log entry.
pub struct Ending<'a> {
    pub status: u16,
    pub row: Option<&'a ModelRow>,
    pub outcome: &'a str,
    pub error: Option<String>,
    pub ttft: Option<Duration>,
    pub tokens: Option<u64>,
}

impl Trace {
    pub fn new(model: &str, stream: bool, messages: Option<Vec<String>>) -> Self {
        Self {
            at: crate::engine::requestlog::unix_ms(),
            started: Instant::now(),
            model: model.to_string(),
            stream,
            messages,
            attempts: Vec::new(),
        }
    }

    pub fn finish(self, ending: Ending<'_>) -> LogEntry {
        LogEntry {
            id: 0,
            at: self.at,
            model: self.model,
            stream: self.stream,
            status: ending.status,
            provider: ending.row.map(|r| r.provider.key.clone()),
            upstream_model: ending.row.map(|r| r.upstream_id.clone()),
            duration_ms: self.started.elapsed().as_millis() as u64,
            ttft_ms: ending.ttft.map(|t| t.as_millis() as u64),
            tokens: ending.tokens,
            outcome: ending.outcome.to_string(),
            error: ending.error,
            attempts: self.attempts,
            messages: self.messages,
        }
    }
}

/// How the loop continues after a failed attempt.
enum Next {
    SameRow,
    NextRow,
}

pub async fn forward_chat(
    context: &ForwardContext<'_>,
    request: &ChatRequest,
    candidates: &[Candidate],
    mut trace: Trace,
) -> Result<Response, ApiError> {
    let result = try_candidates(context, request, candidates, &mut trace).await;
    match result {
        Ok((row, outcome, started)) => Ok(respond(context, &row, outcome, started, trace)),
        Err(error) => {
            context.log.push(trace.finish(Ending {
                status: error.status_code().as_u16(),
                row: None,
                outcome: "failed",
                error: Some(error.to_string()),
                ttft: None,
                tokens: None,
            }));
            Err(error)
        }
    }
}

fn attempt_log(
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
    }
}

/// Walks the candidates; returns the row that answered, its outcome and when its attempt began.
async fn try_candidates(
    context: &ForwardContext<'_>,
    request: &ChatRequest,
    candidates: &[Candidate],
    trace: &mut Trace,
) -> Result<(Arc<ModelRow>, Outcome, Instant), ApiError> {
    let deadline = Instant::now() + context.settings.routing_deadline();
    let max_attempts = context.settings.max_attempts();
    let mut failures: Vec<(String, Failure)> = Vec::new();
    let mut attempts = 0;
    // After a context-overflow answer, only rows with a larger window are worth trying.
    let mut needs_context_above: Option<u32> = None;
    for (index, candidate) in candidates.iter().enumerate() {
        let row = &candidate.row;
        if needs_context_above.is_some_and(|min| row.context.is_none_or(|c| c <= min)) {
            continue;
        }
        if !context.health.admit(row, Instant::now()) {
            continue;
        }
        let mut retried_same_row = false;
        loop {
            if attempts >= max_attempts || Instant::now() >= deadline {
                return Err(all_failed(&failures, attempts));
            }
            attempts += 1;
            let started = Instant::now();
            let outcome = send(context, request, candidate, deadline).await;
            match outcome {
                Ok(Outcome::Failed(failure)) => {
                    record_failure(context, row, &failure);
                    trace.attempts.push(attempt_log(
                        row,
                        failure.status(),
                        started,
                        Some(failure.message.clone()),
                    ));
                    tracing::warn!(target: "modelrelay::route", row = %row.row_id(), "candidate failed: {}", failure.message);
                    let last_candidate = index + 1 == candidates.len();
                    let next = decide_after_failure(&failure, retried_same_row, last_candidate);
                    failures.push((row.row_id(), failure));
                    // A 500 retry must not hit a row whose quota the answer said is spent; a
                    // short 429 is waited out below, after which its cooldown is over.
                    let cooling = !failures.last().is_some_and(|(_, f)| f.is_rate_limit())
                        && context
                            .health
                            .condition(row, Instant::now())
                            .cooling(Instant::now())
                            .is_some();
                    match next {
                        Next::SameRow if !cooling => {
                            retried_same_row = true;
                            if let Some(wait) = failures.last().and_then(|(_, f)| f.retry_after()) {
                                tokio::time::sleep(wait.min(SHORT_RATE_LIMIT_WAIT)).await;
                                // Other answers may have extended the cooldown meanwhile.
                                let now = Instant::now();
                                if context.health.condition(row, now).cooling(now).is_some() {
                                    break;
                                }
                            }
                        }
                        Next::SameRow | Next::NextRow => break,
                    }
                }
                Ok(Outcome::Rejected { status, body, .. }) if is_context_overflow(&body) => {
                    trace.attempts.push(attempt_log(
                        row,
                        Some(status.as_u16()),
                        started,
                        Some("context window too small".into()),
                    ));
                    tracing::info!(target: "modelrelay::route", row = %row.row_id(), "prompt too long for this row; trying a larger window");
                    needs_context_above = Some(row.context.unwrap_or(0));
                    failures.push((
                        row.row_id(),
                        Failure {
                            kind: FailureKind::Status(status.as_u16()),
                            message: format!(
                                "HTTP {}: the prompt does not fit this row's context window",
                                status.as_u16()
                            ),
                            rate: None,
                        },
                    ));
                    break;
                }
                Ok(outcome) => {
                    let status = match &outcome {
                        Outcome::Stream { status, .. }
                        | Outcome::Complete { status, .. }
                        | Outcome::Rejected { status, .. } => Some(status.as_u16()),
                        Outcome::Failed(_) => None,
                    };
                    trace.attempts.push(attempt_log(row, status, started, None));
                    return Ok((row.clone(), outcome, started));
                }
                Err(()) => return Err(all_failed(&failures, attempts)),
            }
        }
    }
    Err(all_failed(&failures, attempts))
}

/// One attempt with this candidate's time budget; `Err` when the overall deadline is gone.
async fn send(
    context: &ForwardContext<'_>,
    request: &ChatRequest,
    candidate: &Candidate,
    deadline: Instant,
) -> Result<Outcome, ()> {
    let row = &candidate.row;
    let timeouts = context.settings.timeouts;
    let cap = if request.stream {
        timeouts.first_byte()
    } else {
        timeouts.response()
    };
    let budget = if request.stream {
        ttft_budget(&candidate.condition, cap)
    } else {
        cap
    };
    let left = deadline.checked_duration_since(Instant::now()).ok_or(())?;
    let key = context
        .credentials
        .key_for(context.settings, &row.provider.key, Instant::now());
    tracing::info!(target: "modelrelay::route", row = %row.row_id(), budget_ms = budget.min(left).as_millis() as u64, "forwarding");
    let outcome = attempt(AttemptRequest {
        http: context.http,
        row,
        key: key.as_ref().map(|choice| choice.key.clone()),
        extra_headers: provider_headers(&row.provider, context.identity),
        kiro: context.kiro,
        body: request.body_for(&row.upstream_id),
        stream: request.stream,
        first_byte_budget: budget.min(left),
        idle: timeouts.idle(),
    })
    .await;
    if let (Outcome::Failed(failure), Some(choice)) = (&outcome, &key) {
        if failure.is_rate_limit() {
            context.credentials.report_rate_limited(
                &row.provider.key,
                choice.index,
                Instant::now(),
            );
            if row.provider.key == "openrouter" {
                check_openrouter_account(context, row, choice.key.clone());
            }
        }
    }
    Ok(outcome)
}

/// After an OpenRouter 429, asks its key endpoint (in the background) whether the whole
/// account's free quota is spent; if so every OpenRouter row is skipped until the reset.
#[allow(clippy::disallowed_methods)] // owner: see forward redesign
fn check_openrouter_account(
    context: &ForwardContext<'_>,
    row: &Arc<ModelRow>,
    key: secrecy::SecretString,
) {
    let (http, health, row) = (context.http.clone(), context.health.clone(), row.clone());
    tokio::spawn(async move {
        let now_unix = crate::engine::requestlog::unix_ms() / 1000;
        let Some(rate) = crate::engine::providers::openrouter::fetch_key_limits(
            &http,
            &row.provider,
            &key,
            now_unix,
        )
        .await
        else {
            return;
        };
        if rate.exhausted_for.is_some() {
            health.record(
                &row,
                AttemptReport {
                    source: SampleSource::Traffic,
                    outcome: AttemptResult::RateLimited {
                        message: "the OpenRouter account's free quota is spent".into(),
                    },
                    rate: Some(rate),
                },
                Instant::now(),
            );
        }
    });
}

/// A single 500 is retried once on the same row; a short 429 is waited out on the same row
/// when nothing else is left; everything else moves on.
fn decide_after_failure(failure: &Failure, retried_same_row: bool, last_candidate: bool) -> Next {
    if retried_same_row {
        return Next::NextRow;
    }
    match failure.kind {
        FailureKind::Status(500) => Next::SameRow,
        FailureKind::Status(429)
            if last_candidate
                && failure
                    .retry_after()
                    .is_some_and(|w| w <= SHORT_RATE_LIMIT_WAIT) =>
        {
            Next::SameRow
        }
        _ => Next::NextRow,
    }
}

fn record_failure(context: &ForwardContext<'_>, row: &ModelRow, failure: &Failure) {
    let outcome = if failure.is_rate_limit() {
        AttemptResult::RateLimited {
            message: failure.message.clone(),
        }
    } else {
        AttemptResult::Failure {
            status: match failure.kind {
                FailureKind::Status(status) => Some(status),
                _ => None,
            },
            message: failure.message.clone(),
            timeout: failure.is_timeout(),
            hard: failure.is_hard(),
        }
    };
    context.health.record(
        row,
        AttemptReport {
            source: SampleSource::Traffic,
            outcome,
            rate: failure.rate.clone(),
        },
        Instant::now(),
    );
}

/// Builds the client's response and arranges for the attempt's success to be recorded
/// (at once for whole answers, when the stream ends for streams).
fn respond(
    context: &ForwardContext<'_>,
    row: &Arc<ModelRow>,
    outcome: Outcome,
    started: Instant,
    trace: Trace,
) -> Response {
    let ttft = started.elapsed();
    let attempts = trace.attempts.len();
    match outcome {
        Outcome::Stream {
            status,
            content_type,
            first,
            rest,
            rate,
        } => {
            let is_sse = content_type
                .as_ref()
                .and_then(|v| v.to_str().ok())
                .is_none_or(|v| v.starts_with("text/event-stream"));
            let health = context.health.clone();
            let log = context.log.clone();
            let finished_row = row.clone();
            let status_code = status.as_u16();
            let on_end = Box::new(move |end: StreamEnd| {
                let (outcome, error) = match &end.outcome {
                    StreamOutcome::Completed => ("completed", None),
                    StreamOutcome::ClientGone => {
                        ("cancelled", Some("the client disconnected".to_string()))
                    }
                    other => ("cut", Some(format!("{other:?}"))),
                };
                log.push(trace.finish(Ending {
                    status: status_code,
                    row: Some(&finished_row),
                    outcome,
                    error,
                    ttft: Some(ttft),
                    tokens: Some(end.tokens),
                }));
                record_stream_end(&health, &finished_row, end, started, ttft, rate);
            });
            let body = Body::from_stream(relay_stream(
                first,
                rest,
                context.settings.timeouts.idle(),
                is_sse,
                on_end,
            ));
            let content_type =
                content_type.unwrap_or(HeaderValue::from_static("text/event-stream"));
            let mut response = build_response(status, Some(content_type), body, row, attempts);
            let headers = response.headers_mut();
            headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
            headers.insert(
                HeaderName::from_static("x-accel-buffering"),
                HeaderValue::from_static("no"),
            );
            response
        }
        Outcome::Complete {
            status,
            content_type,
            body,
            rate,
        } => {
            let tokens = serde_json::from_slice::<serde_json::Value>(&body)
                .ok()
                .and_then(|v| {
                    v.pointer("/usage/completion_tokens")
                        .and_then(|t| t.as_u64())
                });
            context.health.record(
                row,
                AttemptReport {
                    source: SampleSource::Traffic,
                    outcome: AttemptResult::Success {
                        ttft,
                        total: ttft,
                        tokens,
                    },
                    rate: Some(rate),
                },
                Instant::now(),
            );
            context.log.push(trace.finish(Ending {
                status: status.as_u16(),
                row: Some(row),
                outcome: "completed",
                error: None,
                ttft: Some(ttft),
                tokens,
            }));
            build_response(status, content_type, Body::from(body), row, attempts)
        }
        Outcome::Rejected {
            status,
            content_type,
            body,
        } => {
            context.log.push(trace.finish(Ending {
                status: status.as_u16(),
                row: Some(row),
                outcome: "rejected",
                error: Some(super::failure::error_message_from_body(&body)),
                ttft: None,
                tokens: None,
            }));
            build_response(status, content_type, Body::from(body), row, attempts)
        }
        Outcome::Failed(_) => {
            build_response(StatusCode::BAD_GATEWAY, None, Body::empty(), row, attempts)
        }
    }
}

fn record_stream_end(
    health: &HealthBook,
    row: &ModelRow,
    end: StreamEnd,
    started: Instant,
    ttft: Duration,
    rate: RateLimitInfo,
) {
    let outcome = match end.outcome {
        StreamOutcome::Completed => AttemptResult::Success {
            ttft,
            total: started.elapsed(),
            tokens: Some(end.tokens),
        },
        StreamOutcome::ClientGone => return,
        StreamOutcome::IdleTimeout => AttemptResult::Failure {
            status: None,
            message: "the stream went silent".into(),
            timeout: true,
            hard: false,
        },
        StreamOutcome::Truncated | StreamOutcome::UpstreamError(_) => AttemptResult::Failure {
            status: None,
            message: format!("the stream broke: {:?}", end.outcome),
            timeout: false,
            hard: false,
        },
    };
    if end.outcome == StreamOutcome::Completed {
        tracing::debug!(target: "modelrelay::route", row = %row.row_id(), tokens = end.tokens, "stream completed");
    } else {
        tracing::warn!(target: "modelrelay::route", row = %row.row_id(), "stream ended early: {:?}", end.outcome);
    }
    health.record(
        row,
        AttemptReport {
            source: SampleSource::Traffic,
            outcome,
            rate: Some(rate),
        },
        Instant::now(),
    );
}

fn build_response(
    status: StatusCode,
    content_type: Option<HeaderValue>,
    body: Body,
    row: &ModelRow,
    attempts: usize,
) -> Response {
    let mut response = Response::new(body);
    *response.status_mut() = status;
    let headers = response.headers_mut();
    if let Some(content_type) = content_type {
        headers.insert(header::CONTENT_TYPE, content_type);
    }
    for (name, value) in [
        (PROVIDER_HEADER, row.provider.key.as_str()),
        (MODEL_HEADER, row.upstream_id.as_str()),
        (ATTEMPTS_HEADER, &attempts.to_string()),
    ] {
        if let Ok(value) = HeaderValue::from_str(value) {
            headers.insert(HeaderName::from_static(name), value);
        }
    }
    response
}

/// The error for a request whose every candidate failed, saying what happened to each.
fn all_failed(failures: &[(String, Failure)], attempts: usize) -> ApiError {
    if failures.is_empty() {
        return ApiError::NoProviderAvailable(
            "every candidate was skipped because it is failing or busy; try again in a few seconds"
                .into(),
        );
    }
    let summary = failures
        .iter()
        .map(|(row, failure)| format!("`{row}`: {}", failure.message))
        .collect::<Vec<_>>()
        .join("; ");
    if failures.iter().all(|(_, f)| f.is_rate_limit()) {
        let wait = failures
            .iter()
            .filter_map(|(_, f)| f.retry_after())
            .min()
            .unwrap_or(Duration::from_secs(30));
        let seconds = wait.as_secs_f64().ceil().max(1.0) as u64;
        return ApiError::RateLimited {
            message: format!("every candidate is rate-limited ({summary}); retry in {seconds} s"),
            retry_after_secs: seconds,
        };
    }
    let message = format!("all {attempts} attempts failed: {summary}");
    if failures.iter().all(|(_, f)| f.is_timeout()) {
        ApiError::UpstreamTimeout(message)
    } else {
        ApiError::UpstreamFailed(message)
    }
}
