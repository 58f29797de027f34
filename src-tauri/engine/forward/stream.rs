//! A routed stream, typed: the winner's SSE answer as a sequence of [`Chunk`]s (whole lines,
//! raw bytes kept, never buffered beyond one partial line) that ends either complete or with
//! one [`StreamFailure`]. When the upstream breaks after part of a plain-text answer reached
//! the client, another row may finish it (`rescue` finds one, `splice` fits its reply to what
//! was delivered); otherwise the failure ends the stream, and each edge renders it in its own
//! dialect, so a cut stream never looks complete. How the stream ended (and who continued it)
//! is reported once, through `on_end`.

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use futures_util::StreamExt;
use tokio::time::Instant;

use crate::engine::health::RateLimitInfo;
use crate::engine::providers::{describe_http_error, ContinueMode, ModelRow};
use crate::engine::requestlog::AttemptLog;
use crate::engine::sse::{self, LineSplitter, SseLine};
use crate::engine::upstream::UpstreamBody;

use super::progress::StreamProgress;
use super::rescue::Rescue;
use super::splice::{Delivered, SeamFinding, Splicer};

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

/// How a stream ended, how many tokens it carried, and who continued it after each cut.
#[derive(Debug, Clone)]
pub struct StreamEnd {
    pub outcome: StreamOutcome,
    pub tokens: u64,
    /// Each cut that another row continued, in order.
    pub continuations: Vec<Continued>,
    /// Every attempt made to continue the stream (those that failed too).
    pub attempts: Vec<AttemptLog>,
}

/// A cut that another row continued.
#[derive(Debug, Clone)]
pub struct Continued {
    /// How the previous row's part ended.
    pub cut: StreamOutcome,
    pub row: Arc<ModelRow>,
    pub mode: ContinueMode,
    /// When the continuation was sent, and how long its first chunk took.
    pub started: Instant,
    pub ttft: Duration,
    pub rate: RateLimitInfo,
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
    /// Where a continuation may come from, when the request allows one.
    rescue: Option<Rescue>,
    /// The continuation being spliced in, with the row and mode it came from.
    splice: Option<(Splicer, Arc<ModelRow>, ContinueMode)>,
    continuations: Vec<Continued>,
    attempts: Vec<AttemptLog>,
    /// The failure that cut the first part, named again if the rescue fails too.
    first_cut: Option<String>,
    /// A cut noticed inside a chunk (an upstream error event), acted on at the next read.
    pending_cut: Option<(StreamOutcome, String)>,
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
            rescue: None,
            splice: None,
            continuations: Vec::new(),
            attempts: Vec::new(),
            first_cut: None,
            pending_cut: None,
        }
    }

    /// Lets a cut of this stream be continued on the rows `rescue` still has.
    pub fn with_rescue(mut self, rescue: Option<Rescue>) -> Self {
        self.rescue = rescue;
        self
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
                continuations: std::mem::take(&mut self.continuations),
                attempts: std::mem::take(&mut self.attempts),
            });
        }
    }

    fn fail(&mut self, outcome: StreamOutcome, message: String) -> Option<StreamItem> {
        self.finish(outcome);
        // The client hears of the first cut, never of what went wrong while rescuing it.
        let message = self.first_cut.take().unwrap_or(message);
        Some(StreamItem::Failed(StreamFailure { message }))
    }

    /// Hands out whole lines as they are. An upstream error event is a cut: when the answer
    /// may still be continued, the lines before it go out and the cut is acted on next.
    fn chunk(&mut self, raw: Bytes) -> StreamItem {
        if !self.is_sse {
            return StreamItem::Chunk(Chunk { raw });
        }
        let mut offset = 0;
        for line in raw.split_inclusive(|&b| b == b'\n') {
            match sse::classify(line) {
                SseLine::Data(payload) => {
                    self.progress.observe(payload);
                    if self.progress.saw_error && self.rescuable() {
                        self.progress.saw_error = false;
                        let message = format!(
                            "the upstream reported an error before the answer was complete ({})",
                            upstream_error_message(payload)
                        );
                        self.pending_cut =
                            Some((StreamOutcome::UpstreamError(message.clone()), message));
                        let kept = raw.slice(..offset);
                        self.at_event_boundary = kept.is_empty() || sse::ends_event(&kept);
                        return StreamItem::Chunk(Chunk { raw: kept });
                    }
                }
                SseLine::Done => self.progress.saw_done = true,
                SseLine::Other => {}
            }
            offset += line.len();
        }
        self.at_event_boundary = sse::ends_event(&raw);
        StreamItem::Chunk(Chunk { raw })
    }

    /// Whether a cut now could be continued on another row: plain text of one choice, a
    /// request that allows it, a rescue with tries and time left.
    fn rescuable(&self) -> bool {
        self.is_sse
            && !self.progress.more_than_text
            && self.rescue.as_ref().is_some_and(Rescue::armed)
    }

    /// A cut: continue on another row if one takes it (`None`: read on), else end with the
    /// failure.
    async fn on_cut(
        &mut self,
        outcome: StreamOutcome,
        message: String,
    ) -> Option<Option<StreamItem>> {
        if !self.rescuable() {
            return Some(self.fail(outcome, message));
        }
        let delivered = self.progress.text.clone();
        tracing::warn!(target: "modelrelay::route", "{message}; looking for a row to continue the answer");
        let resumed = match self.rescue.as_mut() {
            Some(rescue) => rescue.resume(&delivered, &mut self.attempts).await,
            None => None,
        };
        self.first_cut.get_or_insert(message.clone());
        let Some(resumed) = resumed else {
            return Some(self.fail(outcome, message));
        };
        tracing::info!(target: "modelrelay::route", row = %resumed.row.row_id(), mode = resumed.mode.name(), "continuing the cut answer");
        self.continuations.push(Continued {
            cut: outcome,
            row: resumed.row.clone(),
            mode: resumed.mode,
            started: resumed.started,
            ttft: resumed.started.elapsed(),
            rate: resumed.rate,
        });
        let delivered = Delivered {
            id: self.progress.id.clone(),
            model: self.progress.model.clone(),
            created: self.progress.created,
            text: delivered,
            tokens: self.progress.tokens(),
        };
        self.splice = Some((
            Splicer::new(delivered, resumed.mode),
            resumed.row,
            resumed.mode,
        ));
        self.first = Some(resumed.first);
        self.rest = resumed.rest;
        self.lines = LineSplitter::default();
        None
    }

    /// The continuation's whole lines, fitted to the delivered answer and re-serialised.
    /// `Err` when its reply cannot be spliced; a cut inside it is left in `pending_cut`.
    fn spliced(&mut self, whole: &[u8]) -> Result<Bytes, String> {
        let Some((mut splicer, row, mode)) = self.splice.take() else {
            // Nothing is being spliced: the lines go out as they came.
            return Ok(Bytes::copy_from_slice(whole));
        };
        let result = self.splice_lines(&mut splicer, &row, mode, whole);
        self.splice = Some((splicer, row, mode));
        result
    }

    fn splice_lines(
        &mut self,
        splicer: &mut Splicer,
        row: &ModelRow,
        mode: ContinueMode,
        whole: &[u8],
    ) -> Result<Bytes, String> {
        let describe = |error: super::splice::SpliceError| {
            format!("continuing on `{}` failed: {error}", row.row_id())
        };
        let mut out = Vec::new();
        for line in sse::lines(whole) {
            let before = splicer.finding();
            match sse::classify(line) {
                SseLine::Data(payload) => {
                    let Ok(value) = serde_json::from_slice::<serde_json::Value>(payload) else {
                        continue;
                    };
                    if value.get("error").is_some_and(|e| !e.is_null()) {
                        let message = format!(
                            "the upstream reported an error before the answer was complete ({})",
                            upstream_error_message(payload)
                        );
                        self.pending_cut =
                            Some((StreamOutcome::UpstreamError(message.clone()), message));
                        break;
                    }
                    write_events(&mut out, splicer.feed(value).map_err(describe)?);
                }
                SseLine::Done => {
                    write_events(&mut out, splicer.finish().map_err(describe)?);
                    out.extend_from_slice(b"data: [DONE]\n\n");
                }
                SseLine::Other => {}
            }
            if before.is_none() && splicer.finding() == Some(SeamFinding::Restarted) {
                learn_restart(self.rescue.as_ref(), row, mode);
            }
        }
        Ok(Bytes::from(out))
    }

    /// The next chunk, the failure that ends the stream, or `None` after the end.
    pub async fn next(&mut self) -> Option<StreamItem> {
        self.on_end.as_ref()?;
        loop {
            if let Some((outcome, message)) = self.pending_cut.take() {
                match self.on_cut(outcome, message).await {
                    Some(item) => return item,
                    None => continue,
                }
            }
            let bytes = match self.first.take() {
                Some(first) => first,
                None => match tokio::time::timeout(self.idle, self.rest.next()).await {
                    Ok(Some(Ok(bytes))) => bytes,
                    Ok(Some(Err(error))) => {
                        let reason = describe_http_error(&error);
                        let message = format!(
                            "the upstream stream broke before the answer was complete ({reason})"
                        );
                        match self
                            .on_cut(StreamOutcome::UpstreamError(reason), message)
                            .await
                        {
                            Some(item) => return item,
                            None => continue,
                        }
                    }
                    Err(_) => {
                        let message = format!(
                            "the upstream sent nothing for {} ms; the answer is incomplete",
                            self.idle.as_millis()
                        );
                        match self.on_cut(StreamOutcome::IdleTimeout, message).await {
                            Some(item) => return item,
                            None => continue,
                        }
                    }
                    Ok(None) => match self.end_of_upstream().await {
                        Some(item) => return item,
                        None => continue,
                    },
                },
            };
            if bytes.is_empty() {
                continue;
            }
            if !self.is_sse {
                return Some(self.chunk(bytes));
            }
            let whole = match self.lines.feed(bytes) {
                Ok(whole) if whole.is_empty() => continue,
                Ok(whole) => whole,
                Err(error) => {
                    return self.fail(
                        StreamOutcome::UpstreamError(error.to_string()),
                        format!("{error}; the answer is incomplete"),
                    )
                }
            };
            match self.emit(whole) {
                Some(item) => return Some(item),
                None => continue,
            }
        }
    }

    /// Whole lines to the client: as they are, or fitted by the splice. `None` when nothing
    /// is to be sent yet.
    fn emit(&mut self, whole: Bytes) -> Option<StreamItem> {
        if self.splice.is_none() {
            return Some(self.chunk(whole));
        }
        match self.spliced(&whole) {
            Ok(out) if out.is_empty() => None,
            Ok(out) => Some(self.chunk(out)),
            Err(message) => {
                let outcome = StreamOutcome::UpstreamError(message.clone());
                self.fail(outcome, message)
            }
        }
    }

    /// The upstream closed: hand out a last whole line if one was left unterminated, close a
    /// finished answer that lacks `[DONE]`, or treat it as a cut. `Some(None)` ends the
    /// stream; `None` reads on (a continuation took over).
    async fn end_of_upstream(&mut self) -> Option<Option<StreamItem>> {
        if !self.is_sse {
            self.finish(StreamOutcome::Completed);
            return Some(None);
        }
        let tail = self.lines.finish();
        if let Some(line) = complete_last_line(&tail) {
            if let Some(item) = self.emit(line) {
                // The upstream has ended (and must not be polled again): the next read comes
                // back here with nothing left.
                self.rest = futures_util::stream::empty().boxed();
                return Some(Some(item));
            }
        }
        if let Some((splicer, _, _)) = self.splice.as_mut() {
            match splicer.finish() {
                Ok(chunks) if !chunks.is_empty() => {
                    let mut out = Vec::new();
                    write_events(&mut out, chunks);
                    self.rest = futures_util::stream::empty().boxed();
                    return Some(Some(self.chunk(Bytes::from(out))));
                }
                Ok(_) => {}
                Err(error) => {
                    let message = format!("the continuation could not be used: {error}");
                    return Some(self.fail(StreamOutcome::UpstreamError(message.clone()), message));
                }
            }
        }
        if self.progress.saw_done {
            self.finish(StreamOutcome::Completed);
            return Some(None);
        }
        if self.progress.finished() {
            // Finished but without the terminator some clients wait for.
            let separator: &[u8] = if self.at_event_boundary { b"" } else { b"\n" };
            let done = Bytes::from([separator, b"data: [DONE]\n\n"].concat());
            let item = self.chunk(done);
            self.finish(StreamOutcome::Completed);
            return Some(Some(item));
        }
        self.on_cut(
            StreamOutcome::Truncated,
            "the upstream closed the stream before the answer was complete".into(),
        )
        .await
    }
}

/// After a prefill the row answered from the start: it restarts (an echo is expected only of
/// `prefix-flag` rows).
fn learn_restart(rescue: Option<&Rescue>, row: &ModelRow, mode: ContinueMode) {
    if matches!(mode, ContinueMode::Prefill | ContinueMode::VllmContinue) {
        if let Some(rescue) = rescue {
            rescue.learn(row, ContinueMode::Restart);
        }
    }
}

/// Chunks as SSE `data:` events.
fn write_events(out: &mut Vec<u8>, chunks: Vec<serde_json::Value>) {
    for chunk in chunks {
        out.extend_from_slice(b"data: ");
        // Writing JSON to a Vec cannot fail.
        let _ = serde_json::to_writer(&mut *out, &chunk);
        out.extend_from_slice(b"\n\n");
    }
}

/// The message of an upstream `{"error": …}` event.
fn upstream_error_message(payload: &[u8]) -> String {
    serde_json::from_slice::<serde_json::Value>(payload)
        .ok()
        .and_then(|v| v.get("error").map(crate::engine::translate::error_message))
        .unwrap_or_else(|| "an error event".into())
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
