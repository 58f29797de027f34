//! The failover policy: what to do after each attempt, as plain functions of what the attempt
//! came to and where the walk stands. Pure: the executor and `benches/routing_quality.rs`
//! both follow it, so the bench measures the router as built.

use std::time::Duration;

use tokio::time::Instant;

use crate::engine::upstream::{Failure, FailureKind};

/// A 429 that asks for at most this long may be waited out on the same row when no other
/// candidate is left.
pub const SHORT_RATE_LIMIT_WAIT: Duration = Duration::from_secs(5);

/// When every candidate is cooling down and the first comes back within this long, the
/// request waits for it instead of failing at once.
pub const WAIT_FOR_RESET: Duration = Duration::from_secs(5);

/// A 429 this short on the only row of a better priority tier is waited out on that row
/// rather than falling to a worse tier.
pub const SHORT_WAIT_ON_BETTER_TIER: Duration = Duration::from_secs(3);

/// The longest wait for the first token of a row with no history while another candidate
/// remains: slow rows are learned (their budget follows their p95), unknown ones are not
/// waited for as long as the whole first-byte timeout.
pub const UNKNOWN_ROW_FIRST_TOKEN: Duration = Duration::from_secs(12);

/// How many of the best candidates a request's plan keeps in order: enough for every attempt
/// and for rows skipped at admission (a trial another request holds, a cooldown that began
/// after planning), never the whole catalog.
pub fn candidate_limit(max_attempts: usize) -> usize {
    (max_attempts * 4).max(32)
}

/// What one attempt came to, as far as the policy cares.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// An answer to hand to the client (a first chunk, a whole answer or the upstream's own
    /// refusal of the request).
    Answered,
    /// A 400 saying the prompt does not fit the row's context window.
    ContextOverflow,
    /// The provider no longer serves the row's model: the row is retired, and the request
    /// moves on without the attempt counting against it.
    ModelGone,
    /// The row failed: `status` when it answered, `retry_after` when it said how long to wait.
    Failed {
        status: Option<u16>,
        retry_after: Option<Duration>,
    },
}

impl Verdict {
    pub fn of_failure(failure: &Failure) -> Self {
        if failure.is_model_gone() {
            return Self::ModelGone;
        }
        Self::Failed {
            status: match failure.kind {
                FailureKind::Status(status) => Some(status),
                _ => None,
            },
            retry_after: failure.retry_after(),
        }
    }
}

/// Where the walk over the candidates stands when an attempt ends.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Walk {
    /// This row was already tried a second time.
    pub retried_same_row: bool,
    /// No candidate follows this one.
    pub last_candidate: bool,
    /// The row is cooling down now (its quota was said to be spent).
    pub row_cooling: bool,
    /// No other candidate shares this row's priority and a worse tier follows: failing over
    /// means settling for a row the user ranked lower.
    pub only_row_of_better_tier: bool,
}

/// The next step after an attempt.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Step {
    /// Hand the answer to the client.
    Deliver,
    /// Try the same row again after `wait` (zero: at once), if it is not cooling by then.
    RetrySameRow { wait: Duration },
    /// Move on to the next candidate.
    NextRow,
    /// Move on, skipping candidates whose context window is not larger than this row's.
    NextLargerWindow,
}

/// A single 500 is retried once on the same row (unless the answer said its quota is spent);
/// a short 429 is waited out on the same row when nothing else is left, or when only worse
/// tiers are; a context overflow looks for a larger window; everything else moves on.
pub fn next_step(verdict: Verdict, walk: Walk) -> Step {
    match verdict {
        Verdict::Answered => Step::Deliver,
        Verdict::ContextOverflow => Step::NextLargerWindow,
        Verdict::ModelGone => Step::NextRow,
        Verdict::Failed { .. } if walk.retried_same_row => Step::NextRow,
        Verdict::Failed {
            status: Some(500), ..
        } if !walk.row_cooling => Step::RetrySameRow {
            wait: Duration::ZERO,
        },
        Verdict::Failed {
            status: Some(429),
            retry_after: Some(wait),
        } if (walk.last_candidate && wait <= SHORT_RATE_LIMIT_WAIT)
            || (walk.only_row_of_better_tier && wait <= SHORT_WAIT_ON_BETTER_TIER) =>
        {
            Step::RetrySameRow { wait }
        }
        Verdict::Failed { .. } => Step::NextRow,
    }
}

/// Whether an attempt that came to `verdict` counts against the request's attempt budget: a
/// row whose model is gone says nothing about the request, and costs it nothing.
pub fn costs_an_attempt(verdict: Verdict) -> bool {
    verdict != Verdict::ModelGone
}

/// Whether another attempt may start: within the attempt budget and the routing deadline.
pub fn may_attempt(attempts: usize, max_attempts: usize, now: Instant, deadline: Instant) -> bool {
    attempts < max_attempts && now < deadline
}

/// What a context overflow asks of the candidates after it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Overflow {
    /// The failing row's window (`None`: unknown).
    pub window: Option<u32>,
    /// Its model (group): the same model overflows again.
    pub group: String,
    /// A row of unknown window was tried already (one such try is allowed).
    pub tried_unknown: bool,
}

/// After context overflows, whether a row is worth trying: one whose window is known to be
/// larger than every failing row's, or else a different model whose window is unknown (at
/// most one unknown try). The same model with no larger window would overflow again.
pub fn fits_after_overflow(overflows: &[Overflow], group: &str, context: Option<u32>) -> bool {
    overflows
        .iter()
        .all(|overflow| match (context, overflow.window) {
            (Some(context), Some(window)) => context > window,
            (Some(_), None) => overflow.group != group,
            (None, _) => overflow.group != group && !overflow.tried_unknown,
        })
}

/// How long to wait for a candidate's first token: its learned budget, but no longer than
/// `UNKNOWN_ROW_FIRST_TOKEN` for a row with no history while another candidate remains.
pub fn first_token_budget(learned: Duration, has_history: bool, last_candidate: bool) -> Duration {
    if has_history || last_candidate {
        learned
    } else {
        learned.min(UNKNOWN_ROW_FIRST_TOKEN)
    }
}

/// When every usable row's circuit is open: the first trial worth waiting for, within the
/// deadline.
pub fn trial_worth_waiting(
    earliest_trial: Option<Instant>,
    now: Instant,
    deadline: Instant,
) -> Option<Instant> {
    earliest_trial
        .filter(|trial| *trial < deadline)
        .map(|trial| trial.max(now))
}

/// When every candidate is cooling down: the moment worth waiting for, if it comes soon.
pub fn reset_worth_waiting(earliest_reset: Option<Instant>, now: Instant) -> Option<Instant> {
    earliest_reset.filter(|reset| reset.saturating_duration_since(now) <= WAIT_FOR_RESET)
}

#[cfg(test)]
mod tests {
    use super::*;

    const CALM: Walk = Walk {
        retried_same_row: false,
        last_candidate: false,
        row_cooling: false,
        only_row_of_better_tier: false,
    };

    fn failed(status: Option<u16>, retry_after: Option<u64>) -> Verdict {
        Verdict::Failed {
            status,
            retry_after: retry_after.map(Duration::from_secs),
        }
    }

    #[test]
    fn each_outcome_leads_to_its_step() {
        let last = Walk {
            last_candidate: true,
            ..CALM
        };
        let retried = Walk {
            retried_same_row: true,
            ..last
        };
        let cooling = Walk {
            row_cooling: true,
            ..CALM
        };
        let same_now = Step::RetrySameRow {
            wait: Duration::ZERO,
        };
        let better_tier = Walk {
            only_row_of_better_tier: true,
            ..CALM
        };
        let table: [(Verdict, Walk, Step); 19] = [
            (Verdict::Answered, CALM, Step::Deliver),
            (Verdict::ModelGone, CALM, Step::NextRow),
            (Verdict::ModelGone, last, Step::NextRow),
            (Verdict::Answered, retried, Step::Deliver),
            (Verdict::ContextOverflow, CALM, Step::NextLargerWindow),
            (failed(Some(500), None), CALM, same_now),
            (failed(Some(500), None), last, same_now),
            (failed(Some(500), None), retried, Step::NextRow),
            (failed(Some(500), None), cooling, Step::NextRow),
            (failed(Some(502), None), CALM, Step::NextRow),
            (failed(Some(503), None), last, Step::NextRow),
            (failed(None, None), CALM, Step::NextRow),
            (failed(Some(429), Some(3)), CALM, Step::NextRow),
            (
                failed(Some(429), Some(3)),
                last,
                Step::RetrySameRow {
                    wait: Duration::from_secs(3),
                },
            ),
            (failed(Some(429), Some(30)), last, Step::NextRow),
            (failed(Some(429), Some(3)), retried, Step::NextRow),
            (
                failed(Some(429), Some(2)),
                better_tier,
                Step::RetrySameRow {
                    wait: Duration::from_secs(2),
                },
            ),
            (failed(Some(429), Some(4)), better_tier, Step::NextRow),
            (failed(Some(429), None), better_tier, Step::NextRow),
        ];
        for (verdict, walk, step) in table {
            assert_eq!(next_step(verdict, walk), step, "{verdict:?} {walk:?}");
        }
    }

    #[test]
    fn only_a_gone_model_costs_the_request_nothing() {
        assert!(!costs_an_attempt(Verdict::ModelGone));
        assert!(costs_an_attempt(Verdict::Answered));
        assert!(costs_an_attempt(Verdict::ContextOverflow));
        assert!(costs_an_attempt(failed(Some(404), None)));
        let gone = Failure::new(FailureKind::ModelGone(410), "HTTP 410: Gone");
        assert_eq!(Verdict::of_failure(&gone), Verdict::ModelGone);
    }

    #[test]
    fn attempts_stop_at_the_budget_or_the_deadline() {
        let now = Instant::now();
        let later = now + Duration::from_secs(1);
        assert!(may_attempt(0, 3, now, later));
        assert!(!may_attempt(3, 3, now, later));
        assert!(!may_attempt(1, 3, later, later));
    }

    #[test]
    fn after_an_overflow_only_a_larger_window_or_another_model_of_unknown_window_is_tried() {
        let overflow = |window, tried_unknown| Overflow {
            window,
            group: "small-model".into(),
            tried_unknown,
        };
        assert!(fits_after_overflow(&[], "small-model", Some(8)));
        let failed = [overflow(Some(8_000), false)];
        assert!(fits_after_overflow(&failed, "big-model", Some(128_000)));
        assert!(!fits_after_overflow(&failed, "big-model", Some(8_000)));
        assert!(fits_after_overflow(&failed, "small-model", Some(128_000)));
        assert!(!fits_after_overflow(&failed, "small-model", None));
        assert!(fits_after_overflow(&failed, "other-model", None));
        assert!(!fits_after_overflow(
            &[overflow(Some(8_000), true)],
            "other-model",
            None
        ));
        assert!(fits_after_overflow(
            &[overflow(None, false)],
            "big-model",
            Some(4_000)
        ));
    }

    #[test]
    fn rows_without_history_get_a_shorter_first_token_budget_unless_last() {
        let long = Duration::from_secs(45);
        assert_eq!(
            first_token_budget(long, false, false),
            UNKNOWN_ROW_FIRST_TOKEN
        );
        assert_eq!(first_token_budget(long, false, true), long);
        assert_eq!(first_token_budget(long, true, false), long);
        let short = Duration::from_secs(3);
        assert_eq!(first_token_budget(short, false, false), short);
    }

    #[test]
    fn a_trial_is_waited_for_only_within_the_deadline() {
        let now = Instant::now();
        let deadline = now + Duration::from_secs(10);
        assert_eq!(trial_worth_waiting(None, now, deadline), None);
        let soon = now + Duration::from_secs(3);
        assert_eq!(trial_worth_waiting(Some(soon), now, deadline), Some(soon));
        assert_eq!(
            trial_worth_waiting(Some(now + Duration::from_secs(11)), now, deadline),
            None
        );
    }

    #[test]
    fn only_a_soon_reset_is_waited_for() {
        let now = Instant::now();
        assert_eq!(reset_worth_waiting(None, now), None);
        let soon = now + Duration::from_secs(2);
        assert_eq!(reset_worth_waiting(Some(soon), now), Some(soon));
        assert_eq!(
            reset_worth_waiting(Some(now + Duration::from_secs(30)), now),
            None
        );
    }
}
