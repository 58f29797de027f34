//! Finding a row to finish a cut answer: after a stream broke with part of the answer already
//! at the client, try the plan's remaining candidates with a continuation request (the partial
//! answer as a prefill, shaped as the row continues, or the original request for a restart)
//! until one produces a first chunk. What the reply is worth is `splice`'s decision; this
//! module only sends, records and learns (a prefill the row refuses teaches it to restart).

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use tokio::time::Instant;

use crate::engine::health::scoring::ttft_budget;
use crate::engine::health::RateLimitInfo;
use crate::engine::providers::{ContinueMode, ModelRow};
use crate::engine::requestlog::AttemptLog;
use crate::engine::routing::Candidate;
use crate::engine::upstream::{self, Call, Reply, UpstreamBody};

use super::attempt::{attempt_log, paced_log, record_failure, take_slot, ForwardContext};
use super::request::ChatRequest;

/// A continuation that produced its first chunk.
pub struct Resumed {
    pub row: Arc<ModelRow>,
    pub mode: ContinueMode,
    pub first: Bytes,
    pub rest: UpstreamBody,
    pub rate: RateLimitInfo,
    /// When its request was sent.
    pub started: Instant,
}

/// What a rescue may use: the request, the candidates the plan had left, the time left.
pub struct Rescue {
    context: ForwardContext,
    request: Arc<ChatRequest>,
    candidates: std::vec::IntoIter<Candidate>,
    deadline: Instant,
    /// Continuations still allowed.
    left: u32,
}

impl Rescue {
    pub fn new(
        context: ForwardContext,
        request: Arc<ChatRequest>,
        candidates: Vec<Candidate>,
        deadline: Instant,
    ) -> Self {
        let left = context.settings.continue_streams.allowed();
        Self {
            context,
            request,
            candidates: candidates.into_iter(),
            deadline,
            left,
        }
    }

    /// Remembers how `row` continues (after a prefill it answered from the start).
    pub fn learn(&self, row: &ModelRow, mode: ContinueMode) {
        self.context.state.health.learn_continuation(row, mode);
    }

    /// Whether this request's answer may still be continued: a try left, a candidate left,
    /// time left, and a request whose answer can be finished elsewhere.
    pub fn armed(&self) -> bool {
        self.left > 0
            && !self.candidates.as_slice().is_empty()
            && self.request.continuable
            && Instant::now() < self.deadline
    }

    /// Tries the remaining candidates for one that continues `delivered`; each attempt is
    /// appended to `log`.
    pub async fn resume(&mut self, delivered: &str, log: &mut Vec<AttemptLog>) -> Option<Resumed> {
        if !self.armed() {
            return None;
        }
        self.left -= 1;
        let health = self.context.state.health.clone();
        while let Some(candidate) = self.candidates.next() {
            let row = candidate.row.clone();
            if Instant::now() >= self.deadline {
                return None;
            }
            // A row at its per-minute limit is passed over, as the executor does.
            let mut slot = match take_slot(&self.context, &row, Instant::now()) {
                Ok(key) => Some(key),
                Err(crate::engine::health::NextFree(free)) => {
                    log.push(paced_log(&row, free));
                    continue;
                }
            };
            if !health.admit(&row, Instant::now()) {
                continue;
            }
            // With nothing delivered yet there is nothing to continue: simply ask again.
            let mut mode = if delivered.is_empty() {
                ContinueMode::Restart
            } else {
                health.continuation(&row)
            };
            loop {
                let key = match slot.take() {
                    Some(key) => key,
                    None => match take_slot(&self.context, &row, Instant::now()) {
                        Ok(key) => key,
                        Err(crate::engine::health::NextFree(free)) => {
                            log.push(paced_log(&row, free));
                            break;
                        }
                    },
                };
                let started = Instant::now();
                match self.send(&candidate, delivered, mode, key).await {
                    Ok(Reply::Stream {
                        first, rest, rate, ..
                    }) => {
                        log.push(continuation_log(&row, Some(200), started, mode, None));
                        return Some(Resumed {
                            row,
                            mode,
                            first,
                            rest,
                            rate,
                            started,
                        });
                    }
                    Ok(Reply::Refused { status, body, .. })
                    | Ok(Reply::Whole { status, body, .. }) => {
                        let message = upstream::error_message_from_body(&body);
                        log.push(continuation_log(
                            &row,
                            Some(status.as_u16()),
                            started,
                            mode,
                            Some(message),
                        ));
                        if !(mode.is_prefill() && refuses_prefill(&body)) {
                            break;
                        }
                        // The row does not take an assistant message last: it restarts.
                        tracing::info!(target: "modelrelay::route", row = %row.row_id(), "the row refuses a prefill; it continues by restart from now on");
                        health.learn_continuation(&row, ContinueMode::Restart);
                        mode = ContinueMode::Restart;
                    }
                    Err(failure) => {
                        record_failure(&self.context, &row, &failure);
                        log.push(continuation_log(
                            &row,
                            failure.status(),
                            started,
                            mode,
                            Some(failure.message.clone()),
                        ));
                        break;
                    }
                }
            }
        }
        None
    }

    async fn send(
        &self,
        candidate: &Candidate,
        delivered: &str,
        mode: ContinueMode,
        key: Option<crate::engine::credentials::KeyChoice>,
    ) -> Result<Reply, upstream::Failure> {
        let row = &candidate.row;
        let settings = &self.context.settings;
        let state = &self.context.state;
        let left = self.deadline.saturating_duration_since(Instant::now());
        let budget = ttft_budget(&candidate.condition, settings.timeouts.first_byte()).min(left);
        upstream::send(Call {
            http: &state.http,
            row,
            key: key.map(|choice| choice.key),
            identity: &state.identity,
            kiro: &state.kiro,
            body: self
                .request
                .continuation_body(&row.upstream_id, delivered, mode),
            stream: true,
            first_byte_budget: budget.max(Duration::from_millis(1)),
            idle: settings.timeouts.idle(),
        })
        .await
    }
}

fn continuation_log(
    row: &ModelRow,
    status: Option<u16>,
    started: Instant,
    mode: ContinueMode,
    error: Option<String>,
) -> AttemptLog {
    let mut log = attempt_log(row, status, started, error);
    log.continuation = Some(mode.name().to_string());
    log
}

/// A 400 that refuses a conversation ending with an assistant message (the phrasings of
/// Anthropic, Mistral, Gemini, llama.cpp and vLLM).
pub fn refuses_prefill(body: &[u8]) -> bool {
    let text = String::from_utf8_lossy(body).to_ascii_lowercase();
    [
        "does not support assistant message prefill",
        "must end with a user message",
        "expected last role user or tool",
        "ending with a model turn are not supported",
        "final assistant content cannot end with trailing whitespace",
        "assistant response prefill is incompatible",
        "continue_final_message",
        "last message must be from the user",
        "last message role must be",
    ]
    .iter()
    .any(|phrase| text.contains(phrase))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prefill_refusals_are_recognised_by_their_words() {
        for body in [
            r#"{"error":{"message":"This model does not support assistant message prefill. The conversation must end with a user message."}}"#,
            r#"{"message":"Expected last role User or Tool (or Assistant with prefix True) for serving but got assistant","code":"3230"}"#,
            r#"[{"error":{"code":400,"message":"Requests ending with a model turn are not supported."}}]"#,
        ] {
            assert!(refuses_prefill(body.as_bytes()), "{body}");
        }
        assert!(!refuses_prefill(
            br#"{"error":{"message":"temperature must be <= 2"}}"#
        ));
    }
}
