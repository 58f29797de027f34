//! The failover loop: the one place that mixes the routing plan with IO. Candidates are
//! tried in order until one produces a first chunk; the client sees only that one's answer.

use std::sync::Arc;
use std::time::Duration;

use axum::body::Body;
use axum::response::Response;
use http::{header, HeaderName, HeaderValue, StatusCode};

use crate::engine::config::Settings;
use crate::engine::credentials::Credentials;
use crate::engine::error::ApiError;
use crate::engine::providers::headers::{provider_headers, ClientIdentity};
use crate::engine::providers::ModelRow;
use tokio::time::Instant;

use super::attempt::{attempt, AttemptRequest, Outcome};
use super::failure::Failure;
use super::relay::{relay_stream, StreamOutcome};
use super::request::ChatRequest;

pub const PROVIDER_HEADER: &str = "x-modelrelay-provider";
pub const MODEL_HEADER: &str = "x-modelrelay-model";
pub const ATTEMPTS_HEADER: &str = "x-modelrelay-attempts";

/// What forwarding needs from the engine, borrowed for one request.
pub struct ForwardContext<'a> {
    pub http: &'a reqwest::Client,
    pub credentials: &'a Credentials,
    pub settings: &'a Settings,
    pub identity: &'a ClientIdentity,
}

pub async fn forward_chat(
    context: &ForwardContext<'_>,
    request: &ChatRequest,
    candidates: &[Arc<ModelRow>],
) -> Result<Response, ApiError> {
    let mut failures: Vec<(String, Failure)> = Vec::new();
    for row in candidates.iter().take(context.settings.max_attempts()) {
        let attempts = failures.len() + 1;
        tracing::info!(target: "modelrelay::route", attempt = attempts, row = %row.row_id(), "forwarding");
        let key = context
            .credentials
            .key_for(context.settings, &row.provider.key, Instant::now());
        let outcome = attempt(AttemptRequest {
            http: context.http,
            row,
            key: key.as_ref().map(|choice| choice.key.clone()),
            extra_headers: provider_headers(&row.provider, context.identity),
            body: request.body_for(&row.upstream_id),
            stream: request.stream,
            timeouts: context.settings.timeouts,
        })
        .await;
        let response = match outcome {
            Outcome::Failed(failure) => {
                if let (true, Some(choice)) = (failure.is_rate_limit(), &key) {
                    context.credentials.report_rate_limited(
                        &row.provider.key,
                        choice.index,
                        Instant::now(),
                    );
                }
                tracing::warn!(target: "modelrelay::route", row = %row.row_id(), "candidate failed: {}", failure.message);
                failures.push((row.row_id(), failure));
                continue;
            }
            Outcome::Stream {
                status,
                content_type,
                first,
                rest,
            } => {
                let is_sse = content_type
                    .as_ref()
                    .and_then(|v| v.to_str().ok())
                    .is_none_or(|v| v.starts_with("text/event-stream"));
                let row_id = row.row_id();
                let on_end = Box::new(move |outcome: StreamOutcome| {
                    if outcome == StreamOutcome::Completed {
                        tracing::debug!(target: "modelrelay::route", row = %row_id, "stream completed");
                    } else {
                        tracing::warn!(target: "modelrelay::route", row = %row_id, "stream ended early: {outcome:?}");
                    }
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
            }
            | Outcome::Rejected {
                status,
                content_type,
                body,
            } => build_response(status, content_type, Body::from(body), row, attempts),
        };
        return Ok(response);
    }
    Err(all_failed(&failures))
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
fn all_failed(failures: &[(String, Failure)]) -> ApiError {
    let summary = failures
        .iter()
        .map(|(row, failure)| format!("`{row}`: {}", failure.message))
        .collect::<Vec<_>>()
        .join("; ");
    let count = failures.len();
    if failures.iter().all(|(_, f)| f.is_rate_limit()) {
        let wait = failures
            .iter()
            .filter_map(|(_, f)| f.retry_after)
            .min()
            .unwrap_or(Duration::from_secs(30));
        return ApiError::RateLimited {
            message: format!(
                "every candidate is rate-limited ({summary}); retry in {} s",
                wait.as_secs().max(1)
            ),
            retry_after_secs: wait.as_secs().max(1),
        };
    }
    let message = format!("all {count} candidates failed: {summary}");
    if failures.iter().all(|(_, f)| f.is_timeout()) {
        ApiError::UpstreamTimeout(message)
    } else {
        ApiError::UpstreamFailed(message)
    }
}
