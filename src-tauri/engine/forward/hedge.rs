//! Hedged attempts: when a row has not produced its first chunk (a whole answer, when not
//! streaming) within its recent p90 — never sooner than `hedging.minDelayMs` — the same
//! request also goes to the next candidate that may take a hedge (`health::hedging` says
//! which). The first answer wins; the other attempt is dropped, which closes its connection,
//! and counted in its provider's hedge spend. The executor starts at most one race per
//! request; this module runs it and writes both attempts and the race into the request's
//! trace.

use std::time::Duration;

use tokio::time::Instant;

use crate::engine::credentials::KeyChoice;
use crate::engine::health::hedging::{hedge_delay, hedge_refusal};
use crate::engine::providers::ModelRow;
use crate::engine::requestlog::{AttemptLog, HedgeLog, LoserCost};
use crate::engine::routing::Candidate;
use crate::engine::upstream::failure::is_context_overflow;
use crate::engine::upstream::{Failure, FailureKind, Reply};

use super::attempt::{attempt_log, send, take_slot, ForwardContext};
use super::request::ChatRequest;
use super::trace::Trace;

/// The hedge of a race: which candidate, when it started and how long after the primary.
#[derive(Debug, Clone, Copy)]
pub(super) struct Hedge {
    pub index: usize,
    pub started: Instant,
    pub after: Duration,
}

/// How a primary attempt came out, hedged or not.
pub(super) enum Raced {
    /// No hedge was sent.
    Alone(Result<Reply, Failure>),
    /// The hedge answered first (`primary: None`: the primary was dropped) or after the
    /// primary had failed.
    HedgeWon {
        primary: Option<Failure>,
        hedge: Hedge,
        reply: Reply,
    },
    /// The primary's result stands; the hedge was dropped (`hedge_failure: None`) or failed.
    PrimaryStands {
        primary: Result<Reply, Failure>,
        hedge: Hedge,
        hedge_failure: Option<Failure>,
    },
}

/// One attempt on `candidates[index]`, hedged once on a later candidate if it is slow.
/// `tried` marks candidates already attempted, which are never hedged to.
#[allow(clippy::too_many_arguments)] // the attempt's inputs, as the executor holds them
pub(super) async fn race(
    context: &ForwardContext,
    request: &ChatRequest,
    candidates: &[Candidate],
    index: usize,
    tried: &[bool],
    key: Option<KeyChoice>,
    deadline: Instant,
    last_candidate: bool,
) -> Raced {
    let candidate = &candidates[index];
    let delay = hedge_delay(
        &candidate.condition,
        request.stream,
        context.settings.hedging.min_delay(),
    );
    let started = Instant::now();
    let primary = send(context, request, candidate, deadline, last_candidate, key);
    tokio::pin!(primary);
    tokio::select! {
        reply = &mut primary => return Raced::Alone(reply),
        () = tokio::time::sleep_until(started + delay) => {}
    }
    let Some((hedge_index, hedge_key)) = pick(context, candidates, index, tried, deadline) else {
        return Raced::Alone(primary.await);
    };
    let now = Instant::now();
    let hedge_row = &candidates[hedge_index].row;
    context
        .state
        .hedges
        .record_hedge(&hedge_row.provider.key, now);
    tracing::info!(target: "modelrelay::route", row = %candidate.row.row_id(), hedge = %hedge_row.row_id(), after_ms = now.duration_since(started).as_millis() as u64, "no answer yet; hedging");
    let hedge = Hedge {
        index: hedge_index,
        started: now,
        after: now.duration_since(started),
    };
    let second = send(
        context,
        request,
        &candidates[hedge_index],
        deadline,
        false,
        hedge_key,
    );
    tokio::pin!(second);
    // Whichever future is left when this returns is dropped: its connection closes.
    tokio::select! {
        reply = &mut primary => match reply {
            Ok(reply) => Raced::PrimaryStands { primary: Ok(reply), hedge, hedge_failure: None },
            Err(failure) => match hedge_failure(second.await) {
                Ok(reply) => Raced::HedgeWon { primary: Some(failure), hedge, reply },
                Err(hedge_failure) => Raced::PrimaryStands {
                    primary: Err(failure),
                    hedge,
                    hedge_failure: Some(*hedge_failure),
                },
            },
        },
        reply = &mut second => match hedge_failure(reply) {
            Ok(reply) => Raced::HedgeWon { primary: None, hedge, reply },
            Err(hedge_failure) => Raced::PrimaryStands {
                primary: primary.await,
                hedge,
                hedge_failure: Some(*hedge_failure),
            },
        },
    }
}

/// The hedge's reply as the race sees it: an answer, or a failure — also when its row found
/// the prompt too long (the primary, still running, may fit it).
fn hedge_failure(reply: Result<Reply, Failure>) -> Result<Reply, Box<Failure>> {
    match reply {
        Ok(Reply::Refused { status, body, .. }) if is_context_overflow(&body) => {
            Err(Box::new(Failure::new(
                FailureKind::Status(status.as_u16()),
                format!(
                    "HTTP {}: the prompt does not fit this row's context window",
                    status.as_u16()
                ),
            )))
        }
        Ok(reply) => Ok(reply),
        Err(failure) => Err(Box::new(failure)),
    }
}

/// The first later candidate that may take a hedge now, with its pacing slot and breaker
/// permission taken.
fn pick(
    context: &ForwardContext,
    candidates: &[Candidate],
    index: usize,
    tried: &[bool],
    deadline: Instant,
) -> Option<(usize, Option<KeyChoice>)> {
    let state = &context.state;
    let now = Instant::now();
    if now >= deadline {
        return None;
    }
    let hedging = &context.settings.hedging;
    for (position, candidate) in candidates.iter().enumerate().skip(index + 1) {
        if tried.get(position).copied().unwrap_or(true) {
            continue;
        }
        let row = &candidate.row;
        let condition = state.health.condition(row, now);
        let hour = state.hedges.hour(&row.provider.key, now);
        if let Some(refusal) =
            hedge_refusal(hedging, row.provider.limits.rpd, &condition, hour, now)
        {
            tracing::debug!(target: "modelrelay::route", row = %row.row_id(), ?refusal, "no hedge to this row");
            continue;
        }
        let Ok(key) = take_slot(context, row, now) else {
            continue;
        };
        if state.health.admit(row, now) {
            return Some((position, key));
        }
    }
    None
}

/// An attempt's log line, marked `primary` or `hedge`.
fn hedge_attempt_log(
    row: &ModelRow,
    role: &str,
    status: Option<u16>,
    started: Instant,
    error: Option<String>,
) -> AttemptLog {
    let mut log = attempt_log(row, status, started, error);
    log.hedge = Some(role.to_string());
    log
}

/// Logs and counts a race the hedge won: the primary was dropped (or had failed).
#[allow(clippy::too_many_arguments)] // one race's parts, as the executor holds them
pub(super) fn log_hedge_won(
    context: &ForwardContext,
    trace: &mut Trace,
    primary_row: &ModelRow,
    primary_started: Instant,
    primary: Option<Failure>,
    hedge: Hedge,
    winner: &ModelRow,
    reply: &Reply,
) {
    let ledger = &context.state.hedges;
    ledger.record_win(&winner.provider.key);
    let primary_ms = primary_started.elapsed().as_millis() as u64;
    let (status, error, loser) = match &primary {
        Some(failure) => (failure.status(), Some(failure.message.clone()), None),
        None => {
            ledger.record_cancelled(&primary_row.provider.key);
            context.state.health.record_overtaken(
                primary_row,
                primary_started.elapsed(),
                Instant::now(),
            );
            (
                None,
                Some("cancelled: the hedge answered first".to_string()),
                Some(primary_row),
            )
        }
    };
    trace.attempts.push(hedge_attempt_log(
        primary_row,
        "primary",
        status,
        primary_started,
        error,
    ));
    trace.attempts.push(hedge_attempt_log(
        winner,
        "hedge",
        Some(reply.status().as_u16()),
        hedge.started,
        None,
    ));
    trace.hedge = Some(HedgeLog {
        after_ms: hedge.after.as_millis() as u64,
        primary: primary_row.row_id(),
        hedge: winner.row_id(),
        winner: "hedge".into(),
        loser_cost: loser.map(|row| LoserCost {
            provider: row.provider.key.clone(),
            requests: 1,
            ms: primary_ms,
        }),
    });
}

/// A race the hedge did not win: who took part and whether the primary answered.
pub(super) struct LostRace<'a> {
    pub primary_row: &'a ModelRow,
    pub primary_answered: bool,
    pub hedge_row: &'a ModelRow,
    pub hedge: Hedge,
}

/// Logs and counts a race the hedge did not win: it was dropped when the primary answered,
/// or it failed (`winner` is then `primary` if the primary answered, else `none`).
pub(super) fn log_hedge_lost(
    context: &ForwardContext,
    trace: &mut Trace,
    race: LostRace<'_>,
    failure: Option<&Failure>,
) {
    let LostRace {
        primary_row,
        primary_answered,
        hedge_row,
        hedge,
    } = race;
    let hedge_ms = hedge.started.elapsed().as_millis() as u64;
    let (status, error) = match failure {
        Some(failure) => (failure.status(), Some(failure.message.clone())),
        None => {
            context
                .state
                .hedges
                .record_cancelled(&hedge_row.provider.key);
            (None, Some("cancelled: the primary answered first".into()))
        }
    };
    trace.attempts.push(hedge_attempt_log(
        hedge_row,
        "hedge",
        status,
        hedge.started,
        error,
    ));
    trace.hedge = Some(HedgeLog {
        after_ms: hedge.after.as_millis() as u64,
        primary: primary_row.row_id(),
        hedge: hedge_row.row_id(),
        winner: if primary_answered { "primary" } else { "none" }.into(),
        loser_cost: failure.is_none().then(|| LoserCost {
            provider: hedge_row.provider.key.clone(),
            requests: 1,
            ms: hedge_ms,
        }),
    });
}
