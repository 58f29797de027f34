//! The OpenAI-compatible adapter: `POST <base>/chat/completions` with a bearer key and the
//! provider's extra headers (OpenCode Zen's session headers); the answer is already OpenAI
//! chat, so it is passed on byte for byte.

use futures_util::StreamExt;
use http::header;
use secrecy::ExposeSecret;
use tokio::time::Instant;

use crate::engine::providers::headers::provider_headers;

use super::transport::{content_type, first_chunk, rate_of, read_whole, send_until, sort_answer};
use super::{Call, Failure, FailureKind, Reply};

/// Whether a success's content type can carry a chat answer: JSON or an event stream (and
/// `text/plain`, which some servers put on their event streams).
fn speaks_chat(content_type: &str) -> bool {
    let kind = content_type.split(';').next().unwrap_or("").trim();
    kind.eq_ignore_ascii_case("text/event-stream")
        || kind.eq_ignore_ascii_case("text/plain")
        || kind.eq_ignore_ascii_case("application/x-ndjson")
        || kind.to_ascii_lowercase().ends_with("json")
}

pub async fn send(call: Call<'_>) -> Result<Reply, Failure> {
    let budget = call.first_byte_budget;
    let deadline = Instant::now() + budget;
    let url = call.row.provider.chat_target().map_err(|error| {
        Failure::new(
            FailureKind::Connect,
            format!(
                "`{}` is not a valid URL: {error}",
                call.row.provider.chat_url()
            ),
        )
    })?;
    let mut builder = call
        .http
        .post(url)
        .header(header::CONTENT_TYPE, "application/json")
        .body(call.body);
    if call.stream {
        builder = builder.header(header::ACCEPT, "text/event-stream");
    }
    for (name, value) in provider_headers(&call.row.provider, call.identity) {
        builder = builder.header(name, value);
    }
    if let Some(key) = &call.key {
        builder = builder.bearer_auth(key.expose_secret());
    }
    let response = send_until(builder, deadline, budget).await?;
    let status = response.status();
    let headers = response.headers().clone();
    let response = match sort_answer(response, deadline, call.idle).await? {
        Ok(response) => response,
        Err(refused) => return Ok(refused),
    };
    let rate = rate_of(status, &headers, b"");
    let content_type = content_type(&headers);
    if let Some(kind) = content_type.as_ref().and_then(|v| v.to_str().ok()) {
        if !speaks_chat(kind) {
            return Err(Failure::new(
                FailureKind::NotAnAnswer,
                format!(
                    "HTTP {} with a `{kind}` body, not a chat answer",
                    status.as_u16()
                ),
            ));
        }
    }
    if call.stream {
        let mut rest = response.bytes_stream().boxed();
        let first = first_chunk(&mut rest, deadline, budget).await?;
        Ok(Reply::Stream {
            status,
            content_type,
            first,
            rest,
            rate,
        })
    } else {
        let body = read_whole(response.bytes_stream().boxed(), deadline, call.idle).await?;
        if body.trim_ascii_start().first() != Some(&b'{') {
            return Err(Failure::new(
                FailureKind::NotAnAnswer,
                format!(
                    "HTTP {} with a body that is not a JSON chat completion",
                    status.as_u16()
                ),
            ));
        }
        Ok(Reply::Whole {
            status,
            content_type,
            body,
            rate,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::speaks_chat;

    #[test]
    fn html_is_not_a_chat_answer() {
        for ok in [
            "text/event-stream",
            "application/json; charset=utf-8",
            "text/plain",
            "application/vnd.api+json",
        ] {
            assert!(speaks_chat(ok), "{ok}");
        }
        for bad in [
            "text/html",
            "text/html; charset=utf-8",
            "application/xml",
            "image/png",
        ] {
            assert!(!speaks_chat(bad), "{bad}");
        }
    }
}
