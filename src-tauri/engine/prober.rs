//! Active probes: a cheap streaming request to each idle row, so rankings stay fresh without
//! draining free quotas. Launches are staggered (one per tick), at most one probe per
//! provider is in flight, and each provider has a daily probe budget derived from its
//! documented limits. Rows that carry real traffic, rows without a usable key, and rows that
//! are cooling down are not probed. In team mode a row is probed by one router per interval:
//! the one that takes its probe lease (`SharedState::claim_probe`); the others skip it until
//! the lease ends and learn the result from the team. A probe takes from its
//! provider key's per-minute window like any request (`health::pacing`); a key at its limit is
//! not probed.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use crate::engine::config::Settings;
use crate::engine::forward::{attempt_result, AnswerStream, StreamItem};
use crate::engine::health::{Admission, AttemptReport, AttemptResult, NextFree, SampleSource};
use crate::engine::providers::{AuthMode, ModelRow, Provider};
use crate::engine::routing::plan::is_banned;
use crate::engine::state::AppState;
use crate::engine::upstream::{self, Call, Reply};

pub const TICK: Duration = Duration::from_secs(1);
/// A row whose last sample failed is checked again this soon, budget permitting.
pub const RECHECK_AFTER_FAILURE: Duration = Duration::from_secs(20);
pub const MAX_IN_FLIGHT: usize = 4;
pub const PROBE_BUDGET: Duration = Duration::from_secs(20);
/// Enough output (up to 32 tokens) to measure throughput as well as the first token.
/// The output a probe asks for (`max_tokens` in its body).
pub const PROBE_MAX_TOKENS: u64 = 32;
const PROBE_BODY: &str = r#"{"messages":[{"role":"user","content":"Count from 1 to 40, separated by spaces."}],"max_tokens":32,"temperature":0,"stream":true}"#;

/// Probes `provider` may be sent per day (`FreeTierLimits::daily_probe_budget`).
pub fn daily_probe_budget(provider: &Provider) -> f64 {
    provider.limits.daily_probe_budget()
}

/// A token bucket refilled continuously at the daily budget's rate.
#[derive(Debug, Clone)]
struct Budget {
    tokens: f64,
    capacity: f64,
    per_second: f64,
    last: Instant,
}

impl Budget {
    fn new(per_day: f64, now: Instant) -> Self {
        let capacity = (per_day / 24.0).clamp(1.0, 10.0);
        Self {
            tokens: capacity,
            capacity,
            per_second: per_day / 86_400.0,
            last: now,
        }
    }

    fn try_take(&mut self, now: Instant) -> bool {
        let elapsed = now.saturating_duration_since(self.last).as_secs_f64();
        self.tokens = (self.tokens + elapsed * self.per_second).min(self.capacity);
        self.last = now;
        if self.tokens >= 1.0 {
            self.tokens -= 1.0;
            true
        } else {
            false
        }
    }
}

/// Rows that may be probed now, most overdue first (never-measured rows before all others).
/// `admission` says a row's breaker state and whether it rests (cooling down, or retired
/// because its provider said the model is gone); rows their provider's list omits are never
/// probed.
pub fn due_rows<'a>(
    rows: &'a [Arc<ModelRow>],
    settings: &Settings,
    cli_bans: &[String],
    has_key: &dyn Fn(&Provider) -> bool,
    last_activity: &dyn Fn(&ModelRow) -> Option<(Instant, bool)>,
    admission: &dyn Fn(&ModelRow) -> (Admission, bool),
    now: Instant,
) -> Vec<&'a Arc<ModelRow>> {
    let mut due: Vec<(Option<Instant>, &Arc<ModelRow>)> = rows
        .iter()
        .filter(|row| row.provider.enabled)
        .filter(|row| !settings.excluded_providers.contains(&row.provider.key))
        .filter(|row| !is_banned(row, &settings.banned_models) && !is_banned(row, cli_bans))
        .filter(|row| row.provider.auth == AuthMode::Optional || has_key(&row.provider))
        .filter(|row| !row.is_unlisted())
        .filter(|row| {
            let (admission, resting) = admission(row);
            admission != Admission::No && !resting
        })
        .filter_map(|row| {
            let (last, last_failed) = match last_activity(row) {
                Some((at, failed)) => (Some(at), failed),
                None => (None, false),
            };
            let interval = if last_failed {
                RECHECK_AFTER_FAILURE
            } else {
                settings.ping_interval(&row.provider.key)
            };
            // A row waiting for its breaker trial is due at once: the probe is the trial.
            let trial = admission(row).0 == Admission::Trial;
            let overdue =
                trial || last.is_none_or(|at| now.saturating_duration_since(at) >= interval);
            overdue.then_some((if trial { None } else { last }, row))
        })
        .collect();
    due.sort_by_key(|(last, _)| *last);
    due.into_iter().map(|(_, row)| row).collect()
}

pub struct Prober {
    state: Arc<AppState>,
    budgets: Mutex<HashMap<String, Budget>>,
    in_flight: Mutex<HashMap<String, usize>>,
    /// Rows another router of the team holds the probe lease of, until when.
    leased_elsewhere: Mutex<HashMap<String, Instant>>,
}

impl Prober {
    pub fn new(state: Arc<AppState>) -> Arc<Self> {
        Arc::new(Self {
            state,
            budgets: Mutex::default(),
            in_flight: Mutex::default(),
            leased_elsewhere: Mutex::default(),
        })
    }

    fn leased_elsewhere(&self) -> std::sync::MutexGuard<'_, HashMap<String, Instant>> {
        self.leased_elsewhere
            .lock()
            .unwrap_or_else(|e| e.into_inner())
    }

    /// How long this row's probe lease lasts: its probe interval (a row whose last sample
    /// failed, or that waits for its breaker trial, is checked again sooner).
    fn lease_for(&self, row: &ModelRow, now: Instant) -> Duration {
        let state = &self.state;
        let failed = state
            .health
            .last_activity(row)
            .is_none_or(|(_, failed)| failed);
        let trial = state.health.condition(row, now).admission == Admission::Trial;
        if failed || trial {
            RECHECK_AFTER_FAILURE
        } else {
            state.config.settings().ping_interval(&row.provider.key)
        }
    }

    /// Probes `row` unless another router of the team holds its lease for this interval.
    async fn probe_if_leased(&self, row: &ModelRow) {
        let now = Instant::now();
        let lease = self.lease_for(row, now);
        let shared = &self.state.shared;
        if shared
            .claim_probe(&row.provider.key, &row.upstream_id, lease)
            .await
        {
            self.probe(row).await;
        } else {
            tracing::debug!(target: "modelrelay::probe", row = %row.row_id(), "another router of the team probes this row");
            self.leased_elsewhere().insert(row.row_id(), now + lease);
        }
    }

    pub async fn run(self: Arc<Self>, shutdown: CancellationToken) {
        let mut tick = tokio::time::interval(TICK);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                () = shutdown.cancelled() => return,
                _ = tick.tick() => {
                    if let Some(row) = self.next_row(Instant::now()) {
                        let prober = self.clone();
                        let stop = shutdown.clone();
                        self.state.tasks.spawn(async move {
                            tokio::select! {
                                () = stop.cancelled() => {}
                                () = prober.probe_if_leased(&row) => {}
                            }
                            prober.finished(&row.provider.key);
                        });
                    }
                }
            }
        }
    }

    fn in_flight(&self) -> std::sync::MutexGuard<'_, HashMap<String, usize>> {
        self.in_flight.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn finished(&self, provider: &str) {
        if let Some(count) = self.in_flight().get_mut(provider) {
            *count = count.saturating_sub(1);
        }
    }

    /// Chooses at most one row to probe now and reserves its provider's slot and budget.
    fn next_row(&self, now: Instant) -> Option<Arc<ModelRow>> {
        let settings = self.state.config.settings();
        if !settings.auto_ping_enabled() {
            return None;
        }
        let catalog = self.state.catalog.current();
        let state = &self.state;
        let has_key = |provider: &Provider| state.credentials.has_key(&settings, &provider.key);
        let last_activity = |row: &ModelRow| state.health.last_activity(row);
        let mut leased = self.leased_elsewhere();
        leased.retain(|_, until| *until > now);
        let admission = |row: &ModelRow| {
            if leased.contains_key(&row.row_id()) {
                // Probed by another router of the team: as good as busy until its lease ends.
                return (Admission::No, false);
            }
            let condition = state.health.condition(row, now);
            let resting = condition.cooling(now).is_some() || condition.retired_until.is_some();
            (condition.admission, resting)
        };
        let due = due_rows(
            &catalog.rows,
            &settings,
            &state.cli_bans,
            &has_key,
            &last_activity,
            &admission,
            now,
        );
        let mut in_flight = self.in_flight();
        if in_flight.values().sum::<usize>() >= MAX_IN_FLIGHT {
            return None;
        }
        let mut budgets = self.budgets.lock().unwrap_or_else(|e| e.into_inner());
        for row in due {
            let provider = &row.provider;
            if in_flight.get(&provider.key).copied().unwrap_or(0) > 0 {
                continue;
            }
            let budget = budgets
                .entry(provider.key.clone())
                .or_insert_with(|| Budget::new(daily_probe_budget(provider), now));
            if !budget.try_take(now) {
                continue;
            }
            if !state.health.admit(row, now) {
                continue;
            }
            *in_flight.entry(provider.key.clone()).or_default() += 1;
            return Some(row.clone());
        }
        None
    }

    async fn probe(&self, row: &ModelRow) {
        probe_row(&self.state, row).await;
    }
}

/// Probes one row now, records the result in the health book and returns it. A row whose
/// key is at its per-minute limit is not sent anything (and nothing is recorded).
pub async fn probe_row(state: &AppState, row: &ModelRow) -> AttemptResult {
    state.metrics.probe(&row.provider.key);
    {
        let settings = state.config.settings();
        let started = Instant::now();
        // Probes use the pool's first key: its window is key 0's.
        if let Err(NextFree(free)) = state.pacer.try_take(row, 0, started) {
            return AttemptResult::RateLimited {
                message: format!(
                    "paced: `{}` is at its per-minute limit for {} s more",
                    row.provider.key,
                    free.saturating_duration_since(started).as_secs_f64().ceil() as u64
                ),
            };
        }
        state.hedges.record_request(&row.provider.key, started);
        let key = state.credentials.peek_key(&settings, &row.provider.key);
        let body = probe_body(&row.upstream_id);
        let reply = upstream::send(Call {
            http: &state.http,
            row,
            key,
            identity: &state.identity,
            kiro: &state.kiro,
            body,
            stream: true,
            first_byte_budget: settings.timeouts.first_byte().min(PROBE_BUDGET),
            idle: settings.timeouts.idle(),
        })
        .await;
        let ttft = started.elapsed();
        let (result, rate) = match reply {
            Ok(Reply::Stream {
                first,
                rest,
                rate,
                content_type,
                ..
            }) => {
                let is_sse = content_type
                    .as_ref()
                    .is_none_or(|v| v.as_bytes().starts_with(b"text/event-stream"));
                let mut answer = AnswerStream::new(
                    first,
                    rest,
                    settings.timeouts.idle(),
                    is_sse,
                    Box::new(|_| {}),
                );
                let mut broken = None;
                while let Some(item) = answer.next().await {
                    if let StreamItem::Failed(failure) = item {
                        broken = Some(failure.message);
                    }
                }
                let result = match broken {
                    None => AttemptResult::Success {
                        ttft,
                        total: started.elapsed(),
                        tokens: Some(answer.progress().tokens()),
                    },
                    Some(message) => AttemptResult::Failure {
                        status: None,
                        message: format!("the probe's stream broke off: {message}"),
                        timeout: false,
                        hard: false,
                    },
                };
                (result, Some(rate))
            }
            Ok(Reply::Whole { rate, .. }) => (
                AttemptResult::Success {
                    ttft,
                    total: ttft,
                    tokens: None,
                },
                Some(rate),
            ),
            Ok(Reply::Refused { status, body, .. }) => (
                AttemptResult::Failure {
                    status: Some(status.as_u16()),
                    message: format!(
                        "HTTP {}: {}",
                        status.as_u16(),
                        upstream::error_message_from_body(&body)
                    ),
                    timeout: false,
                    hard: false,
                },
                None,
            ),
            Err(failure) => (
                attempt_result(&failure, settings.retire_for()),
                failure.rate,
            ),
        };
        if let Some(rate) = &rate {
            state.pacer.learn(row, 0, rate);
        }
        tracing::debug!(target: "modelrelay::probe", row = %row.row_id(), ?result, "probe finished");
        state.health.record(
            row,
            AttemptReport {
                source: SampleSource::Probe,
                outcome: result.clone(),
                rate,
            },
            Instant::now(),
        );
        result
    }
}

fn probe_body(model: &str) -> Bytes {
    let model = serde_json::to_string(model).unwrap_or_else(|_| "\"\"".into());
    Bytes::from(format!("{{\"model\":{model},{}", &PROBE_BODY[1..]))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::providers::{FreeTierLimits, RowOrigin};
    use serde_json::json;

    fn provider(key: &str, limits: FreeTierLimits) -> Provider {
        Provider {
            limits,
            auth: AuthMode::Required,
            ..Provider::new(key, key, "http://x/v1")
        }
    }

    #[test]
    fn budgets_follow_documented_limits() {
        let tight = provider(
            "sambanova",
            FreeTierLimits {
                rpd: Some(20),
                ..FreeTierLimits::default()
            },
        );
        assert_eq!(
            daily_probe_budget(&tight),
            2.0,
            "a provider with 20 requests a day gets 2 probes"
        );
        let per_minute = provider(
            "groq",
            FreeTierLimits {
                rpm: Some(30),
                ..FreeTierLimits::default()
            },
        );
        assert_eq!(daily_probe_budget(&per_minute), 2160.0);
        assert_eq!(
            daily_probe_budget(&provider("x", FreeTierLimits::default())),
            1440.0
        );
    }

    #[test]
    fn a_token_bucket_never_allows_more_than_the_budget() {
        let start = Instant::now();
        let mut budget = Budget::new(2.0, start);
        assert!(budget.try_take(start));
        assert!(
            !budget.try_take(start),
            "capacity is one probe for small budgets"
        );
        assert!(!budget.try_take(start + Duration::from_secs(3600)));
        assert!(
            budget.try_take(start + Duration::from_secs(43_200)),
            "refilled after half a day"
        );
    }

    #[test]
    fn only_idle_callable_healthy_rows_are_due_and_new_ones_first() {
        let now = Instant::now() + Duration::from_secs(7200);
        let keyed = Arc::new(provider("keyed", FreeTierLimits::default()));
        let keyless = Arc::new(provider("keyless", FreeTierLimits::default()));
        let rows: Vec<Arc<ModelRow>> = [
            "recent",
            "stale",
            "new",
            "cooling",
            "broken",
            "banned",
            "recent-failure",
            "unlisted",
        ]
        .iter()
        .map(|id| {
            let mut row = ModelRow::new(keyed.clone(), id, id, RowOrigin::Builtin);
            if *id == "unlisted" {
                row.listing = crate::engine::providers::Listing::NotListed { last_seen: None };
            }
            Arc::new(row)
        })
        .chain(std::iter::once(Arc::new(ModelRow::new(
            keyless.clone(),
            "nokey",
            "nokey",
            RowOrigin::Builtin,
        ))))
        .collect();
        let settings =
            Settings::from_json(json!({"bannedModels": ["banned"]}).as_object().unwrap()).unwrap();
        let has_key = |p: &Provider| p.key == "keyed";
        let last_activity = |row: &ModelRow| match row.upstream_id.as_str() {
            "recent" => Some((now - Duration::from_secs(60), false)),
            "recent-failure" => Some((now - RECHECK_AFTER_FAILURE, true)),
            "new" => None,
            _ => Some((now - Duration::from_secs(3600), false)),
        };
        let admission = |row: &ModelRow| match row.upstream_id.as_str() {
            "cooling" => (Admission::Yes, true),
            "broken" => (Admission::No, false),
            _ => (Admission::Yes, false),
        };
        let due = due_rows(
            &rows,
            &settings,
            &[],
            &has_key,
            &last_activity,
            &admission,
            now,
        );
        let ids: Vec<&str> = due.iter().map(|r| r.upstream_id.as_str()).collect();
        assert_eq!(ids, ["new", "stale", "recent-failure"]);
    }

    #[test]
    fn the_probe_is_a_tiny_streaming_request() {
        let body: serde_json::Value = serde_json::from_slice(&probe_body("org/m\"x")).unwrap();
        assert_eq!(body["max_tokens"], PROBE_MAX_TOKENS);
        assert_eq!(body["model"], "org/m\"x");
        assert_eq!(body["max_tokens"], 32);
        assert_eq!(body["stream"], true);
    }
}
