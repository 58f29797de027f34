//! How rows are ranked. Pure: a row's condition and `now` in, an order out.
//!
//! `auto-fastest` orders rows by the time they are expected to take to deliver an answer:
//!
//! ```text
//! expected_ms = (ttft + 1000 × REFERENCE_OUTPUT_TOKENS / tokens_per_second)
//!               × 1 / (1 − min(error_rate, 0.9))          (expected tries until success)
//!               × (1 + 10 × max(0, 0.1 − headroom))       (up to ×2 near a rate limit)
//!               × UNMEASURED_PENALTY if the row has no samples yet
//! ```
//!
//! A row whose circuit is ready for its single trial is ranked without its error penalty, so
//! a recovered fast row gets that trial from real traffic as well as from probes.
//!
//! `ttft` and `tokens_per_second` are moving averages of probes and real traffic; rows without
//! measurements get conservative priors and a penalty, so they are explored by probes but not
//! trusted with traffic ahead of measured rows. Rows whose expected times are within 5% of
//! each other are equal, and the higher coding score wins the tie.
//!
//! `auto-best` keeps rows that are up and not slow (expected within 3× of the fastest, or
//! under 10 s) and orders them by coding score, then by expected time.

use std::cmp::Ordering;
use std::time::Duration;

use tokio::time::Instant;

use super::breaker::Admission;
use super::ratelimit::Window;

pub const REFERENCE_OUTPUT_TOKENS: f64 = 250.0;
pub const PRIOR_TTFT_MS: f64 = 2_500.0;
pub const PRIOR_TOKENS_PER_SECOND: f64 = 40.0;
pub const UNMEASURED_PENALTY: f64 = 1.5;
/// Expected times within this ratio are ties, broken by quality.
const TIE_RATIO: f64 = 1.05;
/// A candidate's first-token budget: this multiple of its recent p95, within the bounds.
const TTFT_BUDGET_MULTIPLE: f64 = 3.0;
const TTFT_BUDGET_FLOOR: Duration = Duration::from_secs(8);

/// What the router knows about a row at one moment.
#[derive(Debug, Clone, PartialEq)]
pub struct RowCondition {
    pub ttft_ms: Option<f64>,
    pub ttft_p95_ms: Option<f64>,
    /// Recent 90th percentiles of the first token and of a whole answer: when to hedge.
    pub ttft_p90_ms: Option<f64>,
    pub total_p90_ms: Option<f64>,
    pub tokens_per_second: Option<f64>,
    pub error_rate: f64,
    /// Fraction of the request quota left, when the provider says.
    pub headroom: Option<f64>,
    pub admission: Admission,
    /// Skipped until then because its quota (or its account's shared pool) is spent.
    pub cooling_until: Option<(Instant, Window)>,
    /// When an open circuit lets its next trial through.
    pub trial_at: Option<Instant>,
    /// Retired until then: the provider said it no longer serves the model.
    pub retired_until: Option<Instant>,
}

impl Default for RowCondition {
    fn default() -> Self {
        Self {
            ttft_ms: None,
            ttft_p95_ms: None,
            ttft_p90_ms: None,
            total_p90_ms: None,
            tokens_per_second: None,
            error_rate: 0.0,
            headroom: None,
            admission: Admission::Yes,
            cooling_until: None,
            trial_at: None,
            retired_until: None,
        }
    }
}

impl RowCondition {
    pub fn is_measured(&self) -> bool {
        self.ttft_ms.is_some()
    }

    pub fn cooling(&self, now: Instant) -> Option<(Instant, Window)> {
        self.cooling_until.filter(|(until, _)| *until > now)
    }
}

pub fn expected_ms(condition: &RowCondition) -> f64 {
    let ttft = condition.ttft_ms.unwrap_or(PRIOR_TTFT_MS);
    let speed = condition
        .tokens_per_second
        .filter(|tps| *tps > 0.0)
        .unwrap_or(PRIOR_TOKENS_PER_SECOND);
    let base = ttft + 1000.0 * REFERENCE_OUTPUT_TOKENS / speed;
    // A row due for its breaker trial is ranked on its speed alone: the trial decides.
    let error_rate = if condition.admission == Admission::Trial {
        0.0
    } else {
        condition.error_rate
    };
    let retries = 1.0 / (1.0 - error_rate.clamp(0.0, 0.9));
    let quota = 1.0 + 10.0 * (0.1 - condition.headroom.unwrap_or(1.0)).max(0.0);
    let trust = if condition.is_measured() {
        1.0
    } else {
        UNMEASURED_PENALTY
    };
    base * retries * quota * trust
}

fn tie_bucket(expected: f64) -> i64 {
    (expected.max(1.0).ln() / TIE_RATIO.ln()).floor() as i64
}

/// One candidate as the ranking sees it.
pub struct Ranked<T> {
    pub item: T,
    pub priority: i32,
    pub score: Option<f64>,
    pub expected_ms: f64,
}

fn by_score_desc(a: Option<f64>, b: Option<f64>) -> Ordering {
    b.unwrap_or(0.0).total_cmp(&a.unwrap_or(0.0))
}

/// Priority first (lower wins), then expected time in 5% buckets, then coding score.
/// With `best`, only the first `best` rows are put in order (the rest follow in no particular
/// order): a request walks a handful of candidates, not a catalog of hundreds.
pub fn order_fastest<T>(rows: &mut [Ranked<T>], best: Option<usize>) {
    // Each key once per row (a logarithm), not once per comparison; the index last, so the
    // order is total and equal rows keep their catalog order.
    let mut keyed: Vec<(i32, i64, usize)> = rows
        .iter()
        .enumerate()
        .map(|(index, r)| (r.priority, tie_bucket(r.expected_ms), index))
        .collect();
    let compare = |a: &(i32, i64, usize), b: &(i32, i64, usize)| {
        let (ra, rb) = (&rows[a.2], &rows[b.2]);
        a.0.cmp(&b.0)
            .then(a.1.cmp(&b.1))
            .then(by_score_desc(ra.score, rb.score))
            .then(ra.expected_ms.total_cmp(&rb.expected_ms))
            .then(a.2.cmp(&b.2))
    };
    match best {
        Some(best) if best < keyed.len() => {
            keyed.select_nth_unstable_by(best, compare);
            keyed[..best].sort_unstable_by(compare);
        }
        _ => keyed.sort_unstable_by(compare),
    }
    apply_order(rows, keyed.into_iter().map(|(_, _, index)| index));
}

/// Moves `rows` into the order `order` names (a permutation of their indices).
fn apply_order<T>(rows: &mut [Ranked<T>], order: impl Iterator<Item = usize>) {
    let mut target: Vec<usize> = vec![0; rows.len()];
    for (position, index) in order.enumerate() {
        target[index] = position;
    }
    for start in 0..rows.len() {
        while target[start] != start {
            let to = target[start];
            rows.swap(start, to);
            target.swap(start, to);
        }
    }
}

/// Priority first, then rows that are not slow by coding score, then the slow ones.
pub fn order_best<T>(rows: &mut [Ranked<T>]) {
    let fastest = rows
        .iter()
        .map(|r| r.expected_ms)
        .fold(f64::INFINITY, f64::min);
    let slow = |expected: f64| expected > (fastest * 3.0).max(10_000.0);
    rows.sort_by(|a, b| {
        a.priority
            .cmp(&b.priority)
            .then(slow(a.expected_ms).cmp(&slow(b.expected_ms)))
            .then(by_score_desc(a.score, b.score))
            .then(a.expected_ms.total_cmp(&b.expected_ms))
    });
}

/// How long to wait for this row's first token before trying the next one.
pub fn ttft_budget(condition: &RowCondition, cap: Duration) -> Duration {
    match condition.ttft_p95_ms {
        Some(p95) => Duration::from_secs_f64(p95 * TTFT_BUDGET_MULTIPLE / 1000.0)
            .clamp(TTFT_BUDGET_FLOOR.min(cap), cap),
        None => cap,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn measured(ttft: f64, tps: f64) -> RowCondition {
        RowCondition {
            ttft_ms: Some(ttft),
            ttft_p95_ms: Some(ttft * 1.5),
            tokens_per_second: Some(tps),
            ..RowCondition::default()
        }
    }

    fn rank(
        name: &'static str,
        priority: i32,
        score: f64,
        condition: &RowCondition,
    ) -> Ranked<&'static str> {
        Ranked {
            item: name,
            priority,
            score: Some(score),
            expected_ms: expected_ms(condition),
        }
    }

    fn names(rows: &[Ranked<&'static str>]) -> Vec<&'static str> {
        rows.iter().map(|r| r.item).collect()
    }

    #[test]
    fn ordering_by_precomputed_keys_matches_a_plain_sort() {
        let make = |seed: u64| -> Vec<Ranked<u64>> {
            (0..300u64)
                .map(|i| {
                    let h = (i + seed).wrapping_mul(0x9e37_79b9_7f4a_7c15) >> 40;
                    Ranked {
                        item: i,
                        priority: (h % 3) as i32 - 1,
                        score: (!h.is_multiple_of(5)).then(|| (h % 7) as f64 / 7.0),
                        expected_ms: 200.0 + (h % 4000) as f64,
                    }
                })
                .collect()
        };
        for seed in 0..5 {
            let mut fast = make(seed);
            order_fastest(&mut fast, None);
            let mut top = make(seed);
            order_fastest(&mut top, Some(10));
            let mut plain = make(seed);
            plain.sort_by(|a, b| {
                a.priority
                    .cmp(&b.priority)
                    .then(tie_bucket(a.expected_ms).cmp(&tie_bucket(b.expected_ms)))
                    .then(by_score_desc(a.score, b.score))
                    .then(a.expected_ms.total_cmp(&b.expected_ms))
            });
            let order = |rows: &[Ranked<u64>]| rows.iter().map(|r| r.item).collect::<Vec<_>>();
            assert_eq!(order(&fast), order(&plain));
            assert_eq!(order(&top)[..10], order(&plain)[..10]);
        }
    }

    #[test]
    fn the_row_expected_to_answer_soonest_wins_and_quality_only_breaks_ties() {
        let mut rows = vec![
            rank("smart-but-slow", 0, 0.9, &measured(4000.0, 30.0)),
            rank("fast", 0, 0.4, &measured(300.0, 150.0)),
            rank("fast-and-smarter", 0, 0.6, &measured(310.0, 150.0)),
            rank("unknown", 0, 0.99, &RowCondition::default()),
        ];
        order_fastest(&mut rows, None);
        assert_eq!(
            names(&rows),
            ["fast-and-smarter", "fast", "smart-but-slow", "unknown"]
        );
    }

    #[test]
    fn errors_and_a_near_limit_quota_push_a_row_down() {
        let healthy = measured(500.0, 100.0);
        let flaky = RowCondition {
            error_rate: 0.5,
            ..measured(500.0, 100.0)
        };
        let nearly_spent = RowCondition {
            headroom: Some(0.02),
            ..measured(500.0, 100.0)
        };
        assert!(expected_ms(&flaky) > expected_ms(&healthy) * 1.9);
        assert!(expected_ms(&nearly_spent) > expected_ms(&healthy) * 1.7);
        assert_eq!(
            expected_ms(&RowCondition {
                headroom: Some(0.5),
                ..healthy.clone()
            }),
            expected_ms(&healthy)
        );
    }

    #[test]
    fn an_unmeasured_row_is_not_trusted_over_a_measured_one() {
        let prior_only = RowCondition::default();
        let average = measured(PRIOR_TTFT_MS, PRIOR_TOKENS_PER_SECOND);
        assert!(expected_ms(&prior_only) > expected_ms(&average));
    }

    #[test]
    fn priority_beats_speed() {
        let mut rows = vec![
            rank("fast-fallback", 1, 0.5, &measured(100.0, 200.0)),
            rank("preferred", 0, 0.5, &measured(5000.0, 10.0)),
        ];
        order_fastest(&mut rows, None);
        assert_eq!(names(&rows), ["preferred", "fast-fallback"]);
    }

    #[test]
    fn auto_best_prefers_quality_among_rows_that_are_not_slow() {
        let mut rows = vec![
            rank("fast-weak", 0, 0.3, &measured(300.0, 150.0)),
            rank("good", 0, 0.7, &measured(900.0, 80.0)),
            rank("best-but-crawling", 0, 0.9, &measured(60_000.0, 5.0)),
        ];
        order_best(&mut rows);
        assert_eq!(names(&rows), ["good", "fast-weak", "best-but-crawling"]);
    }

    #[test]
    fn the_first_token_budget_follows_the_rows_own_history() {
        let cap = Duration::from_secs(45);
        assert_eq!(ttft_budget(&RowCondition::default(), cap), cap);
        assert_eq!(ttft_budget(&measured(400.0, 100.0), cap), TTFT_BUDGET_FLOOR);
        let slow = RowCondition {
            ttft_p95_ms: Some(6_000.0),
            ..measured(4000.0, 50.0)
        };
        assert_eq!(ttft_budget(&slow, cap), Duration::from_secs(18));
        let very_slow = RowCondition {
            ttft_p95_ms: Some(60_000.0),
            ..measured(40_000.0, 50.0)
        };
        assert_eq!(ttft_budget(&very_slow, cap), cap);
    }
}
