//! Relays a streamed answer to the client chunk by chunk, never buffering. Once bytes have
//! reached the client an upstream failure cannot fail over: it becomes one in-band SSE error
//! event and the stream ends, so a cut stream never looks complete.

use std::time::Duration;

use bytes::Bytes;
use futures_util::{Stream, StreamExt};

use crate::engine::error::error_body;
use crate::engine::providers::describe_http_error;

use super::attempt::UpstreamBody;
use super::sse::SseObserver;

/// How a relayed stream ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StreamOutcome {
    Completed,
    UpstreamError(String),
    IdleTimeout,
    /// The upstream closed without `[DONE]` or a finish reason.
    Truncated,
    /// The client went away first; the upstream request is dropped with it.
    ClientGone,
}

/// How a stream ended and how many tokens it carried.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StreamEnd {
    pub outcome: StreamOutcome,
    pub tokens: u64,
}

pub type OnStreamEnd = Box<dyn FnOnce(StreamEnd) + Send>;

struct Relay {
    first: Option<Bytes>,
    rest: UpstreamBody,
    idle: Duration,
    is_sse: bool,
    observer: SseObserver,
    on_end: Option<OnStreamEnd>,
}

impl Relay {
    fn finish(&mut self, outcome: StreamOutcome) {
        if let Some(on_end) = self.on_end.take() {
            on_end(StreamEnd {
                outcome,
                tokens: self.observer.tokens(),
            });
        }
    }

    fn error_event(&self, message: &str) -> Bytes {
        let body = error_body(message, "upstream_error", None, "upstream_stream_failed");
        let separator = if self.observer.at_line_start() {
            ""
        } else {
            "\n\n"
        };
        Bytes::from(format!("{separator}data: {body}\n\n"))
    }

    /// Ends the stream after a failure: in-band for SSE, by aborting the body otherwise.
    fn fail(&mut self, outcome: StreamOutcome, message: &str) -> Option<std::io::Result<Bytes>> {
        let item = if self.is_sse {
            Ok(self.error_event(message))
        } else {
            Err(std::io::Error::other(message.to_string()))
        };
        self.finish(outcome);
        Some(item)
    }

    async fn next_item(&mut self) -> Option<std::io::Result<Bytes>> {
        self.on_end.as_ref()?;
        if let Some(first) = self.first.take() {
            self.observer.feed(&first);
            return Some(Ok(first));
        }
        loop {
            match tokio::time::timeout(self.idle, self.rest.next()).await {
                Ok(Some(Ok(chunk))) if chunk.is_empty() => continue,
                Ok(Some(Ok(chunk))) => {
                    self.observer.feed(&chunk);
                    return Some(Ok(chunk));
                }
                Ok(Some(Err(error))) => {
                    let reason = describe_http_error(&error);
                    let message = format!(
                        "the upstream stream broke before the answer was complete ({reason})"
                    );
                    return self.fail(StreamOutcome::UpstreamError(reason), &message);
                }
                Err(_) => {
                    let message = format!(
                        "the upstream sent nothing for {} ms; the answer is incomplete",
                        self.idle.as_millis()
                    );
                    return self.fail(StreamOutcome::IdleTimeout, &message);
                }
                Ok(None) if !self.is_sse || self.observer.saw_done => {
                    self.finish(StreamOutcome::Completed);
                    return None;
                }
                Ok(None) if self.observer.saw_finish => {
                    // Finished but without the terminator some clients wait for.
                    self.finish(StreamOutcome::Completed);
                    return Some(Ok(Bytes::from_static(b"data: [DONE]\n\n")));
                }
                Ok(None) => {
                    return self.fail(
                        StreamOutcome::Truncated,
                        "the upstream closed the stream before the answer was complete",
                    );
                }
            }
        }
    }
}

impl Drop for Relay {
    fn drop(&mut self) {
        self.finish(StreamOutcome::ClientGone);
    }
}

/// The client-facing body for a stream whose first chunk has arrived.
pub fn relay_stream(
    first: Bytes,
    rest: UpstreamBody,
    idle: Duration,
    is_sse: bool,
    on_end: OnStreamEnd,
) -> impl Stream<Item = std::io::Result<Bytes>> + Send {
    let relay = Relay {
        first: Some(first),
        rest,
        idle,
        is_sse,
        observer: SseObserver::default(),
        on_end: Some(on_end),
    };
    futures_util::stream::unfold(relay, |mut relay| async move {
        relay.next_item().await.map(|item| (item, relay))
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::{Arc, Mutex};

    fn upstream(chunks: Vec<&'static [u8]>) -> UpstreamBody {
        futures_util::stream::iter(chunks.into_iter().map(|c| Ok(Bytes::from_static(c)))).boxed()
    }

    async fn run(first: &'static [u8], rest: UpstreamBody) -> (String, Option<StreamOutcome>) {
        let seen = Arc::new(Mutex::new(None));
        let record = seen.clone();
        let stream = relay_stream(
            Bytes::from_static(first),
            rest,
            Duration::from_secs(5),
            true,
            Box::new(move |end: StreamEnd| *record.lock().unwrap() = Some(end.outcome)),
        );
        let chunks: Vec<_> = stream.collect().await;
        let text: String = chunks
            .into_iter()
            .map(|c| String::from_utf8(c.unwrap().to_vec()).unwrap())
            .collect();
        let outcome = seen.lock().unwrap().clone();
        (text, outcome)
    }

    #[tokio::test]
    async fn a_complete_stream_passes_through_unchanged() {
        let (text, outcome) =
            run(b"data: {\"a\":1}\n\n", upstream(vec![b"data: [DONE]\n\n"])).await;
        assert_eq!(text, "data: {\"a\":1}\n\ndata: [DONE]\n\n");
        assert_eq!(outcome, Some(StreamOutcome::Completed));
    }

    #[tokio::test]
    async fn a_finished_stream_without_done_gets_one() {
        let (text, outcome) =
            run(b"data: {\"finish_reason\":\"stop\"}\n\n", upstream(vec![])).await;
        assert!(text.ends_with("data: [DONE]\n\n"));
        assert_eq!(outcome, Some(StreamOutcome::Completed));
    }

    #[tokio::test]
    async fn a_truncated_stream_ends_with_an_error_event() {
        let (text, outcome) = run(b"data: {\"content\":\"hal", upstream(vec![])).await;
        assert!(
            text.starts_with("data: {\"content\":\"hal\n\ndata: {\"error\""),
            "{text}"
        );
        assert!(!text.contains("[DONE]"));
        assert_eq!(outcome, Some(StreamOutcome::Truncated));
    }

    #[tokio::test(start_paused = true)]
    async fn a_silent_upstream_is_cut_after_the_idle_budget() {
        let silent = futures_util::stream::pending().boxed();
        let (text, outcome) = run(b"data: {}\n\n", silent).await;
        assert!(text.contains("sent nothing for 5000 ms"));
        assert_eq!(outcome, Some(StreamOutcome::IdleTimeout));
    }

    #[tokio::test]
    async fn dropping_the_body_reports_a_gone_client() {
        let seen = Arc::new(Mutex::new(None));
        let record = seen.clone();
        let mut stream = Box::pin(relay_stream(
            Bytes::from_static(b"data: {}\n\n"),
            futures_util::stream::pending().boxed(),
            Duration::from_secs(5),
            true,
            Box::new(move |end: StreamEnd| *record.lock().unwrap() = Some(end.outcome)),
        ));
        assert!(stream.next().await.is_some());
        drop(stream);
        assert_eq!(*seen.lock().unwrap(), Some(StreamOutcome::ClientGone));
    }
}
