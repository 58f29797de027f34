//! The HTTP plumbing every adapter shares: send within a deadline, sort an answer into
//! success, failure or the upstream's refusal, wait for a stream's first chunk, read whole
//! bodies with their time limits. It knows nothing of any dialect.

use std::pin::Pin;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use bytes::Bytes;
use futures_util::{Stream, StreamExt};
use http::{header, HeaderMap, HeaderValue, StatusCode};
use tokio::time::{timeout, timeout_at, Instant};

use crate::engine::health::{read_rate_limit, RateLimitInfo};
use crate::engine::providers::describe_http_error;

use super::failure::{
    classify_status, error_message_from_body, is_model_gone, Failure, FailureKind, StatusClass,
};
use super::Reply;

/// An upstream body as it arrives.
pub type UpstreamBody = Pin<Box<dyn Stream<Item = reqwest::Result<Bytes>> + Send>>;

/// Error bodies are read only this far and only this long: they are for the log.
const ERROR_BODY_LIMIT: usize = 64 * 1024;
const ERROR_BODY_TIME: Duration = Duration::from_secs(5);

fn unix_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64)
}

/// What an answer's status, headers and body say about quotas.
pub fn rate_of(status: StatusCode, headers: &HeaderMap, body: &[u8]) -> RateLimitInfo {
    read_rate_limit(status.as_u16(), headers, body, unix_ms())
}

/// Sends `builder` and waits for the answer's head until `deadline`.
pub async fn send_until(
    builder: reqwest::RequestBuilder,
    deadline: Instant,
    budget: Duration,
) -> Result<reqwest::Response, Failure> {
    match timeout_at(deadline, builder.send()).await {
        Err(_) => Err(Failure::new(
            FailureKind::FirstByteTimeout,
            format!("no answer within {} ms", budget.as_millis()),
        )),
        Ok(Err(error)) => Err(Failure::new(
            FailureKind::Connect,
            describe_http_error(&error),
        )),
        Ok(Ok(response)) => Ok(response),
    }
}

/// The answer to a request that did not succeed: a failure to fail over from (failover
/// statuses) or the upstream's refusal to hand back unchanged (other 4xx). A successful
/// response is handed back untouched.
pub async fn sort_answer(
    response: reqwest::Response,
    deadline: Instant,
    idle: Duration,
) -> Result<Result<reqwest::Response, Reply>, Failure> {
    let status = response.status();
    match classify_status(status.as_u16()) {
        StatusClass::Success => Ok(Ok(response)),
        StatusClass::Failover => {
            let headers = response.headers().clone();
            let body = read_error_body(response.bytes_stream().boxed()).await;
            let kind = if is_model_gone(status.as_u16(), &body) {
                FailureKind::ModelGone(status.as_u16())
            } else {
                FailureKind::Status(status.as_u16())
            };
            Err(Failure {
                kind,
                message: format!(
                    "HTTP {}: {}",
                    status.as_u16(),
                    error_message_from_body(&body)
                ),
                rate: Some(rate_of(status, &headers, &body)),
            })
        }
        StatusClass::ClientError => {
            let content_type = response.headers().get(header::CONTENT_TYPE).cloned();
            let body = read_whole(response.bytes_stream().boxed(), deadline, idle).await?;
            // A refusal that says the model is gone is the row's failure, not the client's.
            if is_model_gone(status.as_u16(), &body) {
                return Err(Failure::new(
                    FailureKind::ModelGone(status.as_u16()),
                    format!(
                        "HTTP {}: {}",
                        status.as_u16(),
                        error_message_from_body(&body)
                    ),
                ));
            }
            Ok(Err(Reply::Refused {
                status,
                content_type,
                body,
            }))
        }
    }
}

/// No first chunk arrived within the attempt's `budget`.
pub fn no_first_chunk(budget: Duration) -> Failure {
    Failure::new(
        FailureKind::FirstByteTimeout,
        format!("no first chunk within {} ms", budget.as_millis()),
    )
}

/// The stream ended, or broke (`error`), before its first chunk.
pub fn ended_before_first_chunk(error: Option<&reqwest::Error>) -> Failure {
    Failure::new(
        FailureKind::BrokenBeforeFirstChunk,
        error.map_or_else(
            || "the stream ended before its first chunk".to_string(),
            describe_http_error,
        ),
    )
}

/// Waits until `deadline` for the first non-empty chunk of a stream.
pub async fn first_chunk(
    rest: &mut UpstreamBody,
    deadline: Instant,
    budget: Duration,
) -> Result<Bytes, Failure> {
    loop {
        match timeout_at(deadline, rest.next()).await {
            Err(_) => return Err(no_first_chunk(budget)),
            Ok(None) => return Err(ended_before_first_chunk(None)),
            Ok(Some(Err(error))) => return Err(ended_before_first_chunk(Some(&error))),
            Ok(Some(Ok(chunk))) if chunk.is_empty() => continue,
            Ok(Some(Ok(first))) => return Ok(first),
        }
    }
}

/// Reads a whole body: the first byte before `deadline`, then no gap longer than `idle`.
pub async fn read_whole(
    mut body: UpstreamBody,
    deadline: Instant,
    idle: Duration,
) -> Result<Bytes, Failure> {
    let mut collected: Vec<u8> = Vec::new();
    loop {
        let next = if collected.is_empty() {
            timeout_at(deadline, body.next()).await
        } else {
            timeout(idle, body.next()).await
        };
        match next {
            Err(_) => {
                return Err(Failure::new(
                    FailureKind::FirstByteTimeout,
                    "the answer stalled before it was complete",
                ))
            }
            Ok(None) => return Ok(Bytes::from(collected)),
            Ok(Some(Err(error))) => {
                return Err(Failure::new(
                    FailureKind::BrokenBeforeFirstChunk,
                    describe_http_error(&error),
                ))
            }
            Ok(Some(Ok(chunk))) => collected.extend_from_slice(&chunk),
        }
    }
}

async fn read_error_body(mut body: UpstreamBody) -> Vec<u8> {
    let mut collected = Vec::new();
    let _ = timeout(ERROR_BODY_TIME, async {
        while let Some(Ok(chunk)) = body.next().await {
            collected.extend_from_slice(&chunk);
            if collected.len() >= ERROR_BODY_LIMIT {
                break;
            }
        }
    })
    .await;
    collected
}

/// The content type of an answer, kept for the client.
pub fn content_type(headers: &HeaderMap) -> Option<HeaderValue> {
    headers.get(header::CONTENT_TYPE).cloned()
}
