//! The edge for client dialects other than OpenAI chat: serialises a typed `Routed` answer in
//! the client's dialect. Whole answers are converted at once; streams are converted chunk by
//! chunk as they arrive, so failover (before the first chunk) stays the executor's and the
//! in-band error (after it) is rendered once, in the client's shape. It must not plan, retry
//! or buffer a stream.

use std::time::Duration;

use axum::body::{Body, Bytes};
use axum::response::Response;
use futures_util::Stream;
use http::{header, HeaderValue, StatusCode};
use serde_json::Value;

use crate::engine::forward::{Answer, AnswerStream, Routed, StreamFailure, StreamItem};
use crate::engine::translate::OpenAiEvent;
use crate::engine::upstream::error_message_from_body;

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

/// A client dialect's streaming state machine over OpenAI stream events.
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

/// Serialises `routed` in the client's dialect.
pub async fn respond<D: Dialect>(dialect: &D, routed: Routed) -> Response {
    let headers = routed.headers();
    let mut response = match routed.answer {
        Answer::Stream { status, stream, .. } if status.is_success() && stream.is_sse() => {
            let mut response = Response::new(Body::from_stream(translate_stream(
                stream,
                dialect.stream(),
            )));
            *response.status_mut() = status;
            let map = response.headers_mut();
            map.insert(
                header::CONTENT_TYPE,
                HeaderValue::from_static("text/event-stream"),
            );
            map.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
            response
        }
        // A streamed request answered with a whole body: read it and convert it whole.
        Answer::Stream {
            status, mut stream, ..
        } => match read_all(&mut stream).await {
            Ok(body) => whole(dialect, status, &body),
            Err(failure) => json_response(
                StatusCode::BAD_GATEWAY,
                &dialect.error(StatusCode::BAD_GATEWAY, &failure.message),
            ),
        },
        Answer::Refused { status, body, .. } => {
            let message = error_message_from_body(&body);
            json_response(status, &dialect.error(status, &message))
        }
        Answer::Whole { status, body, .. } => whole(dialect, status, &body),
    };
    for (name, value) in headers {
        response.headers_mut().insert(name, value);
    }
    response
}

fn whole<D: Dialect>(dialect: &D, status: StatusCode, body: &[u8]) -> Response {
    match serde_json::from_slice::<Value>(body) {
        Ok(openai) => json_response(status, &dialect.answer(&openai)),
        Err(_) => {
            let message = "the upstream answered with something that is not a chat completion";
            json_response(
                StatusCode::BAD_GATEWAY,
                &dialect.error(StatusCode::BAD_GATEWAY, message),
            )
        }
    }
}

async fn read_all(stream: &mut AnswerStream) -> Result<Vec<u8>, StreamFailure> {
    let mut body = Vec::new();
    while let Some(item) = stream.next().await {
        match item {
            StreamItem::Chunk(chunk) => body.extend_from_slice(&chunk.raw),
            StreamItem::Failed(failure) => return Err(failure),
        }
    }
    Ok(body)
}

struct Translation<S> {
    answer: Box<AnswerStream>,
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
            let item = tokio::select! {
                item = self.answer.next() => item,
                _ = self.ticker.tick() => match self.dialect.ping() {
                    Some(ping) => return Some(ping),
                    None => continue,
                },
            };
            let text = match item {
                Some(StreamItem::Chunk(chunk)) => {
                    let mut text = String::new();
                    for data in chunk.data() {
                        let event = match data {
                            None => Some(OpenAiEvent::Done),
                            Some(payload) => OpenAiEvent::from_data(payload),
                        };
                        if let Some(event) = event {
                            text.push_str(&self.dialect.on_event(&event));
                        }
                    }
                    text
                }
                Some(StreamItem::Failed(failure)) => {
                    self.done = true;
                    self.dialect.error(&failure.message)
                }
                None => {
                    self.done = true;
                    self.dialect.finish()
                }
            };
            if !text.is_empty() {
                self.ticker.reset();
                return Some(text);
            }
        }
    }
}

/// The client's stream, converted chunk by chunk; dropping it drops the answer stream (and so
/// the upstream request) with it.
fn translate_stream<S: StreamDialect>(
    answer: Box<AnswerStream>,
    dialect: S,
) -> impl Stream<Item = Result<Bytes, std::io::Error>> + Send {
    let mut ticker = tokio::time::interval(PING_EVERY);
    ticker.reset();
    let translation = Translation {
        answer,
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

/// A JSON response with `status`.
pub fn json_response(status: StatusCode, body: &Value) -> Response {
    let mut response = Response::new(Body::from(body.to_string()));
    *response.status_mut() = status;
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    response
}
