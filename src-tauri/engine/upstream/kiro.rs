//! The Kiro adapter: exchange the refresh token for an access token, send the translated
//! request, and turn the AWS event-stream answer into the same `Reply` an OpenAI upstream
//! yields (a stream of OpenAI SSE bytes, or one `chat.completion`), so failover, health and
//! the edges never learn Kiro is different.

use std::collections::VecDeque;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use bytes::Bytes;
use futures_util::StreamExt;
use http::{header, HeaderValue, StatusCode};
use secrecy::ExposeSecret;
use serde_json::Value;
use tokio::time::{timeout_at, Instant};

use crate::engine::health::RateLimitInfo;
use crate::engine::providers::headers::provider_headers;
use crate::engine::providers::kiro::auth::AuthError;
use crate::engine::providers::kiro::eventstream::{FrameDecoder, FrameError};
use crate::engine::providers::kiro::request::build_kiro_request;
use crate::engine::providers::kiro::response::{
    completion_from_chunks, ChunkTranslator, KiroError,
};

use super::failure::FailureKind;
use super::transport::{
    ended_before_first_chunk, no_first_chunk, rate_of, read_whole, send_until, sort_answer,
    UpstreamBody,
};
use super::{Call, Failure, Reply};

pub async fn send(call: Call<'_>) -> Result<Reply, Failure> {
    let budget = call.first_byte_budget;
    let deadline = Instant::now() + budget;
    let row = call.row;
    let Some(refresh) = call.key.clone() else {
        return Err(Failure::new(
            FailureKind::Status(401),
            "no Kiro refresh token: set `KIRO_REFRESH_TOKEN` or sign in to the Kiro IDE",
        ));
    };
    let Ok(openai) = serde_json::from_slice::<Value>(&call.body) else {
        return Err(Failure::new(
            FailureKind::BrokenBeforeFirstChunk,
            "the request body is not JSON",
        ));
    };
    let urls = row.provider.token_urls.clone().unwrap_or_default();
    let extra_headers = provider_headers(&row.provider, call.identity);
    let mut retried = false;
    let response = loop {
        let token = match timeout_at(
            deadline,
            call.kiro
                .access_token(call.http, &urls, &refresh, Instant::now()),
        )
        .await
        {
            Err(_) => {
                return Err(Failure::new(
                    FailureKind::FirstByteTimeout,
                    "the Kiro token exchange timed out",
                ))
            }
            Ok(Err(error @ AuthError::Transport(_))) => {
                return Err(Failure::new(FailureKind::Connect, error.to_string()))
            }
            Ok(Err(error)) => {
                return Err(Failure::new(FailureKind::Status(401), error.to_string()))
            }
            Ok(Ok(token)) => token,
        };
        let payload = build_kiro_request(
            &openai,
            &row.upstream_id,
            &iso_now(),
            token.profile_arn.as_deref(),
        );
        let mut builder = call
            .http
            .post(row.provider.chat_url())
            .header(header::CONTENT_TYPE, "application/json")
            .bearer_auth(token.token.expose_secret())
            .body(payload.to_string());
        for (name, value) in &extra_headers {
            builder = builder.header(name.clone(), value.clone());
        }
        let response = send_until(builder, deadline, budget).await?;
        let status = response.status();
        // A cached token may have been revoked or expired early: refresh it once.
        if matches!(status.as_u16(), 401 | 403) && !token.fresh && !retried {
            retried = true;
            call.kiro.forget(&refresh);
            continue;
        }
        break response;
    };
    let status = response.status();
    let headers = response.headers().clone();
    let response = match sort_answer(response, deadline, call.idle).await? {
        Ok(response) => response,
        Err(refused) => return Ok(refused),
    };
    let events = KiroEvents::new(response.bytes_stream().boxed(), &row.upstream_id);
    let rate = rate_of(status, &headers, b"");
    if call.stream {
        stream(events, deadline, budget, rate).await
    } else {
        complete(events, deadline, call.idle, rate).await
    }
}

/// Waits for the first translated chunk; an exception before it fails over.
async fn stream(
    mut events: KiroEvents,
    deadline: Instant,
    budget: Duration,
    rate: RateLimitInfo,
) -> Result<Reply, Failure> {
    let first = match timeout_at(deadline, events.next()).await {
        Err(_) => return Err(no_first_chunk(budget)),
        Ok(None) => return Err(ended_before_first_chunk(None)),
        Ok(Some(Step::Transport(error))) => return Err(ended_before_first_chunk(Some(&error))),
        Ok(Some(Step::Fail(message))) => {
            return Err(Failure::new(FailureKind::Status(502), message))
        }
        Ok(Some(Step::Data(first))) => first,
    };
    let rest: UpstreamBody = Box::pin(futures_util::stream::unfold(
        events,
        |mut events| async move {
            let item = match events.next().await? {
                Step::Data(bytes) => Ok(bytes),
                Step::Fail(message) => Ok(error_event(&message)),
                Step::Transport(error) => Err(error),
            };
            Some((item, events))
        },
    ));
    Ok(Reply::Stream {
        status: StatusCode::OK,
        content_type: Some(HeaderValue::from_static("text/event-stream")),
        first,
        rest,
        rate,
    })
}

/// Reads the whole answer into one `chat.completion`; an exception frame becomes a 502.
async fn complete(
    mut events: KiroEvents,
    deadline: Instant,
    idle: Duration,
    rate: RateLimitInfo,
) -> Result<Reply, Failure> {
    let raw = std::mem::replace(&mut events.upstream, futures_util::stream::empty().boxed());
    let body = read_whole(raw, deadline, idle).await?;
    events.decoder.push(&body);
    let mut chunks = Vec::new();
    loop {
        match events.decoder.next_frame() {
            Ok(Some(frame)) => match events.translator.frame(&frame) {
                Ok(more) => chunks.extend(more),
                Err(error) => {
                    return Ok(Reply::Refused {
                        status: StatusCode::BAD_GATEWAY,
                        content_type: Some(HeaderValue::from_static("application/json")),
                        body: Bytes::from(error.body().to_string()),
                    })
                }
            },
            Ok(None) => break,
            Err(error) => {
                return Err(Failure::new(
                    FailureKind::BrokenBeforeFirstChunk,
                    format!("Kiro's answer is corrupt: {error}"),
                ))
            }
        }
    }
    if let Err(error) = events.decoder.finish() {
        return Err(Failure::new(
            FailureKind::BrokenBeforeFirstChunk,
            format!("Kiro's answer is corrupt: {error}"),
        ));
    }
    chunks.extend(events.translator.finish());
    Ok(Reply::Whole {
        status: StatusCode::OK,
        content_type: Some(HeaderValue::from_static("application/json")),
        body: Bytes::from(completion_from_chunks(&chunks).to_string()),
        rate,
    })
}

/// What the translated stream yields next.
enum Step {
    /// OpenAI SSE bytes.
    Data(Bytes),
    /// Kiro sent an exception or broken framing; the stream ends after it.
    Fail(String),
    Transport(reqwest::Error),
}

/// Why Kiro's stream cannot go on.
#[derive(Debug, thiserror::Error)]
enum StreamBreak {
    #[error("Kiro's answer is corrupt: {0}")]
    Corrupt(#[from] FrameError),
    #[error("Kiro error {code}: {message}")]
    Upstream { code: String, message: String },
}

impl From<KiroError> for StreamBreak {
    fn from(error: KiroError) -> Self {
        Self::Upstream {
            code: error.code,
            message: error.message,
        }
    }
}

/// Kiro's byte stream, decoded and translated frame by frame as it arrives.
struct KiroEvents {
    upstream: UpstreamBody,
    decoder: FrameDecoder,
    translator: ChunkTranslator,
    pending: VecDeque<Bytes>,
    done: bool,
}

fn sse(chunk: &Value) -> Bytes {
    Bytes::from(format!("data: {chunk}\n\n"))
}

fn error_event(message: &str) -> Bytes {
    let error = KiroError {
        message: message.to_string(),
        code: "kiro_stream_error".into(),
    };
    Bytes::from(format!("data: {}\n\n", error.body()))
}

impl KiroEvents {
    fn new(upstream: UpstreamBody, model: &str) -> Self {
        let created = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_secs());
        Self {
            upstream,
            decoder: FrameDecoder::default(),
            translator: ChunkTranslator::new(model, created),
            pending: VecDeque::new(),
            done: false,
        }
    }

    /// Decodes every whole frame buffered so far; `Err` ends the stream.
    fn drain_frames(&mut self) -> Result<(), StreamBreak> {
        loop {
            let Some(frame) = self.decoder.next_frame()? else {
                return Ok(());
            };
            let chunks = self.translator.frame(&frame)?;
            self.pending.extend(chunks.iter().map(sse));
        }
    }

    async fn next(&mut self) -> Option<Step> {
        loop {
            if let Some(bytes) = self.pending.pop_front() {
                return Some(Step::Data(bytes));
            }
            if self.done {
                return None;
            }
            match self.upstream.next().await {
                Some(Ok(chunk)) => {
                    self.decoder.push(&chunk);
                    if let Err(broken) = self.drain_frames() {
                        self.done = true;
                        self.pending.clear();
                        return Some(Step::Fail(broken.to_string()));
                    }
                }
                Some(Err(error)) => {
                    self.done = true;
                    return Some(Step::Transport(error));
                }
                None => {
                    self.done = true;
                    if let Err(error) = self.decoder.finish() {
                        return Some(Step::Fail(format!("Kiro's answer is corrupt: {error}")));
                    }
                    if let Some(last) = self.translator.finish() {
                        self.pending.push_back(sse(&last));
                    }
                    self.pending
                        .push_back(Bytes::from_static(b"data: [DONE]\n\n"));
                }
            }
        }
    }
}

/// `2026-01-02T03:04:05Z` for now (Kiro's prompt carries the current time).
fn iso_now() -> String {
    let secs = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    iso_from_unix(secs)
}

/// Civil date from Unix seconds (Howard Hinnant's days-from-civil inverse).
fn iso_from_unix(secs: u64) -> String {
    let days = (secs / 86_400) as i64;
    let rem = secs % 86_400;
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}Z",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unix_seconds_format_as_iso_dates() {
        assert_eq!(iso_from_unix(0), "1970-01-01T00:00:00Z");
        assert_eq!(iso_from_unix(1_709_210_096), "2024-02-29T12:34:56Z");
    }
}
