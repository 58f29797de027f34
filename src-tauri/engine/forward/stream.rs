//! A routed stream, typed: the winner's SSE answer as a sequence of [`Chunk`]s (whole lines,
//! raw bytes kept, never buffered beyond one partial line) that ends either complete or with
//! one [`StreamFailure`]. Once bytes have reached the client an upstream failure cannot fail
//! over; each edge renders the failure in its own dialect, so a cut stream never looks
//! complete. How the stream ended is reported once, through `on_end`.

use std::time::Duration;

use bytes::Bytes;
use futures_util::StreamExt;

use crate::engine::providers::describe_http_error;
use crate::engine::sse::{self, LineSplitter, SseLine};
use crate::engine::upstream::UpstreamBody;

use super::progress::StreamProgress;

/// How a stream ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StreamOutcome {
    Completed,
    UpstreamError(String),
    IdleTimeout,
    /// The upstream closed without `[DONE]` or a finish reason on every choice.
    Truncated,
    /// The client went away before the answer was complete; the upstream request is dropped
    /// with it.
    ClientGone,
}

/// How a stream ended and how many tokens it carried.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StreamEnd {
    pub outcome: StreamOutcome,
    pub tokens: u64,
}

pub type OnStreamEnd = Box<dyn FnOnce(StreamEnd) + Send>;

/// Whole SSE lines as the upstream sent them (for OpenAI clients, relayed unchanged).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Chunk {
    pub raw: Bytes,
}

impl Chunk {
    /// The `data:` payloads of this chunk; `None` stands for `[DONE]`.
    pub fn data(&self) -> impl Iterator<Item = Option<&[u8]>> {
        sse::data_lines(&self.raw)
    }
}

/// Why a stream ended before its answer was complete; the message is for the client.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StreamFailure {
    pub message: String,
}

/// What a routed stream yields next.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StreamItem {
    Chunk(Chunk),
    /// The last item: the answer is incomplete.
    Failed(StreamFailure),
}

/// The winner's answer after its first chunk.
pub struct AnswerStream {
    first: Option<Bytes>,
    rest: UpstreamBody,
    idle: Duration,
    /// Whether the body is SSE (anything else is relayed as opaque bytes).
    is_sse: bool,
    lines: LineSplitter,
    progress: StreamProgress,
    /// The last bytes handed out ended an event (a blank line).
    at_event_boundary: bool,
    on_end: Option<OnStreamEnd>,
}

impl AnswerStream {
    pub fn new(
        first: Bytes,
        rest: UpstreamBody,
        idle: Duration,
        is_sse: bool,
        on_end: OnStreamEnd,
    ) -> Self {
        Self {
            first: Some(first),
            rest,
            idle,
            is_sse,
            lines: LineSplitter::default(),
            progress: StreamProgress::default(),
            at_event_boundary: true,
            on_end: Some(on_end),
        }
    }

    pub fn is_sse(&self) -> bool {
        self.is_sse
    }

    /// What the stream has said so far.
    pub fn progress(&self) -> &StreamProgress {
        &self.progress
    }

    /// True when an in-band event written now would need a blank line before it.
    pub fn needs_separator(&self) -> bool {
        !self.at_event_boundary
    }

    fn finish(&mut self, outcome: StreamOutcome) {
        if let Some(on_end) = self.on_end.take() {
            on_end(StreamEnd {
                outcome,
                tokens: self.progress.tokens(),
            });
        }
    }

    fn fail(&mut self, outcome: StreamOutcome, message: String) -> Option<StreamItem> {
        self.finish(outcome);
        Some(StreamItem::Failed(StreamFailure { message }))
    }

    fn chunk(&mut self, raw: Bytes) -> StreamItem {
        if self.is_sse {
            for line in sse::lines(&raw) {
                match sse::classify(line) {
                    SseLine::Data(payload) => self.progress.observe(payload),
                    SseLine::Done => self.progress.saw_done = true,
                    SseLine::Other => {}
                }
            }
            self.at_event_boundary = sse::ends_event(&raw);
        }
        StreamItem::Chunk(Chunk { raw })
    }

    /// The next chunk, the failure that ends the stream, or `None` after the end.
    pub async fn next(&mut self) -> Option<StreamItem> {
        self.on_end.as_ref()?;
        loop {
            let bytes = match self.first.take() {
                Some(first) => first,
                None => match tokio::time::timeout(self.idle, self.rest.next()).await {
                    Ok(Some(Ok(bytes))) => bytes,
                    Ok(Some(Err(error))) => {
                        let reason = describe_http_error(&error);
                        let message = format!(
                            "the upstream stream broke before the answer was complete ({reason})"
                        );
                        return self.fail(StreamOutcome::UpstreamError(reason), message);
                    }
                    Err(_) => {
                        let message = format!(
                            "the upstream sent nothing for {} ms; the answer is incomplete",
                            self.idle.as_millis()
                        );
                        return self.fail(StreamOutcome::IdleTimeout, message);
                    }
                    Ok(None) => return self.end_of_upstream(),
                },
            };
            if bytes.is_empty() {
                continue;
            }
            if !self.is_sse {
                return Some(self.chunk(bytes));
            }
            match self.lines.feed(bytes) {
                Ok(whole) if whole.is_empty() => continue,
                Ok(whole) => return Some(self.chunk(whole)),
                Err(error) => {
                    return self.fail(
                        StreamOutcome::UpstreamError(error.to_string()),
                        format!("{error}; the answer is incomplete"),
                    )
                }
            }
        }
    }

    /// The upstream closed: hand out a last whole line if one was left unterminated, close a
    /// finished answer that lacks `[DONE]`, or fail a cut one.
    fn end_of_upstream(&mut self) -> Option<StreamItem> {
        if !self.is_sse {
            self.finish(StreamOutcome::Completed);
            return None;
        }
        let tail = self.lines.finish();
        if let Some(line) = complete_last_line(&tail) {
            return Some(self.chunk(line));
        }
        if self.progress.saw_done {
            self.finish(StreamOutcome::Completed);
            return None;
        }
        if self.progress.finished() {
            // Finished but without the terminator some clients wait for.
            let separator: &[u8] = if self.at_event_boundary { b"" } else { b"\n" };
            let done = Bytes::from([separator, b"data: [DONE]\n\n"].concat());
            let item = self.chunk(done);
            self.finish(StreamOutcome::Completed);
            return Some(item);
        }
        self.fail(
            StreamOutcome::Truncated,
            "the upstream closed the stream before the answer was complete".into(),
        )
    }
}

/// A last line the upstream did not terminate, made a whole event when it is one (`[DONE]`,
/// or a `data:` line whose JSON is complete); a fragment of a cut line is dropped.
fn complete_last_line(tail: &[u8]) -> Option<Bytes> {
    let complete = match sse::classify(tail) {
        SseLine::Done => true,
        SseLine::Data(payload) => serde_json::from_slice::<serde::de::IgnoredAny>(payload).is_ok(),
        SseLine::Other => false,
    };
    complete.then(|| Bytes::from([tail.trim_ascii_end(), b"\n\n"].concat()))
}

impl Drop for AnswerStream {
    fn drop(&mut self) {
        // A client that hangs up after the answer finished (translated edges end their stream
        // at the finish event) got the whole answer.
        let outcome = if self.progress.finished() || self.progress.saw_done {
            StreamOutcome::Completed
        } else {
            StreamOutcome::ClientGone
        };
        self.finish(outcome);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::{Arc, Mutex};

    fn upstream(chunks: Vec<&'static [u8]>) -> UpstreamBody {
        futures_util::stream::iter(chunks.into_iter().map(|c| Ok(Bytes::from_static(c)))).boxed()
    }

    fn stream(
        first: &'static [u8],
        rest: UpstreamBody,
    ) -> (AnswerStream, Arc<Mutex<Option<StreamOutcome>>>) {
        let seen = Arc::new(Mutex::new(None));
        let record = seen.clone();
        let stream = AnswerStream::new(
            Bytes::from_static(first),
            rest,
            Duration::from_secs(5),
            true,
            Box::new(move |end: StreamEnd| *record.lock().unwrap() = Some(end.outcome)),
        );
        (stream, seen)
    }

    /// The bytes an OpenAI client would receive (failures as the edge renders them).
    async fn run(first: &'static [u8], rest: UpstreamBody) -> (String, Option<StreamOutcome>) {
        let (mut stream, seen) = stream(first, rest);
        let mut text = String::new();
        while let Some(item) = stream.next().await {
            match item {
                StreamItem::Chunk(chunk) => text.push_str(std::str::from_utf8(&chunk.raw).unwrap()),
                StreamItem::Failed(failure) => {
                    text.push_str(&format!("<failed: {}>", failure.message))
                }
            }
        }
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
        let (text, outcome) = run(
            b"data: {\"choices\":[{\"index\":0,\"finish_reason\":\"stop\"}]}\n\n",
            upstream(vec![]),
        )
        .await;
        assert!(text.ends_with("}\n\ndata: [DONE]\n\n"), "{text}");
        assert_eq!(outcome, Some(StreamOutcome::Completed));
    }

    #[tokio::test]
    async fn an_empty_finish_reason_does_not_complete_a_stream() {
        let (text, outcome) = run(
            b"data: {\"choices\":[{\"index\":0,\"delta\":{\"content\":\"lo wor\"},\"finish_reason\":\"\"}]}\n\n",
            upstream(vec![]),
        )
        .await;
        assert!(!text.contains("[DONE]"), "{text}");
        assert!(text
            .ends_with("<failed: the upstream closed the stream before the answer was complete>"));
        assert_eq!(outcome, Some(StreamOutcome::Truncated));
    }

    #[tokio::test]
    async fn a_done_without_newline_is_sent_once_and_whole() {
        let (text, outcome) = run(b"data: {\"a\":1}\n\n", upstream(vec![b"data: [DONE]"])).await;
        assert_eq!(text, "data: {\"a\":1}\n\ndata: [DONE]\n\n");
        assert_eq!(outcome, Some(StreamOutcome::Completed));
    }

    #[tokio::test]
    async fn a_fragment_of_a_cut_line_never_reaches_the_client() {
        let (text, outcome) = run(
            b"data: {\"a\":1}\n\ndata: {\"content\":\"hal",
            upstream(vec![]),
        )
        .await;
        assert_eq!(
            text,
            "data: {\"a\":1}\n\n<failed: the upstream closed the stream before the answer was complete>"
        );
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
    async fn dropping_an_unfinished_stream_reports_a_gone_client() {
        let (mut stream, seen) = stream(b"data: {}\n\n", futures_util::stream::pending().boxed());
        assert!(stream.next().await.is_some());
        drop(stream);
        assert_eq!(*seen.lock().unwrap(), Some(StreamOutcome::ClientGone));
    }

    #[tokio::test]
    async fn dropping_a_finished_stream_reports_it_completed() {
        let (mut stream, seen) = stream(
            b"data: {\"choices\":[{\"index\":0,\"delta\":{},\"finish_reason\":\"stop\"}]}\n\n",
            futures_util::stream::pending().boxed(),
        );
        assert!(stream.next().await.is_some());
        drop(stream);
        assert_eq!(*seen.lock().unwrap(), Some(StreamOutcome::Completed));
    }
}
