//! The edge between the shared chat path and the translating endpoints: takes the OpenAI
//! response `route_chat` produced and re-emits it in the client's dialect. Whole answers are
//! converted at once; streams are converted event by event as the relay yields them, so
//! failover (before the first chunk) and the in-band error (after it) stay the relay's. It must
//! not plan, retry or buffer a stream.

use std::time::Duration;

use axum::body::{Body, Bytes};
use axum::response::Response;
use futures_util::{Stream, StreamExt};
use http::{header, HeaderMap, HeaderValue, StatusCode};
use serde_json::Value;

use crate::engine::translate::{OpenAiEvent, SseParser};

/// How often an idle translated stream sends a keep-alive (Anthropic `ping`).
const PING_EVERY: Duration = Duration::from_secs(15);

/// One client dialect's view of an OpenAI answer.
pub trait Dialect {
    type Stream: StreamDialect;
    /// The client body for a whole OpenAI chat completion.
    fn answer(&self, openai: &Value) -> Value;
    /// The client error body for a failed request.
    fn error(&self, status: StatusCode, message: &str) -> Value;
    /// A fresh stream state machine.
    fn stream(&self) -> Self::Stream;
}

/// A client dialect's streaming state machine over OpenAI SSE events.
pub trait StreamDialect: Send + 'static {
    /// The client's events for one upstream event.
    fn on_event(&mut self, event: &OpenAiEvent) -> String;
    /// The upstream body ended; close the answer if it is not closed yet.
    fn finish(&mut self) -> String;
    /// The upstream body failed; end with an in-band error.
    fn error(&mut self, message: &str) -> String;
    /// A keep-alive event, when the dialect has one.
    fn ping(&self) -> Option<String>;
    fn ended(&self) -> bool;
}

/// Re-emits `response` (an OpenAI answer from `route_chat`) in the client's dialect.
pub async fn convert<D: Dialect>(dialect: &D, response: Response) -> Response {
    let (parts, body) = response.into_parts();
    let is_sse = parts
        .headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("text/event-stream"));
    if parts.status.is_success() && is_sse {
        let stream = translate_stream(body, dialect.stream());
        let mut response = build(parts.status, &parts.headers, Body::from_stream(stream));
        let headers = response.headers_mut();
        headers.insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("text/event-stream"),
        );
        headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
        return response;
    }
    let bytes = match axum::body::to_bytes(body, usize::MAX).await {
        Ok(bytes) => bytes,
        Err(error) => {
            let message = format!("the upstream answer could not be read: {error}");
            return json_response(
                StatusCode::BAD_GATEWAY,
                &parts.headers,
                &dialect.error(StatusCode::BAD_GATEWAY, &message),
            );
        }
    };
    if !parts.status.is_success() {
        let message = crate::engine::forward::error_message_from_body(&bytes);
        return json_response(
            parts.status,
            &parts.headers,
            &dialect.error(parts.status, &message),
        );
    }
    match serde_json::from_slice::<Value>(&bytes) {
        Ok(openai) => json_response(parts.status, &parts.headers, &dialect.answer(&openai)),
        Err(_) => {
            let message = "the upstream answered with something that is not a chat completion";
            json_response(
                StatusCode::BAD_GATEWAY,
                &parts.headers,
                &dialect.error(StatusCode::BAD_GATEWAY, message),
            )
        }
    }
}

struct Translation<S> {
    body: axum::body::BodyDataStream,
    parser: SseParser,
    dialect: S,
    ticker: tokio::time::Interval,
    done: bool,
}

impl<S: StreamDialect> Translation<S> {
    async fn next_text(&mut self) -> Option<String> {
        loop {
            if self.done || self.dialect.ended() {
                return None;
            }
            let chunk = tokio::select! {
                chunk = self.body.next() => chunk,
                _ = self.ticker.tick() => match self.dialect.ping() {
                    Some(ping) => return Some(ping),
                    None => continue,
                },
            };
            let text = match chunk {
                Some(Ok(bytes)) => {
                    let mut text = String::new();
                    for event in self.parser.feed(&bytes) {
                        text.push_str(&self.dialect.on_event(&event));
                    }
                    text
                }
                Some(Err(error)) => {
                    self.done = true;
                    self.dialect.error(&format!(
                        "the upstream stream broke before the answer was complete ({error})"
                    ))
                }
                None => {
                    self.done = true;
                    let mut text = String::new();
                    for event in self.parser.finish() {
                        text.push_str(&self.dialect.on_event(&event));
                    }
                    text.push_str(&self.dialect.finish());
                    text
                }
            };
            if !text.is_empty() {
                self.ticker.reset();
                return Some(text);
            }
        }
    }
}

/// The client's stream, converted event by event; dropping it drops the relay (and so the
/// upstream request) with it.
fn translate_stream<S: StreamDialect>(
    body: Body,
    dialect: S,
) -> impl Stream<Item = Result<Bytes, std::io::Error>> + Send {
    let mut ticker = tokio::time::interval(PING_EVERY);
    ticker.reset();
    let translation = Translation {
        body: body.into_data_stream(),
        parser: SseParser::default(),
        dialect,
        ticker,
        done: false,
    };
    futures_util::stream::unfold(translation, |mut translation| async move {
        translation
            .next_text()
            .await
            .map(|text| (Ok(Bytes::from(text)), translation))
    })
}

/// A response with the router's `x-modelrelay-*` headers carried over.
fn build(status: StatusCode, from: &HeaderMap, body: Body) -> Response {
    let mut response = Response::new(body);
    *response.status_mut() = status;
    for (name, value) in from {
        if name.as_str().starts_with("x-modelrelay-") || name == header::RETRY_AFTER {
            response.headers_mut().insert(name.clone(), value.clone());
        }
    }
    response
}

pub fn json_response(status: StatusCode, from: &HeaderMap, body: &Value) -> Response {
    let mut response = build(status, from, Body::from(body.to_string()));
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    response
}
