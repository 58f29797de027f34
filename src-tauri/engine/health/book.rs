//! The health book: every row's measurements, circuit breaker and quota cooldowns, and each
//! provider's shared-pool cooldown. Fed by real traffic and probes; read by the planner.

use rustc_hash::FxHashMap;
use std::sync::Mutex;
use std::time::Duration;

use tokio::sync::watch;
use tokio::time::Instant;

use crate::engine::providers::{ContinueMode, ModelRow};

use super::breaker::{Admission, Breaker, BreakerState};
use super::ratelimit::{RateLimitInfo, Window};
use super::scoring::RowCondition;
use super::stats::{RowStats, Sample, SampleOutcome, SampleSource};

/// What one attempt (a real request or a probe) found out.
#[derive(Debug, Clone)]
pub struct AttemptReport {
    pub source: SampleSource,
    pub outcome: AttemptResult,
    pub rate: Option<RateLimitInfo>,
}

#[derive(Debug, Clone)]
pub enum AttemptResult {
    Success {
        ttft: Duration,
        total: Duration,
        tokens: Option<u64>,
    },
    Failure {
        status: Option<u16>,
        message: String,
        timeout: bool,
        /// The row could not even be reached (refused, DNS): open the circuit at once.
        hard: bool,
    },
    RateLimited {
        message: String,
    },
}

#[derive(Debug, Clone, Default)]
struct RowHealth {
    stats: RowStats,
    breaker: Breaker,
    cooldown: Option<(Instant, Window)>,
    last_rate: Option<RateLimitInfo>,
    /// When `last_rate` was read: its headroom means nothing after its reset.
    last_rate_at: Option<Instant>,
    last_error: Option<(Instant, String)>,
    /// How this row turned out to continue a cut answer, when traffic taught better than the
    /// catalog.
    learned_continuation: Option<ContinueMode>,
}

/// How long quota headroom is trusted when the provider gave no reset time.
const HEADROOM_WITHOUT_RESET: Duration = Duration::from_secs(60);

impl RowHealth {
    /// The quota headroom, while the window it describes is still running.
    fn headroom(&self, now: Instant) -> Option<f64> {
        let rate = self.last_rate.as_ref()?;
        let seen = self.last_rate_at?;
        let valid_for = rate.reset_requests.unwrap_or(HEADROOM_WITHOUT_RESET);
        (now.saturating_duration_since(seen) < valid_for)
            .then(|| rate.headroom())
            .flatten()
    }
}

/// A row's health for display: what the UI and `status` show.
#[derive(Debug, Clone)]
pub struct RowHealthView {
    pub condition: RowCondition,
    pub uptime: Option<f64>,
    pub samples: Vec<Sample>,
    pub last_error: Option<(Instant, String)>,
    pub last_rate: Option<RateLimitInfo>,
    pub circuit_open: bool,
}

/// Row health by provider key, then upstream id: a row is found from its parts, with no
/// `provider/id` string built per lookup (planning reads every row on every request).
type Rows = FxHashMap<String, FxHashMap<String, RowHealth>>;
type Pools = FxHashMap<String, (Instant, Window)>;

fn row_health<'a>(rows: &'a Rows, row: &ModelRow) -> Option<&'a RowHealth> {
    rows.get(&row.provider.key)?.get(&row.upstream_id)
}

fn row_health_mut<'a>(rows: &'a mut Rows, row: &ModelRow) -> &'a mut RowHealth {
    rows.entry(row.provider.key.clone())
        .or_default()
        .entry(row.upstream_id.clone())
        .or_default()
}

/// The conditions of many rows under one lock, for one planning pass.
pub struct HealthReader<'a> {
    rows: std::sync::MutexGuard<'a, Rows>,
    pools: std::sync::MutexGuard<'a, Pools>,
}

impl HealthReader<'_> {
    pub fn condition(&self, row: &ModelRow, now: Instant) -> RowCondition {
        condition_of(&self.rows, &self.pools, row, now)
    }
}

fn condition_of(rows: &Rows, pools: &Pools, row: &ModelRow, now: Instant) -> RowCondition {
    let pool = pools
        .get(&row.provider.key)
        .copied()
        .filter(|(until, _)| *until > now);
    let Some(health) = row_health(rows, row) else {
        return RowCondition {
            cooling_until: pool,
            ..RowCondition::default()
        };
    };
    let own = health.cooldown.filter(|(until, _)| *until > now);
    let cooling_until = match (own, pool) {
        (Some(a), Some(b)) => Some(if a.0 >= b.0 { a } else { b }),
        (a, b) => a.or(b),
    };
    RowCondition {
        ttft_ms: health.stats.ttft_ewma,
        ttft_p95_ms: health.stats.ttft_p95(),
        ttft_p90_ms: health.stats.ttft_p90(),
        total_p90_ms: health.stats.total_p90(),
        tokens_per_second: health.stats.tokens_per_second_ewma,
        error_rate: health.stats.error_ewma,
        headroom: health.headroom(now),
        admission: health.breaker.peek(now),
        cooling_until,
        trial_at: health.breaker.trial_at(),
    }
}

pub struct HealthBook {
    rows: Mutex<Rows>,
    /// Account-wide free pools that are spent (OpenRouter's daily free requests).
    pools: Mutex<Pools>,
    /// Bumped on every recorded attempt, so live views know to refresh.
    changes: watch::Sender<u64>,
}

impl Default for HealthBook {
    fn default() -> Self {
        Self {
            rows: Mutex::default(),
            pools: Mutex::default(),
            changes: watch::channel(0).0,
        }
    }
}

/// A later, longer cooldown extends the deadline; a shorter one never shortens it.
fn extend(current: Option<(Instant, Window)>, proposed: (Instant, Window)) -> (Instant, Window) {
    match current {
        Some(existing) if existing.0 >= proposed.0 => existing,
        _ => proposed,
    }
}

impl HealthBook {
    fn lock_rows(&self) -> std::sync::MutexGuard<'_, Rows> {
        self.rows.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn lock_pools(&self) -> std::sync::MutexGuard<'_, Pools> {
        self.pools.lock().unwrap_or_else(|e| e.into_inner())
    }

    pub fn condition(&self, row: &ModelRow, now: Instant) -> RowCondition {
        self.reader().condition(row, now)
    }

    /// Holds the book still while many rows are read (rows, then pools: the order `record`
    /// takes them in).
    pub fn reader(&self) -> HealthReader<'_> {
        let rows = self.lock_rows();
        let pools = self.lock_pools();
        HealthReader { rows, pools }
    }

    /// Takes the breaker's permission for one request; `false` means skip the row — also when
    /// the row (or its account's shared pool) started cooling down after the plan was made.
    pub fn admit(&self, row: &ModelRow, now: Instant) -> bool {
        if self.condition(row, now).cooling(now).is_some() {
            return false;
        }
        let mut rows = self.lock_rows();
        row_health_mut(&mut rows, row).breaker.admit(now) != Admission::No
    }

    /// How `row` continues a cut answer: what traffic taught, else the catalog's word.
    pub fn continuation(&self, row: &ModelRow) -> ContinueMode {
        row_health(&self.lock_rows(), row)
            .and_then(|health| health.learned_continuation)
            .unwrap_or(row.continuation)
    }

    /// Remembers that `row` continues as `mode` (a prefill it refused or restarted).
    pub fn learn_continuation(&self, row: &ModelRow, mode: ContinueMode) {
        let mut rows = self.lock_rows();
        row_health_mut(&mut rows, row).learned_continuation = Some(mode);
        drop(rows);
        self.changes.send_modify(|version| *version += 1);
    }

    /// Changes whenever an attempt is recorded.
    pub fn subscribe(&self) -> watch::Receiver<u64> {
        self.changes.subscribe()
    }

    pub fn record(&self, row: &ModelRow, report: AttemptReport, now: Instant) {
        self.record_quietly(row, report, now);
        self.changes.send_modify(|version| *version += 1);
    }

    fn record_quietly(&self, row: &ModelRow, report: AttemptReport, now: Instant) {
        let mut rows = self.lock_rows();
        let health = row_health_mut(&mut rows, row);
        let mut sample = Sample {
            at: now,
            source: report.source,
            outcome: SampleOutcome::Success,
            ttft_ms: None,
            total_ms: None,
            tokens: None,
            status: None,
        };
        match &report.outcome {
            AttemptResult::Success {
                ttft,
                total,
                tokens,
            } => {
                sample.ttft_ms = Some(ttft.as_secs_f64() * 1000.0);
                sample.total_ms = Some(total.as_secs_f64() * 1000.0);
                sample.tokens = *tokens;
                sample.status = Some(200);
                if matches!(health.breaker.state, BreakerState::HalfOpen { .. }) {
                    // The trial proved the row recovered: its old failures no longer count.
                    health.stats.error_ewma = 0.0;
                }
                health.breaker.record_success();
            }
            AttemptResult::Failure {
                status,
                message,
                timeout,
                hard,
            } => {
                sample.outcome = if *timeout {
                    SampleOutcome::Timeout
                } else {
                    SampleOutcome::Failure
                };
                sample.status = *status;
                health.breaker.record_failure(now, *hard);
                health.last_error = Some((now, message.clone()));
            }
            AttemptResult::RateLimited { message } => {
                sample.outcome = SampleOutcome::RateLimited;
                sample.status = Some(429);
                health.last_error = Some((now, message.clone()));
            }
        }
        health.stats.record(sample);
        if let Some(rate) = report.rate {
            if let Some((wait, window)) = rate.exhausted_for {
                let deadline = (now + wait, window);
                if rate.shared_pool || row.provider.shared_quota && window == Window::Day {
                    let mut pools = self.lock_pools();
                    let current = pools.get(&row.provider.key).copied();
                    pools.insert(row.provider.key.clone(), extend(current, deadline));
                }
                health.cooldown = Some(extend(
                    health.cooldown.filter(|(until, _)| *until > now),
                    deadline,
                ));
            }
            health.last_rate = Some(rate);
            health.last_rate_at = Some(now);
        }
    }

    /// A request to `row` was dropped after `waited` because a hedge answered first: the row
    /// was at least that slow this time. The wait moves its average time to first token (a
    /// lower bound), so a row that is overtaken moves down the ranking as a slow answer would
    /// move it; its percentiles, breaker and error rate are untouched (it did not fail).
    pub fn record_overtaken(&self, row: &ModelRow, waited: Duration, now: Instant) {
        let mut rows = self.lock_rows();
        let health = row_health_mut(&mut rows, row);
        health.stats.record(Sample {
            at: now,
            source: SampleSource::Traffic,
            outcome: SampleOutcome::Overtaken,
            ttft_ms: Some(waited.as_secs_f64() * 1000.0),
            total_ms: None,
            tokens: None,
            status: None,
        });
        drop(rows);
        self.changes.send_modify(|version| *version += 1);
    }

    pub fn view(&self, row: &ModelRow, now: Instant) -> RowHealthView {
        let condition = self.condition(row, now);
        let rows = self.lock_rows();
        let health = row_health(&rows, row).cloned().unwrap_or_default();
        RowHealthView {
            circuit_open: health.breaker.is_open(now),
            uptime: health.stats.uptime(),
            samples: health.stats.samples.iter().cloned().collect(),
            last_error: health.last_error,
            last_rate: health.last_rate,
            condition,
        }
    }

    /// When the row was last used or probed, and whether that last sample was a failure.
    pub fn last_activity(&self, row: &ModelRow) -> Option<(Instant, bool)> {
        let rows = self.lock_rows();
        let stats = &row_health(&rows, row)?.stats;
        let at = stats.last_activity()?;
        let failed = stats
            .samples
            .back()
            .is_some_and(|s| matches!(s.outcome, SampleOutcome::Failure | SampleOutcome::Timeout));
        Some((at, failed))
    }

    /// Forgets a row's history (after an unban or a key change).
    pub fn reset(&self, row: &ModelRow) {
        if let Some(rows) = self.lock_rows().get_mut(&row.provider.key) {
            rows.remove(&row.upstream_id);
        }
        self.changes.send_modify(|version| *version += 1);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::providers::{Provider, RowOrigin};
    use std::sync::Arc;

    fn row(provider: &str, shared: bool) -> ModelRow {
        let provider = Provider {
            shared_quota: shared,
            ..Provider::new(provider, provider, "http://x/v1")
        };
        ModelRow::new(Arc::new(provider), "m", "m", RowOrigin::Builtin)
    }

    /// The preferred row answers 503 for 60 s, then is healthy; a request comes every 4 s and
    /// tries the preferred row whenever its breaker admits it (as the executor does, the row
    /// ranking first by priority). Traffic must be back on it within 15 s of its recovery.
    #[test]
    fn a_recovered_preferred_row_gets_traffic_back_within_fifteen_seconds() {
        let book = HealthBook::default();
        let preferred = row("preferred", false);
        let start = Instant::now();
        let recovered_at = start + Duration::from_secs(60);
        let mut tried_while_down = 0;
        let mut back = None;
        for step in 0..30u64 {
            let now = start + Duration::from_secs(4 * step);
            if !book.admit(&preferred, now) {
                continue;
            }
            let outcome = if now < recovered_at {
                tried_while_down += 1;
                AttemptResult::Failure {
                    status: Some(503),
                    message: "down".into(),
                    timeout: false,
                    hard: false,
                }
            } else {
                back.get_or_insert(now);
                AttemptResult::Success {
                    ttft: Duration::from_millis(200),
                    total: Duration::from_millis(400),
                    tokens: Some(20),
                }
            };
            let report = AttemptReport {
                source: SampleSource::Traffic,
                outcome,
                rate: None,
            };
            book.record(&preferred, report, now);
        }
        let back = back.expect("traffic came back");
        assert!(
            back.duration_since(recovered_at) <= Duration::from_secs(15),
            "back {:?} after recovery",
            back.duration_since(recovered_at)
        );
        assert!(tried_while_down <= 8, "{tried_while_down} tries while down");
    }

    fn limited(wait: u64, window: Window, shared_pool: bool) -> AttemptReport {
        AttemptReport {
            source: SampleSource::Traffic,
            outcome: AttemptResult::RateLimited {
                message: "429".into(),
            },
            rate: Some(RateLimitInfo {
                exhausted_for: Some((Duration::from_secs(wait), window)),
                shared_pool,
                ..RateLimitInfo::default()
            }),
        }
    }

    #[test]
    fn a_row_that_answered_429_is_skipped_until_its_reset() {
        let book = HealthBook::default();
        let row = row("groq", false);
        let now = Instant::now();
        book.record(&row, limited(30, Window::Minute, false), now);
        assert!(book
            .condition(&row, now + Duration::from_secs(29))
            .cooling(now + Duration::from_secs(29))
            .is_some());
        let after = now + Duration::from_secs(30);
        assert!(book.condition(&row, after).cooling(after).is_none());
    }

    #[test]
    fn a_later_shorter_cooldown_never_shortens_the_deadline() {
        let book = HealthBook::default();
        let row = row("groq", false);
        let now = Instant::now();
        book.record(&row, limited(3600, Window::Day, false), now);
        book.record(
            &row,
            limited(5, Window::Minute, false),
            now + Duration::from_secs(1),
        );
        let (until, window) = book.condition(&row, now).cooling_until.unwrap();
        assert_eq!(
            (until, window),
            (now + Duration::from_secs(3600), Window::Day)
        );
    }

    #[test]
    fn a_spent_shared_pool_cools_every_row_of_the_provider() {
        let book = HealthBook::default();
        let first = row("openrouter", true);
        let other = ModelRow::new(first.provider.clone(), "other", "other", RowOrigin::Builtin);
        let now = Instant::now();
        book.record(&first, limited(600, Window::Day, true), now);
        assert!(
            book.condition(&other, now).cooling(now).is_some(),
            "never tried, already skipped"
        );
    }

    #[test]
    fn a_row_that_starts_cooling_after_planning_is_not_admitted() {
        let book = HealthBook::default();
        let row = row("groq", false);
        let now = Instant::now();
        assert!(book.admit(&row, now));
        book.record(&row, limited(30, Window::Minute, false), now);
        assert!(
            !book.admit(&row, now),
            "no request to a row known to be rate-limited"
        );
        assert!(book.admit(&row, now + Duration::from_secs(30)));
    }

    #[test]
    fn quota_headroom_expires_with_its_window() {
        let book = HealthBook::default();
        let row = row("groq", false);
        let now = Instant::now();
        let nearly_spent = AttemptReport {
            source: SampleSource::Traffic,
            outcome: AttemptResult::Success {
                ttft: Duration::from_millis(100),
                total: Duration::from_millis(200),
                tokens: None,
            },
            rate: Some(RateLimitInfo {
                limit_requests: Some(100),
                remaining_requests: Some(1),
                reset_requests: Some(Duration::from_secs(20)),
                ..RateLimitInfo::default()
            }),
        };
        book.record(&row, nearly_spent, now);
        assert_eq!(book.condition(&row, now).headroom, Some(0.01));
        assert_eq!(
            book.condition(&row, now + Duration::from_secs(20)).headroom,
            None,
            "the window reset"
        );
    }

    #[test]
    fn an_overtaken_request_counts_as_a_slow_first_token_not_a_failure() {
        let book = HealthBook::default();
        let row = row("x", false);
        let now = Instant::now();
        let quick = AttemptReport {
            source: SampleSource::Traffic,
            outcome: AttemptResult::Success {
                ttft: Duration::from_millis(100),
                total: Duration::from_millis(300),
                tokens: Some(20),
            },
            rate: None,
        };
        book.record(&row, quick, now);
        book.record_overtaken(&row, Duration::from_millis(1100), now);
        let condition = book.condition(&row, now);
        assert_eq!(condition.ttft_ms, Some(100.0 + 0.35 * 1000.0));
        assert_eq!(
            condition.ttft_p90_ms,
            Some(100.0),
            "the wait is no percentile"
        );
        assert_eq!(condition.error_rate, 0.0);
        assert_eq!(condition.admission, Admission::Yes);
        assert_eq!(book.view(&row, now).uptime, Some(1.0));
    }

    #[test]
    fn failures_open_the_circuit_and_a_success_closes_it() {
        let book = HealthBook::default();
        let row = row("x", false);
        let now = Instant::now();
        let failure = AttemptReport {
            source: SampleSource::Traffic,
            outcome: AttemptResult::Failure {
                status: Some(503),
                message: "down".into(),
                timeout: false,
                hard: false,
            },
            rate: None,
        };
        book.record(&row, failure.clone(), now);
        book.record(&row, failure, now);
        assert!(!book.admit(&row, now));
        assert!(book.view(&row, now).circuit_open);
        let later = now + Duration::from_secs(5);
        assert!(book.admit(&row, later), "one trial after the open period");
        assert!(!book.admit(&row, later), "and only one");
        let success = AttemptReport {
            source: SampleSource::Probe,
            outcome: AttemptResult::Success {
                ttft: Duration::from_millis(200),
                total: Duration::from_millis(400),
                tokens: Some(4),
            },
            rate: None,
        };
        book.record(&row, success, later);
        assert!(book.admit(&row, later));
        assert_eq!(book.condition(&row, later).ttft_ms, Some(200.0));
    }
}
