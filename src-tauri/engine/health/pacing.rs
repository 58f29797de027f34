//! Pacing to published per-minute limits: one sliding window per provider key and model (per
//! provider key alone when the provider's quota is shared by all its models), so that no
//! 60-second window ever holds more requests than the limit — the catalog's `rpm`, or a
//! per-minute limit the provider's `x-ratelimit-*` headers stated, whichever is lower (a
//! limit known only from the catalog counts as much as a learned one). Free tiers count per
//! model (Groq, Gemini, Cerebras) unless the catalog marks the quota shared (OpenRouter's
//! pool). Traffic, hedges, continuations and probes take from the same window. A request that
//! would exceed the limit is not sent: the executor moves on to the next candidate instead of
//! drawing a 429.
//!
//! The windows are state, but every decision takes `now`; nothing here does IO. Team mode
//! shares windows between routers through [`Pacer::record_remote`] (a request another router
//! sent in the same window, named by its [`PaceKey`]) and [`Pacer::sent_since`] (what this
//! router sent, to publish).

use std::collections::VecDeque;
use std::sync::{Mutex, OnceLock};
use std::time::Duration;

use rustc_hash::FxHashMap;
use tokio::sync::mpsc;
use tokio::time::Instant;

use crate::engine::providers::ModelRow;

use super::ratelimit::RateLimitInfo;

/// The window providers count per-minute limits over.
pub const WINDOW: Duration = Duration::from_secs(60);
/// Requests are counted this much longer than a minute: a provider sees each request a
/// little after it was sent, and must never find one more in its own minute.
pub const MARGIN: Duration = Duration::from_secs(1);

/// Which key of a provider a request uses: its index in the provider's key pool (0 for a
/// provider with one key or none).
pub type KeyId = usize;

/// The window a request counts in: its provider, the key's index in the provider's pool, and
/// its model unless the provider's quota is shared by every model.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct PaceKey {
    pub provider: String,
    pub key: KeyId,
    pub model: Option<String>,
}

impl PaceKey {
    pub fn of(row: &ModelRow, key: KeyId) -> Self {
        Self {
            provider: row.provider.key.clone(),
            key,
            model: (!row.provider.shared_quota).then(|| row.upstream_id.clone()),
        }
    }
}

/// A request that would exceed the limit; a slot frees at this moment.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct NextFree(pub Instant);

/// The requests one key sent within the last window. Pure: `now` is passed in.
#[derive(Debug, Clone, Default)]
pub struct SlidingWindow {
    sent: VecDeque<Instant>,
}

impl SlidingWindow {
    fn forget_before(&mut self, now: Instant) {
        while let Some(&oldest) = self.sent.front() {
            if now.saturating_duration_since(oldest) >= WINDOW + MARGIN {
                self.sent.pop_front();
            } else {
                break;
            }
        }
    }

    /// Counts a request at `now` if the window holds fewer than `limit` (`None`: no limit,
    /// always counted); otherwise says when the oldest one leaves the window.
    pub fn try_take(&mut self, limit: Option<u32>, now: Instant) -> Result<(), NextFree> {
        self.forget_before(now);
        if let Some(limit) = limit {
            if self.sent.len() >= limit as usize {
                let oldest = self.sent.front().copied().unwrap_or(now);
                return Err(NextFree(oldest + WINDOW + MARGIN));
            }
        }
        self.record(now);
        Ok(())
    }

    /// Counts a request sent at `at` (possibly by another router), keeping the times sorted.
    pub fn record(&mut self, at: Instant) {
        let position = self.sent.partition_point(|&t| t <= at);
        self.sent.insert(position, at);
    }

    /// Requests in the window that ends at `now`.
    pub fn count(&mut self, now: Instant) -> usize {
        self.forget_before(now);
        self.sent.len()
    }
}

/// The per-minute request limit an answer's headers state: `x-ratelimit-limit-requests`
/// when its window resets within a minute. (Groq's header of that name is a daily limit; its
/// reset is then minutes away, so it is not read as a per-minute one.)
pub fn per_minute_limit(rate: &RateLimitInfo) -> Option<u32> {
    let limit = rate.limit_requests.filter(|&l| l > 0)?;
    let reset = rate.reset_requests?;
    (reset <= WINDOW).then(|| u32::try_from(limit).unwrap_or(u32::MAX))
}

/// The limit a key is paced to: the lower of the catalog's and the learned one.
pub fn effective_limit(catalog: Option<u32>, learned: Option<u32>) -> Option<u32> {
    match (catalog, learned) {
        (Some(a), Some(b)) => Some(a.min(b)),
        (a, b) => a.or(b),
    }
}

#[derive(Debug, Default)]
struct Bucket {
    window: SlidingWindow,
    learned: Option<u32>,
}

/// Every window, shared by traffic, hedges, continuations and probes.
#[derive(Debug, Default)]
pub struct Pacer {
    buckets: Mutex<FxHashMap<PaceKey, Bucket>>,
    /// Team mode: every slot taken here is told to the team, so routers sharing a key stay
    /// under its limit together (set once; nothing is sent when team mode is off).
    team: OnceLock<mpsc::UnboundedSender<PaceKey>>,
}

impl Pacer {
    fn lock(&self) -> std::sync::MutexGuard<'_, FxHashMap<PaceKey, Bucket>> {
        self.buckets.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Takes a slot for one request to `row` with its provider's key `key`, or says when one
    /// frees.
    pub fn try_take(&self, row: &ModelRow, key: KeyId, now: Instant) -> Result<(), NextFree> {
        let window = PaceKey::of(row, key);
        let mut buckets = self.lock();
        let bucket = buckets.entry(window.clone()).or_default();
        let limit = effective_limit(row.provider.limits.rpm, bucket.learned);
        bucket.window.try_take(limit, now)?;
        drop(buckets);
        if let Some(team) = self.team.get() {
            // The receiver ends only with the engine; nothing to do then.
            let _ = team.send(window);
        }
        Ok(())
    }

    /// Tells `team` of every slot taken from now on (once; later calls are ignored).
    pub fn share_with(&self, team: mpsc::UnboundedSender<PaceKey>) {
        let _ = self.team.set(team);
    }

    /// The per-minute limit `row` is paced to with key `key`, if any.
    pub fn limit(&self, row: &ModelRow, key: KeyId) -> Option<u32> {
        let learned = self
            .lock()
            .get(&PaceKey::of(row, key))
            .and_then(|b| b.learned);
        effective_limit(row.provider.limits.rpm, learned)
    }

    /// Remembers the per-minute limit an answer from `row` stated for key `key`.
    pub fn learn(&self, row: &ModelRow, key: KeyId, rate: &RateLimitInfo) {
        if let Some(limit) = per_minute_limit(rate) {
            self.lock()
                .entry(PaceKey::of(row, key))
                .or_default()
                .learned = Some(limit);
        }
    }

    /// Counts a request another router sent in the same window (team mode).
    pub fn record_remote(&self, window: &PaceKey, at: Instant) {
        self.lock()
            .entry(window.clone())
            .or_default()
            .window
            .record(at);
    }

    /// Requests counted in this window within the minute ending at `now`.
    pub fn sent_in_window(&self, window: &PaceKey, now: Instant) -> usize {
        self.lock()
            .get_mut(window)
            .map_or(0, |bucket| bucket.window.count(now))
    }

    /// The send times counted in this window after `since` (team mode publishes them).
    pub fn sent_since(&self, window: &PaceKey, since: Instant) -> Vec<Instant> {
        self.lock()
            .get(window)
            .map(|bucket| {
                bucket
                    .window
                    .sent
                    .iter()
                    .copied()
                    .filter(|&t| t > since)
                    .collect()
            })
            .unwrap_or_default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::providers::{FreeTierLimits, Provider, RowOrigin};
    use std::sync::Arc;

    fn secs(s: u64) -> Duration {
        Duration::from_secs(s)
    }

    /// A burst, then steady traffic: at every moment a request was counted, the 60-second
    /// window behind it (plus the margin) holds at most the limit.
    #[test]
    fn no_window_ever_holds_more_than_the_limit() {
        let start = Instant::now();
        let mut window = SlidingWindow::default();
        let mut taken = Vec::new();
        for tenth in 0..3_000u64 {
            let now = start + Duration::from_millis(tenth * 100);
            if window.try_take(Some(10), now).is_ok() {
                taken.push(now);
            }
        }
        for (i, &at) in taken.iter().enumerate() {
            let in_window = taken[..=i]
                .iter()
                .filter(|&&t| at.duration_since(t) < WINDOW + MARGIN)
                .count();
            assert!(
                in_window <= 10,
                "{in_window} requests in the window ending {i}"
            );
        }
        assert!(
            taken.len() >= 40,
            "a 10-a-minute key still sends about 10 a minute over 5 minutes: {}",
            taken.len()
        );
    }

    #[test]
    fn a_refusal_says_when_the_oldest_request_leaves_the_window() {
        let start = Instant::now();
        let mut window = SlidingWindow::default();
        let table: [(u64, Option<u32>, Result<(), NextFree>); 6] = [
            (0, Some(2), Ok(())),
            (10, Some(2), Ok(())),
            (20, Some(2), Err(NextFree(start + WINDOW + MARGIN))),
            (61, Some(2), Ok(())),
            (
                62,
                Some(2),
                Err(NextFree(start + secs(10) + WINDOW + MARGIN)),
            ),
            (62, None, Ok(())),
        ];
        for (at, limit, expected) in table {
            assert_eq!(
                window.try_take(limit, start + secs(at)),
                expected,
                "at {at} s, limit {limit:?}"
            );
        }
    }

    #[test]
    fn remote_requests_count_in_the_same_window() {
        let start = Instant::now();
        let mut window = SlidingWindow::default();
        window.record(start + secs(5));
        window.record(start + secs(1));
        assert_eq!(window.count(start + secs(6)), 2);
        assert!(window.try_take(Some(2), start + secs(6)).is_err());
        assert_eq!(
            window.count(start + secs(62)),
            1,
            "the first left the window"
        );
    }

    #[test]
    fn only_limits_that_reset_within_a_minute_are_per_minute() {
        let rate = |limit, reset: Option<u64>| RateLimitInfo {
            limit_requests: limit,
            reset_requests: reset.map(Duration::from_secs),
            ..RateLimitInfo::default()
        };
        let table = [
            (rate(Some(30), Some(2)), Some(30)),
            (rate(Some(30), Some(60)), Some(30)),
            (rate(Some(1000), Some(180)), None),
            (rate(Some(30), None), None),
            (rate(None, Some(2)), None),
            (rate(Some(0), Some(2)), None),
        ];
        for (info, expected) in table {
            assert_eq!(per_minute_limit(&info), expected, "{info:?}");
        }
    }

    #[test]
    fn the_lower_of_the_catalog_and_the_learned_limit_applies() {
        let table = [
            (Some(30), Some(10), Some(10)),
            (Some(10), Some(30), Some(10)),
            (Some(30), None, Some(30)),
            (None, Some(20), Some(20)),
            (None, None, None),
        ];
        for (catalog, learned, expected) in table {
            assert_eq!(effective_limit(catalog, learned), expected);
        }
    }

    fn rows(shared_quota: bool) -> (ModelRow, ModelRow) {
        let provider = Arc::new(Provider {
            limits: FreeTierLimits {
                rpm: Some(1),
                ..FreeTierLimits::default()
            },
            shared_quota,
            ..Provider::new("groq", "Groq", "http://x/v1")
        });
        (
            ModelRow::new(provider.clone(), "a", "a", RowOrigin::Builtin),
            ModelRow::new(provider, "b", "b", RowOrigin::Builtin),
        )
    }

    #[test]
    fn keys_and_models_are_paced_apart_unless_the_quota_is_shared() {
        let now = Instant::now();
        let (a, b) = rows(false);
        let pacer = Pacer::default();
        assert!(pacer.try_take(&a, 0, now).is_ok());
        assert!(pacer.try_take(&a, 0, now).is_err());
        assert!(pacer.try_take(&a, 1, now).is_ok(), "another key");
        assert!(pacer.try_take(&b, 0, now).is_ok(), "another model");
        let (a, b) = rows(true);
        let pacer = Pacer::default();
        assert!(pacer.try_take(&a, 0, now).is_ok());
        assert!(
            pacer.try_take(&b, 0, now).is_err(),
            "one window for every model of a shared quota"
        );
    }

    #[test]
    fn a_learned_limit_applies_to_its_window_and_remote_sends_count() {
        let now = Instant::now();
        let (a, b) = rows(false);
        let pacer = Pacer::default();
        let stated = RateLimitInfo {
            limit_requests: Some(0),
            reset_requests: Some(Duration::from_secs(5)),
            ..RateLimitInfo::default()
        };
        pacer.learn(&a, 0, &stated);
        assert_eq!(pacer.limit(&a, 0), Some(1), "nothing usable learned");
        let unlimited = Arc::new(Provider::new("x", "X", "http://x/v1"));
        let row = ModelRow::new(unlimited, "m", "m", RowOrigin::Builtin);
        assert_eq!(pacer.limit(&row, 0), None);
        pacer.learn(
            &row,
            0,
            &RateLimitInfo {
                limit_requests: Some(2),
                ..stated
            },
        );
        assert_eq!(pacer.limit(&row, 0), Some(2));
        pacer.record_remote(&PaceKey::of(&row, 0), now);
        pacer.record_remote(&PaceKey::of(&row, 0), now);
        assert!(
            pacer.try_take(&row, 0, now).is_err(),
            "another router's sends"
        );
        assert_eq!(pacer.sent_in_window(&PaceKey::of(&row, 0), now), 2);
        assert!(pacer.try_take(&b, 0, now).is_ok());
        assert_eq!(pacer.sent_since(&PaceKey::of(&b, 0), now - WINDOW), [now]);
    }
}
