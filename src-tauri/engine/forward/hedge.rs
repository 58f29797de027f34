//! Hedged attempts: when a row has not produced its first chunk (a whole answer, when not
//! streaming) within its recent p90 — never sooner than `hedging.minDelayMs` — the same
//! request also goes to the next candidate that may take a hedge (`health::hedging` says
//! which). The first answer wins; the other attempt is dropped, which closes its connection,
//! and counted in its provider's hedge spend. The executor starts at most one race per
//! request; this module only runs it.

use std::time::Duration;

use tokio::time::Instant;

use crate::engine::credentials::KeyChoice;
use crate::engine::health::hedging::{hedge_delay, hedge_refusal};
use crate::engine::routing::Candidate;
use crate::engine::upstream::failure::is_context_overflow;
use crate::engine::upstream::{Failure, FailureKind, Reply};

use super::attempt::{send, take_slot, ForwardContext};
use super::request::ChatRequest;

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
