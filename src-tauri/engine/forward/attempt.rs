//! One try against one candidate: build the upstream request, send it, and wait until the
//! answer is known to be good (its first chunk) or known to be a failure.

use std::pin::Pin;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use bytes::Bytes;
use futures_util::{Stream, StreamExt};
use http::{header, HeaderMap, HeaderValue, StatusCode};
use secrecy::{ExposeSecret, SecretString};
use tokio::time::{timeout, timeout_at, Instant};

use crate::engine::health::{read_rate_limit, RateLimitInfo};
use crate::engine::providers::kiro::auth::KiroAuth;
use crate::engine::providers::{describe_http_error, Flavor, ModelRow};

use super::failure::{classify_status, error_message_from_body, Failure, FailureKind, StatusClass};

pub type UpstreamBody = Pin<Box<dyn Stream<Item = reqwest::Result<Bytes>> + Send>>;

/// Error bodies are read only this far and only this long: they are for the log.
const ERROR_BODY_LIMIT: usize = 64 * 1024;
const ERROR_BODY_TIME: Duration = Duration::from_secs(5);

pub struct AttemptRequest<'a> {
    pub http: &'a reqwest::Client,
    pub row: &'a ModelRow,
    pub key: Option<SecretString>,
    pub extra_headers: Vec<(http::HeaderName, HeaderValue)>,
    pub body: Bytes,
    pub stream: bool,
    /// Time allowed until the first chunk (streaming) or the whole answer (not streaming).
    pub first_byte_budget: Duration,
    /// Longest gap between chunks while reading a whole answer.
    pub idle: Duration,
    /// Kiro's token cache (used only for `Flavor::Kiro` rows).
    pub kiro: &'a KiroAuth,
}

pub enum Outcome {
    /// A streamed answer whose first chunk has arrived.
    Stream {
        status: StatusCode,
        content_type: Option<HeaderValue>,
        first: Bytes,
        rest: UpstreamBody,
        rate: RateLimitInfo,
    },
    /// A whole non-streamed answer.
    Complete {
        status: StatusCode,
        content_type: Option<HeaderValue>,
        body: Bytes,
        rate: RateLimitInfo,
    },
    /// The upstream refused the request itself; the client gets this answer unchanged.
    Rejected {
        status: StatusCode,
        content_type: Option<HeaderValue>,
        body: Bytes,
    },
    Failed(Failure),
}

pub(super) fn failure(kind: FailureKind, message: impl Into<String>) -> Outcome {
    Outcome::Failed(Failure {
        kind,
        message: message.into(),
        rate: None,
    })
}

pub(super) fn unix_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64)
}

pub(super) fn rate_of(status: StatusCode, headers: &HeaderMap, body: &[u8]) -> RateLimitInfo {
    read_rate_limit(status.as_u16(), headers, body, unix_ms())
}

pub async fn attempt(request: AttemptRequest<'_>) -> Outcome {
    if request.row.provider.flavor == Flavor::Kiro {
        return super::kiro::attempt(request).await;
    }
    let budget = request.first_byte_budget;
    let deadline = Instant::now() + budget;
    let mut builder = request
        .http
        .post(request.row.provider.chat_url())
        .header(header::CONTENT_TYPE, "application/json")
        .body(request.body);
    if request.stream {
        builder = builder.header(header::ACCEPT, "text/event-stream");
    }
    for (name, value) in request.extra_headers {
        builder = builder.header(name, value);
    }
    if let Some(key) = &request.key {
        builder = builder.bearer_auth(key.expose_secret());
    }
    let response = match timeout_at(deadline, builder.send()).await {
        Err(_) => {
            return failure(
                FailureKind::FirstByteTimeout,
                format!("no answer within {} ms", budget.as_millis()),
            )
        }
        Ok(Err(error)) => return failure(FailureKind::Connect, describe_http_error(&error)),
        Ok(Ok(response)) => response,
    };
    let status = response.status();
    let headers = response.headers().clone();
    let content_type = headers.get(header::CONTENT_TYPE).cloned();
    let response = match refusal(response, deadline, request.idle).await {
        Ok(response) => response,
        Err(outcome) => return outcome,
    };
    match request.stream {
        true => {
            let mut rest = response.bytes_stream().boxed();
            loop {
                match timeout_at(deadline, rest.next()).await {
                    Err(_) => {
                        return failure(
                            FailureKind::FirstByteTimeout,
                            format!("no first chunk within {} ms", budget.as_millis()),
                        )
                    }
                    Ok(None) => {
                        return failure(
                            FailureKind::BrokenBeforeFirstChunk,
                            "the stream ended before its first chunk",
                        )
                    }
                    Ok(Some(Err(error))) => {
                        return failure(
                            FailureKind::BrokenBeforeFirstChunk,
                            describe_http_error(&error),
                        )
                    }
                    Ok(Some(Ok(chunk))) if chunk.is_empty() => continue,
                    Ok(Some(Ok(first))) => {
                        return Outcome::Stream {
                            status,
                            content_type,
                            first,
                            rest,
                            rate: rate_of(status, &headers, b""),
                        }
                    }
                }
            }
        }
        false => match read_whole(response.bytes_stream().boxed(), deadline, request.idle).await {
            Ok(body) => Outcome::Complete {
                status,
                content_type,
                body,
                rate: rate_of(status, &headers, b""),
            },
            Err(outcome) => outcome,
        },
    }
}

/// Reads a whole body: the first byte before `deadline`, then no gap longer than `idle`.
/// The answer to a request that did not succeed: a failure to fail over from (failover
/// statuses) or the upstream's refusal to hand back unchanged (other 4xx). `None` on success,
/// with the response handed back untouched.
pub(super) async fn refusal(
    response: reqwest::Response,
    deadline: Instant,
    idle: Duration,
) -> Result<reqwest::Response, Outcome> {
    let status = response.status();
    let headers = response.headers().clone();
    match classify_status(status.as_u16()) {
        StatusClass::Success => Ok(response),
        StatusClass::Failover => {
            let body = read_error_body(response.bytes_stream().boxed()).await;
            Err(Outcome::Failed(Failure {
                kind: FailureKind::Status(status.as_u16()),
                message: format!(
                    "HTTP {}: {}",
                    status.as_u16(),
                    error_message_from_body(&body)
                ),
                rate: Some(rate_of(status, &headers, &body)),
            }))
        }
        StatusClass::ClientError => {
            let content_type = headers.get(header::CONTENT_TYPE).cloned();
            Err(
                match read_whole(response.bytes_stream().boxed(), deadline, idle).await {
                    Ok(body) => Outcome::Rejected {
                        status,
                        content_type,
                        body,
                    },
                    Err(outcome) => outcome,
                },
            )
        }
    }
}

pub(super) async fn read_whole(
    mut body: UpstreamBody,
    deadline: Instant,
    idle: Duration,
) -> Result<Bytes, Outcome> {
    let mut collected: Vec<u8> = Vec::new();
    loop {
        let next = if collected.is_empty() {
            timeout_at(deadline, body.next()).await
        } else {
            timeout(idle, body.next()).await
        };
        match next {
            Err(_) => {
                return Err(failure(
                    FailureKind::FirstByteTimeout,
                    "the answer stalled before it was complete",
                ))
            }
            Ok(None) => return Ok(Bytes::from(collected)),
            Ok(Some(Err(error))) => {
                return Err(failure(
                    FailureKind::BrokenBeforeFirstChunk,
                    describe_http_error(&error),
                ))
            }
            Ok(Some(Ok(chunk))) => collected.extend_from_slice(&chunk),
        }
    }
}

pub(super) async fn read_error_body(mut body: UpstreamBody) -> Vec<u8> {
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
