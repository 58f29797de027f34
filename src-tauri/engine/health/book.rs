//! The health book: every row's measurements, circuit breaker and quota cooldowns, and each
//! provider's shared-pool cooldown. Fed by real traffic and probes; read by the planner.

use rustc_hash::FxHashMap;
use std::sync::{Mutex, OnceLock};
use std::time::Duration;

use tokio::sync::{mpsc, watch};
use tokio::time::Instant;

use crate::engine::providers::{ContinueMode, ModelRow};

use super::breaker::{Admission, Breaker, BreakerState};
use super::ratelimit::{RateLimitInfo, Window};
use super::scoring::RowCondition;
use super::stats::{RowStats, Sample, SampleOutcome, SampleSource};
use super::team::{merge, PeerSummary, RowSummary};

/// What this router learned that its team should know (`engine::shared` carries it). Only
/// the router's own findings: what peers report is applied without a word back.
#[derive(Debug, Clone, PartialEq)]
pub enum Learned {
    /// A row (`model: Some`) or the provider's shared pool (`None`) is spent until `until`.
    Cooldown {
        provider: String,
        model: Option<String>,
        until: Instant,
        window: Window,
    },
    /// The row's circuit opened; its trial comes at `until` (this router runs it).
    CircuitOpened {
        provider: String,
        model: String,
        until: Instant,
    },
    /// The row's trial succeeded: its circuit is closed again.
    CircuitClosed { provider: String, model: String },
    /// The provider said the row's model is gone: retired until `until`.
    Retired {
        provider: String,
        model: String,
        until: Instant,
        message: String,
    },
}

/// A live state of this router's book, replayed to the team after a reconnection.
#[derive(Debug, Clone, PartialEq)]
pub struct LiveState {
    pub learned: Vec<Learned>,
    pub summaries: Vec<(String, String, RowSummary)>,
}

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
    /// The provider said it no longer serves the model: the row is retired for `retire_for`,
    /// its circuit and its error rate untouched.
    ModelGone {
        message: String,
        retire_for: Duration,
    },
}

/// A row the provider said it no longer serves, until when, and its words.
#[derive(Debug, Clone, PartialEq)]
pub struct Retirement {
    pub since: Instant,
    pub until: Instant,
    pub message: String,
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
    /// Set when the provider answered that the model is gone.
    retired: Option<Retirement>,
    /// What the team's other routers measured on this row (team mode only).
    peers: Vec<PeerSummary>,
}

/// How long quota headroom is trusted when the provider gave no reset time.
const HEADROOM_WITHOUT_RESET: Duration = Duration::from_secs(60);

impl RowHealth {
    /// The retirement, while it runs.
    fn retirement(&self, now: Instant) -> Option<&Retirement> {
        self.retired.as_ref().filter(|r| r.until > now)
    }

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
    /// The provider said the model is gone, and the retirement still runs.
    pub retired: Option<Retirement>,
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

/// A row's health found from the names a peer sent (it may not be in this catalog yet).
fn row_health_by_name<'a>(rows: &'a mut Rows, provider: &str, model: &str) -> &'a mut RowHealth {
    rows.entry(provider.to_string())
        .or_default()
        .entry(model.to_string())
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
    let own = RowSummary::of(&health.stats);
    let merged = if health.peers.is_empty() {
        own
    } else {
        let live = health.peers.iter().filter(|p| p.expires > now);
        merge(own, live.map(|p| &p.summary))
    };
    RowCondition {
        ttft_ms: merged.ttft_ms,
        ttft_p95_ms: health.stats.ttft_p95(),
        ttft_p90_ms: health.stats.ttft_p90(),
        total_p90_ms: health.stats.total_p90(),
        tokens_per_second: merged.tokens_per_second,
        error_rate: merged.error_rate,
        headroom: health.headroom(now),
        admission: health.breaker.peek(now),
        cooling_until,
        trial_at: health.breaker.trial_at(),
        retired_until: health.retirement(now).map(|r| r.until),
    }
}

pub struct HealthBook {
    rows: Mutex<Rows>,
    /// Account-wide free pools that are spent (OpenRouter's daily free requests).
    pools: Mutex<Pools>,
    /// Bumped on every recorded attempt, so live views know to refresh.
    changes: watch::Sender<u64>,
    /// Where this router's findings go when it is part of a team (`engine::shared`).
    team: OnceLock<mpsc::UnboundedSender<Learned>>,
}

impl Default for HealthBook {
    fn default() -> Self {
        Self {
            rows: Mutex::default(),
            pools: Mutex::default(),
            changes: watch::channel(0).0,
            team: OnceLock::new(),
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
        let condition = self.condition(row, now);
        if condition.cooling(now).is_some() || condition.retired_until.is_some() {
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

    /// Tells live views to refresh though no row changed (team mode's link went up or down).
    pub fn notify_changed(&self) {
        self.changes.send_modify(|version| *version += 1);
    }

    pub fn record(&self, row: &ModelRow, report: AttemptReport, now: Instant) {
        let learned = self.record_quietly(row, report, now);
        if let Some(team) = self.team.get() {
            for item in learned {
                // The receiver ends only with the engine; nothing to do then.
                let _ = team.send(item);
            }
        }
        self.changes.send_modify(|version| *version += 1);
    }

    /// Sends what this router learns from now on to `team` (once; later calls are ignored).
    pub fn share_with(&self, team: mpsc::UnboundedSender<Learned>) {
        let _ = self.team.set(team);
    }

    fn record_quietly(&self, row: &ModelRow, report: AttemptReport, now: Instant) -> Vec<Learned> {
        let mut learned = Vec::new();
        let mut rows = self.lock_rows();
        let health = row_health_mut(&mut rows, row);
        let breaker_before = health.breaker.state;
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
            AttemptResult::ModelGone {
                message,
                retire_for,
            } => {
                // Not a failure of a row that exists: no sample, no breaker, no error rate.
                health.retired = Some(Retirement {
                    since: now,
                    until: now + *retire_for,
                    message: message.clone(),
                });
                health.last_error = Some((now, message.clone()));
                learned.push(Learned::Retired {
                    provider: row.provider.key.clone(),
                    model: row.upstream_id.clone(),
                    until: now + *retire_for,
                    message: message.clone(),
                });
                return learned;
            }
        }
        health.stats.record(sample);
        if let Some(rate) = report.rate {
            if let Some((wait, window)) = rate.exhausted_for {
                let deadline = (now + wait, window);
                if rate.shared_pool || row.provider.shared_quota && window == Window::Day {
                    let mut pools = self.lock_pools();
                    let current = pools.get(&row.provider.key).copied();
                    let extended = extend(current, deadline);
                    pools.insert(row.provider.key.clone(), extended);
                    learned.push(Learned::Cooldown {
                        provider: row.provider.key.clone(),
                        model: None,
                        until: extended.0,
                        window: extended.1,
                    });
                }
                let extended = extend(health.cooldown.filter(|(until, _)| *until > now), deadline);
                health.cooldown = Some(extended);
                learned.push(Learned::Cooldown {
                    provider: row.provider.key.clone(),
                    model: Some(row.upstream_id.clone()),
                    until: extended.0,
                    window: extended.1,
                });
            }
            health.last_rate = Some(rate);
            health.last_rate_at = Some(now);
        }
        let (provider, model) = (row.provider.key.clone(), row.upstream_id.clone());
        match (breaker_before, health.breaker.state) {
            (before, BreakerState::Open { until }) if before != health.breaker.state => {
                learned.push(Learned::CircuitOpened {
                    provider,
                    model,
                    until,
                });
            }
            (BreakerState::Open { .. } | BreakerState::HalfOpen { .. }, BreakerState::Closed) => {
                learned.push(Learned::CircuitClosed { provider, model });
            }
            _ => {}
        }
        learned
    }

    /// A peer's cooldown of a row (`model: Some`) or of the provider's shared pool: extends
    /// this router's, never shortens it, and is not sent back.
    pub fn apply_peer_cooldown(
        &self,
        provider: &str,
        model: Option<&str>,
        until: Instant,
        window: Window,
    ) {
        match model {
            Some(model) => {
                let mut rows = self.lock_rows();
                let health = row_health_by_name(&mut rows, provider, model);
                health.cooldown = Some(extend(health.cooldown, (until, window)));
            }
            None => {
                let mut pools = self.lock_pools();
                let current = pools.get(provider).copied();
                pools.insert(provider.to_string(), extend(current, (until, window)));
            }
        }
        self.changes.send_modify(|version| *version += 1);
    }

    /// A peer heard from the provider that the row's model is gone: retired here too, until
    /// `until` (a later retirement extends it; nothing is sent back).
    pub fn apply_peer_retired(
        &self,
        provider: &str,
        model: &str,
        until: Instant,
        message: String,
        now: Instant,
    ) {
        let mut rows = self.lock_rows();
        let health = row_health_by_name(&mut rows, provider, model);
        if health.retirement(now).is_some_and(|r| r.until >= until) {
            return;
        }
        health.retired = Some(Retirement {
            since: now,
            until,
            message: format!("{message} (seen by another router of the team)"),
        });
        drop(rows);
        self.changes.send_modify(|version| *version += 1);
    }

    /// A peer opened the row's circuit and runs its trial, due at `trial_at`: this router waits
    /// for that trial's result (until `result_due`) instead of running its own. When this
    /// router's own trial is also pending, the tie goes to `peer_wins_ties`.
    pub fn apply_peer_circuit_open(
        &self,
        provider: &str,
        model: &str,
        result_due: Instant,
        peer_wins_ties: bool,
        now: Instant,
    ) {
        let mut rows = self.lock_rows();
        let breaker = &mut row_health_by_name(&mut rows, provider, model).breaker;
        let own_trial_pending = breaker.state != BreakerState::Closed && !breaker.is_following();
        if own_trial_pending && !peer_wins_ties {
            return;
        }
        breaker.follow_peer(result_due, now);
        drop(rows);
        self.changes.send_modify(|version| *version += 1);
    }

    /// A peer's trial succeeded: the row's circuit closes here too.
    pub fn apply_peer_circuit_closed(&self, provider: &str, model: &str) {
        let mut rows = self.lock_rows();
        let breaker = &mut row_health_by_name(&mut rows, provider, model).breaker;
        if breaker.state != BreakerState::Closed {
            breaker.record_success();
        }
        drop(rows);
        self.changes.send_modify(|version| *version += 1);
    }

    /// A peer's own numbers for a row, kept until `expires` (a newer one replaces it).
    pub fn apply_peer_summary(&self, provider: &str, model: &str, peer: PeerSummary) {
        let mut rows = self.lock_rows();
        let peers = &mut row_health_by_name(&mut rows, provider, model).peers;
        peers.retain(|p| p.router != peer.router && p.expires > Instant::now());
        peers.push(peer);
        drop(rows);
        self.changes.send_modify(|version| *version += 1);
    }

    /// What this router knows now that a team should hear again after a reconnection: running
    /// cooldowns and open circuits it learned, and its own numbers for every measured row.
    pub fn live_state(&self, now: Instant) -> LiveState {
        let rows = self.lock_rows();
        let mut learned = Vec::new();
        let mut summaries = Vec::new();
        for (provider, models) in rows.iter() {
            for (model, health) in models {
                if let Some((until, window)) = health.cooldown.filter(|(until, _)| *until > now) {
                    learned.push(Learned::Cooldown {
                        provider: provider.clone(),
                        model: Some(model.clone()),
                        until,
                        window,
                    });
                }
                if let BreakerState::Open { until } = health.breaker.state {
                    if !health.breaker.is_following() {
                        learned.push(Learned::CircuitOpened {
                            provider: provider.clone(),
                            model: model.clone(),
                            until,
                        });
                    }
                }
                if let Some(retired) = health.retirement(now) {
                    learned.push(Learned::Retired {
                        provider: provider.clone(),
                        model: model.clone(),
                        until: retired.until,
                        message: retired.message.clone(),
                    });
                }
                if !health.stats.samples.is_empty() {
                    summaries.push((
                        provider.clone(),
                        model.clone(),
                        RowSummary::of(&health.stats),
                    ));
                }
            }
        }
        drop(rows);
        for (provider, (until, window)) in self.lock_pools().iter() {
            if *until > now {
                learned.push(Learned::Cooldown {
                    provider: provider.clone(),
                    model: None,
                    until: *until,
                    window: *window,
                });
            }
        }
        LiveState { learned, summaries }
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
            retired: health.retirement(now).cloned(),
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
    fn a_gone_model_retires_its_row_for_a_while_without_touching_the_circuit() {
        let book = HealthBook::default();
        let gone = row("x", false);
        let sibling = ModelRow::new(gone.provider.clone(), "other", "other", RowOrigin::Builtin);
        let now = Instant::now();
        book.record(
            &gone,
            AttemptReport {
                source: SampleSource::Traffic,
                outcome: AttemptResult::ModelGone {
                    message: "HTTP 410: Gone".into(),
                    retire_for: Duration::from_secs(3600),
                },
                rate: None,
            },
            now,
        );
        let condition = book.condition(&gone, now);
        assert_eq!(
            condition.retired_until,
            Some(now + Duration::from_secs(3600))
        );
        assert_eq!(condition.admission, Admission::Yes, "no circuit opened");
        assert_eq!(condition.error_rate, 0.0, "not counted as failing");
        assert!(!book.admit(&gone, now), "a retired row is not admitted");
        assert!(
            book.admit(&sibling, now),
            "the provider's other rows stay up"
        );
        let view = book.view(&gone, now);
        assert_eq!(view.retired.unwrap().message, "HTTP 410: Gone");
        assert!(view.samples.is_empty());
        let later = now + Duration::from_secs(3600);
        assert_eq!(book.condition(&gone, later).retired_until, None);
        assert!(book.admit(&gone, later), "back after the retirement");
    }

    #[test]
    fn what_a_router_learns_goes_to_its_team_and_what_peers_say_does_not_echo() {
        let book = HealthBook::default();
        let (team, mut learned) = mpsc::unbounded_channel();
        book.share_with(team);
        let row = row("groq", false);
        let now = Instant::now();
        book.record(&row, limited(30, Window::Minute, false), now);
        assert_eq!(
            learned.try_recv().unwrap(),
            Learned::Cooldown {
                provider: "groq".into(),
                model: Some("m".into()),
                until: now + Duration::from_secs(30),
                window: Window::Minute,
            }
        );
        let other = ModelRow::new(row.provider.clone(), "other", "other", RowOrigin::Builtin);
        book.apply_peer_cooldown(
            "groq",
            Some("other"),
            now + Duration::from_secs(60),
            Window::Minute,
        );
        assert!(book.condition(&other, now).cooling(now).is_some());
        assert!(
            !book.admit(&other, now),
            "a peer's 429 keeps this router off the row"
        );
        assert!(learned.try_recv().is_err(), "nothing is sent back");
    }

    #[test]
    fn a_peers_numbers_merge_with_this_routers_own() {
        let book = HealthBook::default();
        let row = row("groq", false);
        let now = Instant::now();
        let peer = PeerSummary {
            router: "peer".into(),
            summary: RowSummary {
                ttft_ms: Some(300.0),
                tokens_per_second: Some(50.0),
                error_rate: 0.0,
                samples: 3,
            },
            expires: now + Duration::from_secs(60),
        };
        book.apply_peer_summary("groq", "m", peer);
        let condition = book.condition(&row, now);
        assert_eq!(condition.ttft_ms, Some(300.0), "measured by the peer only");
        assert_eq!(condition.tokens_per_second, Some(50.0));
        let after = now + Duration::from_secs(60);
        assert_eq!(book.condition(&row, after).ttft_ms, None, "expired");
    }

    #[test]
    fn a_router_waits_for_the_trial_of_the_peer_that_opened_the_circuit() {
        let (opener, follower) = (HealthBook::default(), HealthBook::default());
        let (team, mut learned) = mpsc::unbounded_channel();
        opener.share_with(team);
        let row = row("x", false);
        let now = Instant::now();
        let failure = AttemptReport {
            source: SampleSource::Traffic,
            outcome: AttemptResult::Failure {
                status: Some(503),
                message: "down".into(),
                timeout: false,
                hard: true,
            },
            rate: None,
        };
        opener.record(&row, failure, now);
        let Ok(Learned::CircuitOpened { until, .. }) = learned.try_recv() else {
            panic!("the opened circuit is told to the team")
        };
        let result_due = until + Duration::from_secs(25);
        follower.apply_peer_circuit_open("x", "m", result_due, true, now);
        assert!(!follower.admit(&row, until), "the opener runs the trial");
        follower.apply_peer_circuit_closed("x", "m");
        assert!(
            follower.admit(&row, until),
            "its success reopens the row here"
        );
        follower.apply_peer_circuit_open("x", "m", result_due, true, now);
        assert!(
            follower.admit(&row, result_due),
            "no result in time: its own trial"
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
