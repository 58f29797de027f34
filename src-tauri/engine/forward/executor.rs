//! The failover loop: the one place that mixes the routing plan with IO. Candidates are tried
//! in order, each through its upstream adapter, and `policy` says after every attempt what
//! comes next, until one produces an answer. Every attempt's outcome is recorded in the health
//! book at once; the routed answer is typed, and each edge serialises it once.

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http::{HeaderName, HeaderValue, StatusCode};
use tokio::time::Instant;

use crate::engine::error::ApiError;
use crate::engine::health::{
    AttemptReport, AttemptResult, HealthBook, NextFree, RateLimitInfo, SampleSource,
};
use crate::engine::providers::headers::header_pair;
use crate::engine::providers::ModelRow;
use crate::engine::requestlog::RequestLog;
use crate::engine::routing::Candidate;
use crate::engine::upstream::failure::{is_context_overflow, FailedAttempts};
use crate::engine::upstream::{self, Failure, FailureKind, Reply};

use super::attempt::{attempt_log, paced_log, send, take_slot, ForwardContext};
use super::hedge::{self, log_hedge_lost, log_hedge_won, LostRace};
use super::policy::{self, Step, Verdict, Walk};
use super::request::ChatRequest;
use super::rescue::Rescue;
use super::stream::{AnswerStream, StreamEnd, StreamOutcome};
use super::trace::{log_failure, Ending, Trace};

pub const PROVIDER_HEADER: &str = "x-modelrelay-provider";
pub const MODEL_HEADER: &str = "x-modelrelay-model";
pub const ATTEMPTS_HEADER: &str = "x-modelrelay-attempts";
/// Milliseconds from the winning attempt's start to its first chunk (a whole answer: to the
/// answer).
pub const TTFT_HEADER: &str = "x-modelrelay-ttft-ms";

/// A routed request: the row that answered, how many attempts it took, and its answer.
pub struct Routed {
    pub row: Arc<ModelRow>,
    pub attempts: usize,
    /// The winning attempt's time to its first chunk.
    pub ttft: Duration,
    pub answer: Answer,
}

/// The answer of the row that won, in OpenAI chat terms.
pub enum Answer {
    /// A whole `chat.completion`.
    Whole {
        status: StatusCode,
        content_type: Option<HeaderValue>,
        body: Bytes,
    },
    /// The upstream refused the request itself (a 4xx of the client's making).
    Refused {
        status: StatusCode,
        content_type: Option<HeaderValue>,
        body: Bytes,
    },
    /// A stream whose first chunk has arrived.
    Stream {
        status: StatusCode,
        content_type: Option<HeaderValue>,
        stream: Box<AnswerStream>,
    },
}

impl Routed {
    /// The `x-modelrelay-*` headers that say who answered.
    pub fn headers(&self) -> Vec<(HeaderName, HeaderValue)> {
        [
            (PROVIDER_HEADER, self.row.provider.key.as_str()),
            (MODEL_HEADER, self.row.upstream_id.as_str()),
            (ATTEMPTS_HEADER, &self.attempts.to_string()),
            (TTFT_HEADER, &self.ttft.as_millis().to_string()),
        ]
        .into_iter()
        .filter_map(header_pair)
        .collect()
    }
}

/// Tries `candidates` in order until one answers; the answer's bookkeeping (health, request
/// log) is arranged before it is returned.
pub async fn forward_chat(
    context: &ForwardContext,
    request: Arc<ChatRequest>,
    candidates: Vec<Candidate>,
    mut trace: Trace,
) -> Result<Routed, ApiError> {
    let deadline = trace.started + context.settings.routing_deadline();
    match try_candidates(context, &request, &candidates, deadline, &mut trace).await {
        Ok((index, reply, started)) => {
            let row = candidates[index].row.clone();
            // Only a stream can be cut after it started: whole answers need no rescue.
            let rescue = matches!(reply, Reply::Stream { .. }).then(|| {
                let rest = candidates.into_iter().skip(index + 1).collect();
                Rescue::new(context.clone(), request, rest, deadline)
            });
            Ok(settle(context, row, reply, started, trace, rescue))
        }
        Err(error) => Err(log_failure(&context.state.log, trace, error)),
    }
}

/// Walks the candidates as `policy` says; returns the index of the candidate that answered,
/// its reply and when its attempt began. A row at its per-minute limit is passed over (a
/// `paced` line in the log); one slow attempt per request may be hedged (`hedge::race`).
async fn try_candidates(
    context: &ForwardContext,
    request: &ChatRequest,
    candidates: &[Candidate],
    deadline: Instant,
    trace: &mut Trace,
) -> Result<(usize, Reply, Instant), ApiError> {
    let health = &context.state.health;
    let max_attempts = context.settings.max_attempts();
    let mut failures = FailedAttempts::default();
    let mut attempts = 0;
    // After a context overflow only another model with a larger window is worth trying; if
    // none answers, the client gets the first overflow's 400 as the provider said it.
    let mut overflows: Vec<policy::Overflow> = Vec::new();
    let mut overflow_reply: Option<(usize, Reply, Instant)> = None;
    // Candidates a hedge already tried, and when the first paced row frees a slot.
    let mut tried = vec![false; candidates.len()];
    let mut hedged = false;
    let mut paced_until: Option<Instant> = None;
    let give_up = |failures, overflow_reply: Option<(usize, Reply, Instant)>, paced_until| {
        match overflow_reply {
            Some(reply) => Ok(reply),
            None => Err(all_failed(failures, paced_until)),
        }
    };
    for (index, candidate) in candidates.iter().enumerate() {
        let row = &candidate.row;
        if tried[index] || !policy::fits_after_overflow(&overflows, &row.group, row.context) {
            continue;
        }
        // A cooling row (`admit` would refuse it) takes no pacing slot; the slot is taken
        // before the breaker is asked, so a paced row keeps its trial for a later request.
        let now = Instant::now();
        if health.condition(row, now).cooling(now).is_some() {
            continue;
        }
        let mut slot = match take_slot(context, row, now) {
            Ok(key) => Some(key),
            Err(NextFree(free)) => {
                trace.attempts.push(paced_log(row, free));
                paced_until = Some(paced_until.map_or(free, |until: Instant| until.min(free)));
                continue;
            }
        };
        if !health.admit(row, Instant::now()) {
            continue;
        }
        tried[index] = true;
        if row.context.is_none() {
            overflows.iter_mut().for_each(|o| o.tried_unknown = true);
        }
        let rest = &candidates[index + 1..];
        let only_row_of_better_tier = !rest.is_empty()
            && rest
                .iter()
                .all(|other| other.row.provider.priority > row.provider.priority);
        let mut retried_same_row = false;
        loop {
            if !policy::may_attempt(attempts, max_attempts, Instant::now(), deadline) {
                return give_up(failures, overflow_reply, paced_until);
            }
            let key = match slot.take() {
                Some(key) => key,
                None => match take_slot(context, row, Instant::now()) {
                    Ok(key) => key,
                    Err(NextFree(free)) => {
                        trace.attempts.push(paced_log(row, free));
                        break;
                    }
                },
            };
            attempts += 1;
            let started = Instant::now();
            let last_candidate = index + 1 == candidates.len();
            let reply = if hedged || !context.settings.hedging.enabled || last_candidate {
                send(context, request, candidate, deadline, last_candidate, key).await
            } else {
                let raced = hedge::race(
                    context,
                    request,
                    candidates,
                    index,
                    &tried,
                    key,
                    deadline,
                    last_candidate,
                )
                .await;
                match raced {
                    hedge::Raced::Alone(reply) => reply,
                    hedge::Raced::HedgeWon {
                        primary,
                        hedge,
                        reply,
                    } => {
                        let winner = &candidates[hedge.index].row;
                        log_hedge_won(context, trace, row, started, primary, hedge, winner, &reply);
                        return Ok((hedge.index, reply, hedge.started));
                    }
                    hedge::Raced::PrimaryStands {
                        primary,
                        hedge,
                        hedge_failure,
                    } => {
                        hedged = true;
                        tried[hedge.index] = true;
                        attempts += 1;
                        let other = &candidates[hedge.index].row;
                        let race = LostRace {
                            primary_row: row,
                            primary_answered: primary.is_ok(),
                            hedge_row: other,
                            hedge,
                        };
                        log_hedge_lost(context, trace, race, hedge_failure.as_ref());
                        if let Some(failure) = hedge_failure {
                            failures.push(other.row_id(), failure);
                        }
                        primary
                    }
                }
            };
            let verdict = match &reply {
                Ok(Reply::Refused { body, .. }) if is_context_overflow(body) => {
                    Verdict::ContextOverflow
                }
                Ok(_) => Verdict::Answered,
                Err(failure) => Verdict::of_failure(failure),
            };
            let now = Instant::now();
            let walk = Walk {
                retried_same_row,
                last_candidate,
                row_cooling: health.condition(row, now).cooling(now).is_some(),
                only_row_of_better_tier,
            };
            let step = policy::next_step(verdict, walk);
            if !policy::costs_an_attempt(verdict) {
                attempts -= 1;
            }
            match reply {
                Ok(reply) if step == Step::Deliver => {
                    let status = reply.status().as_u16();
                    trace
                        .attempts
                        .push(attempt_log(row, Some(status), started, None));
                    return Ok((index, reply, started));
                }
                Ok(reply) => {
                    let status = reply.status().as_u16();
                    trace.attempts.push(attempt_log(
                        row,
                        Some(status),
                        started,
                        Some("context window too small".into()),
                    ));
                    tracing::info!(target: "modelrelay::route", row = %row.row_id(), "prompt too long for this row; trying a larger window");
                    failures.push(
                        row.row_id(),
                        Failure::new(
                            FailureKind::Status(status),
                            format!(
                                "HTTP {status}: the prompt does not fit this row's context window"
                            ),
                        ),
                    );
                    overflows.push(policy::Overflow {
                        window: row.context,
                        group: row.group.clone(),
                        tried_unknown: false,
                    });
                    overflow_reply.get_or_insert((index, reply, started));
                }
                Err(failure) => {
                    trace.attempts.push(attempt_log(
                        row,
                        failure.status(),
                        started,
                        Some(failure.message.clone()),
                    ));
                    tracing::warn!(target: "modelrelay::route", row = %row.row_id(), "candidate failed: {}", failure.message);
                    failures.push(row.row_id(), failure);
                }
            }
            match step {
                Step::RetrySameRow { wait } => {
                    retried_same_row = true;
                    if !wait.is_zero() {
                        tokio::time::sleep(wait).await;
                        // Other answers may have extended the cooldown meanwhile.
                        let now = Instant::now();
                        if health.condition(row, now).cooling(now).is_some() {
                            break;
                        }
                    }
                }
                Step::NextLargerWindow | Step::NextRow | Step::Deliver => break,
            }
        }
    }
    give_up(failures, overflow_reply, paced_until)
}

/// Turns the winning reply into the routed answer and arranges for its outcome to be
/// recorded (at once for whole answers, when the stream ends for streams).
fn settle(
    context: &ForwardContext,
    row: Arc<ModelRow>,
    reply: Reply,
    started: Instant,
    trace: Trace,
    rescue: Option<Rescue>,
) -> Routed {
    let ttft = started.elapsed();
    let attempts = trace.attempts.len();
    let state = &context.state;
    let answer = match reply {
        Reply::Stream {
            status,
            content_type,
            first,
            rest,
            rate,
        } => {
            let is_sse = content_type
                .as_ref()
                .and_then(|v| v.to_str().ok())
                .is_none_or(|v| v.starts_with("text/event-stream"));
            let health = state.health.clone();
            let log = state.log.clone();
            let first_part = Part {
                row: row.clone(),
                started,
                ttft,
                rate,
            };
            let on_end = Box::new(move |end: StreamEnd| {
                log_stream_end(&log, trace, status.as_u16(), &first_part, &end);
                record_stream_parts(&health, first_part, end);
            });
            Answer::Stream {
                status,
                content_type,
                stream: Box::new(
                    AnswerStream::new(
                        first,
                        rest,
                        context.settings.timeouts.idle(),
                        is_sse,
                        on_end,
                    )
                    .with_rescue(rescue),
                ),
            }
        }
        Reply::Whole {
            status,
            content_type,
            body,
            rate,
        } => {
            let tokens = completion_tokens(&body);
            state.health.record(
                &row,
                AttemptReport {
                    source: SampleSource::Traffic,
                    outcome: AttemptResult::Success {
                        ttft,
                        total: ttft,
                        tokens,
                    },
                    rate: Some(rate),
                },
                Instant::now(),
            );
            state.log.push(trace.finish(Ending {
                status: status.as_u16(),
                row: Some(&row),
                outcome: "completed",
                error: None,
                ttft: Some(ttft),
                tokens,
            }));
            Answer::Whole {
                status,
                content_type,
                body,
            }
        }
        Reply::Refused {
            status,
            content_type,
            body,
        } => {
            state.log.push(trace.finish(Ending {
                status: status.as_u16(),
                row: Some(&row),
                outcome: "rejected",
                error: Some(upstream::error_message_from_body(&body)),
                ttft: None,
                tokens: None,
            }));
            Answer::Refused {
                status,
                content_type,
                body,
            }
        }
    };
    Routed {
        row,
        attempts,
        ttft,
        answer,
    }
}

/// One row's part of a streamed answer: the winner's, or a continuation's.
struct Part {
    row: Arc<ModelRow>,
    started: Instant,
    ttft: Duration,
    rate: RateLimitInfo,
}

/// The request's log entry: the row that ended the answer, every attempt (continuations
/// marked with how they continued) and the true outcome.
fn log_stream_end(log: &RequestLog, mut trace: Trace, status: u16, first: &Part, end: &StreamEnd) {
    trace.attempts.extend(end.attempts.iter().cloned());
    let last_row = end.continuations.last().map_or(&first.row, |c| &c.row);
    let (outcome, error) = match &end.outcome {
        StreamOutcome::Completed => ("completed", None),
        StreamOutcome::ClientGone => ("cancelled", Some("the client disconnected".to_string())),
        other => ("cut", Some(format!("{other:?}"))),
    };
    let continued = end
        .continuations
        .iter()
        .map(|c| {
            format!(
                "cut ({:?}), continued on `{}` by {}",
                c.cut,
                c.row.row_id(),
                c.mode.name()
            )
        })
        .collect::<Vec<_>>();
    let error = match (error, continued.is_empty()) {
        (error, true) => error,
        (None, false) => Some(continued.join("; ")),
        (Some(error), false) => Some(format!("{}; then {error}", continued.join("; "))),
    };
    log.push(trace.finish(Ending {
        status,
        row: Some(last_row),
        outcome,
        error,
        ttft: Some(first.ttft),
        tokens: Some(end.tokens),
    }));
}

/// Each part's row health: a part another row continued counts as the cut it was; the last
/// part as the stream ended.
fn record_stream_parts(health: &HealthBook, first: Part, end: StreamEnd) {
    let mut parts = vec![first];
    let mut cuts = Vec::new();
    for continued in end.continuations {
        cuts.push(continued.cut);
        parts.push(Part {
            row: continued.row,
            started: continued.started,
            ttft: continued.ttft,
            rate: continued.rate,
        });
    }
    cuts.push(end.outcome);
    for (part, outcome) in parts.into_iter().zip(cuts) {
        record_stream_end(
            health,
            &part.row,
            StreamEnd {
                outcome,
                tokens: end.tokens,
                continuations: Vec::new(),
                attempts: Vec::new(),
            },
            part.started,
            part.ttft,
            part.rate,
        );
    }
}

/// `usage.completion_tokens` of a whole answer, read without building the whole document.
fn completion_tokens(body: &[u8]) -> Option<u64> {
    #[derive(serde::Deserialize)]
    struct Answer {
        usage: Option<Usage>,
    }
    #[derive(serde::Deserialize)]
    struct Usage {
        completion_tokens: Option<u64>,
    }
    serde_json::from_slice::<Answer>(body)
        .ok()?
        .usage?
        .completion_tokens
}

fn record_stream_end(
    health: &HealthBook,
    row: &ModelRow,
    end: StreamEnd,
    started: Instant,
    ttft: Duration,
    rate: RateLimitInfo,
) {
    let outcome = match end.outcome {
        StreamOutcome::Completed => AttemptResult::Success {
            ttft,
            total: started.elapsed(),
            tokens: Some(end.tokens),
        },
        StreamOutcome::ClientGone => return,
        StreamOutcome::IdleTimeout => AttemptResult::Failure {
            status: None,
            message: "the stream went silent".into(),
            timeout: true,
            hard: false,
        },
        StreamOutcome::Truncated | StreamOutcome::UpstreamError(_) => AttemptResult::Failure {
            status: None,
            message: format!("the stream broke: {:?}", end.outcome),
            timeout: false,
            hard: false,
        },
    };
    if end.outcome == StreamOutcome::Completed {
        tracing::debug!(target: "modelrelay::route", row = %row.row_id(), tokens = end.tokens, "stream completed");
    } else {
        tracing::warn!(target: "modelrelay::route", row = %row.row_id(), "stream ended early: {:?}", end.outcome);
    }
    health.record(
        row,
        AttemptReport {
            source: SampleSource::Traffic,
            outcome,
            rate: Some(rate),
        },
        Instant::now(),
    );
}

/// The error for a request whose every candidate failed, with each attempt's failure.
fn all_failed(failures: FailedAttempts, paced_until: Option<Instant>) -> ApiError {
    if let (true, Some(free)) = (failures.is_empty(), paced_until) {
        let seconds = free
            .saturating_duration_since(Instant::now())
            .as_secs_f64()
            .ceil()
            .max(1.0) as u64;
        return ApiError::RateLimited {
            message: format!(
                "every candidate is at its provider's per-minute limit; retry in {seconds} s"
            ),
            retry_after_secs: seconds,
        };
    }
    if failures.is_empty() {
        return ApiError::NoProviderAvailable(
            "every candidate was skipped because it is failing or busy; try again in a few seconds"
                .into(),
        );
    }
    if failures.all(Failure::is_rate_limit) {
        let wait = failures
            .iter()
            .filter_map(|attempt| attempt.failure.retry_after())
            .min()
            .unwrap_or(Duration::from_secs(30));
        let seconds = wait.as_secs_f64().ceil().max(1.0) as u64;
        return ApiError::RateLimited {
            message: format!("every candidate is rate-limited ({failures}); retry in {seconds} s"),
            retry_after_secs: seconds,
        };
    }
    if failures.all(Failure::is_timeout) {
        ApiError::UpstreamTimeout(failures)
    } else {
        ApiError::UpstreamFailed(failures)
    }
}
