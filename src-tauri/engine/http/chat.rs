//! `POST /v1/chat/completions`: parse, route, and serialise the routed answer once. For an
//! OpenAI client the bytes are the upstream's own, streamed as they arrive.

use std::sync::Arc;

use axum::body::{Body, Bytes};
use axum::extract::rejection::BytesRejection;
use axum::extract::State;
use axum::response::Response;
use http::{header, HeaderName, HeaderValue, StatusCode};

use crate::engine::error::{error_body, ApiError};
use crate::engine::forward::{route, Answer, AnswerStream, ChatRequest, Routed, StreamItem};
use crate::engine::state::AppState;

pub async fn chat_completions(
    State(state): State<Arc<AppState>>,
    body: Result<Bytes, BytesRejection>,
) -> Result<Response, ApiError> {
    let settings = state.config.settings();
    let body = body.map_err(|rejection| body_error(&rejection, settings.max_body_bytes()))?;
    let request = ChatRequest::parse(&body)?;
    let routed = route(&state, &settings, request).await?;
    Ok(openai_response(routed))
}

pub fn body_error(rejection: &BytesRejection, limit: usize) -> ApiError {
    if rejection.status() == StatusCode::PAYLOAD_TOO_LARGE {
        ApiError::BodyTooLarge { limit }
    } else {
        ApiError::MalformedJson(rejection.body_text())
    }
}

/// The routed answer as an OpenAI client receives it: the upstream's status, content type
/// and bytes, with the router's `x-modelrelay-*` headers.
fn openai_response(routed: Routed) -> Response {
    let headers = routed.headers();
    let (status, content_type, body) = match routed.answer {
        Answer::Whole {
            status,
            content_type,
            body,
        }
        | Answer::Refused {
            status,
            content_type,
            body,
        } => (status, content_type, Body::from(body)),
        Answer::Stream {
            status,
            content_type,
            stream,
        } => (
            status,
            Some(content_type.unwrap_or(HeaderValue::from_static("text/event-stream"))),
            Body::from_stream(relay(stream)),
        ),
    };
    let streaming =
        matches!(&content_type, Some(v) if v.as_bytes().starts_with(b"text/event-stream"));
    let mut response = Response::new(body);
    *response.status_mut() = status;
    let map = response.headers_mut();
    if let Some(content_type) = content_type {
        map.insert(header::CONTENT_TYPE, content_type);
    }
    if streaming {
        map.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
        map.insert(
            HeaderName::from_static("x-accel-buffering"),
            HeaderValue::from_static("no"),
        );
    }
    for (name, value) in headers {
        map.insert(name, value);
    }
    response
}

/// The stream's chunks, byte for byte; a failure after the first chunk becomes one in-band
/// OpenAI error event (or, for a body that is not SSE, an aborted body).
fn relay(
    stream: Box<AnswerStream>,
) -> impl futures_util::Stream<Item = std::io::Result<Bytes>> + Send {
    futures_util::stream::unfold(stream, |mut stream| async move {
        let item = match stream.next().await? {
            StreamItem::Chunk(chunk) => Ok(chunk.raw),
            StreamItem::Failed(failure) if stream.is_sse() => {
                let body = error_body(
                    &failure.message,
                    "upstream_error",
                    None,
                    "upstream_stream_failed",
                );
                let separator = if stream.needs_separator() { "\n" } else { "" };
                Ok(Bytes::from(format!("{separator}data: {body}\n\n")))
            }
            StreamItem::Failed(failure) => Err(std::io::Error::other(failure.message)),
        };
        Some((item, stream))
    })
}
