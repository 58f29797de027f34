//! Hedge policy and spend: when a request that waits too long for its first chunk may be sent
//! to a second row too, and what hedges have cost each provider. The rules are pure functions
//! of plain data and `now`; `HedgeLedger` keeps each provider's requests and hedges of the
//! last hour and its totals. It does no IO and never races anything (`forward::hedge` does).

use std::collections::VecDeque;
use std::sync::Mutex;
use std::time::Duration;

use rustc_hash::FxHashMap;
use serde::Serialize;
use tokio::time::Instant;

use crate::engine::config::Hedging;

use super::scoring::RowCondition;

/// The span a provider's hedge budget is counted over.
pub const BUDGET_WINDOW: Duration = Duration::from_secs(3600);
/// A row whose provider reports less than this share of its request quota left gets no hedge.
pub const MIN_HEADROOM: f64 = 0.2;

/// How long a request waits for its answer before it is hedged: the chosen row's recent p90
/// (of the first token for streams, of the whole answer otherwise), never sooner than the
/// configured floor.
pub fn hedge_delay(condition: &RowCondition, stream: bool, min_delay: Duration) -> Duration {
    let p90 = if stream {
        condition.ttft_p90_ms
    } else {
        condition.total_p90_ms
    };
    p90.filter(|ms| ms.is_finite() && *ms > 0.0)
        .map_or(min_delay, |ms| {
            Duration::from_secs_f64(ms / 1000.0).max(min_delay)
        })
}

/// Why a candidate may not take a hedge.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HedgeRefusal {
    Disabled,
    /// The provider's documented daily quota is below `hedging.minDailyQuota`.
    SmallDailyQuota,
    /// Cooling down after a 429, or its circuit is not closed.
    Unavailable,
    /// The provider reports less than `MIN_HEADROOM` of its quota left.
    NoHeadroom,
    /// Another hedge would take the provider past `hedging.maxShare` of its hour.
    OverBudget,
}

/// A provider's hedges and requests within the last hour.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct HourCounts {
    pub requests: usize,
    pub hedges: usize,
}

/// Whether one more hedge keeps the provider's hedges within `max_share` of its requests
/// in the hour (the hedge itself counted as one of them).
pub fn within_budget(hour: HourCounts, max_share: f64) -> bool {
    (hour.hedges + 1) as f64 <= max_share.clamp(0.0, 1.0) * (hour.requests + 1) as f64
}

/// Whether a candidate may take a hedge: hedging on, a daily quota large enough (when one is
/// documented), usable now with its quota headroom, and its provider within budget.
pub fn hedge_refusal(
    settings: &Hedging,
    provider_rpd: Option<u32>,
    condition: &RowCondition,
    hour: HourCounts,
    now: Instant,
) -> Option<HedgeRefusal> {
    if !settings.enabled {
        return Some(HedgeRefusal::Disabled);
    }
    if provider_rpd.is_some_and(|rpd| rpd < settings.min_daily_quota) {
        return Some(HedgeRefusal::SmallDailyQuota);
    }
    if condition.cooling(now).is_some() || condition.admission != super::breaker::Admission::Yes {
        return Some(HedgeRefusal::Unavailable);
    }
    if condition.headroom.is_some_and(|h| h <= MIN_HEADROOM) {
        return Some(HedgeRefusal::NoHeadroom);
    }
    if !within_budget(hour, settings.max_share) {
        return Some(HedgeRefusal::OverBudget);
    }
    None
}

/// What hedging has cost one provider since the engine started.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct HedgeSpend {
    /// Hedges sent to this provider.
    pub sent: u64,
    /// Of those, the ones that answered first.
    pub won: u64,
    /// Requests to this provider dropped because the other attempt answered first (the
    /// hedging's cost to this provider's quota).
    pub cancelled: u64,
    /// Requests and hedges within the last hour.
    pub hour_requests: usize,
    pub hour_hedges: usize,
}

#[derive(Debug, Default)]
struct ProviderLedger {
    requests: VecDeque<Instant>,
    hedges: VecDeque<Instant>,
    spend: HedgeSpend,
}

impl ProviderLedger {
    fn forget_before(&mut self, now: Instant) {
        for times in [&mut self.requests, &mut self.hedges] {
            while times
                .front()
                .is_some_and(|&t| now.saturating_duration_since(t) >= BUDGET_WINDOW)
            {
                times.pop_front();
            }
        }
    }
}

/// Each provider's requests, hedges and hedge spend.
#[derive(Debug, Default)]
pub struct HedgeLedger {
    providers: Mutex<FxHashMap<String, ProviderLedger>>,
}

impl HedgeLedger {
    fn lock(&self) -> std::sync::MutexGuard<'_, FxHashMap<String, ProviderLedger>> {
        self.providers.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Counts one request sent to `provider` (traffic, hedge or probe).
    pub fn record_request(&self, provider: &str, now: Instant) {
        let mut providers = self.lock();
        let ledger = providers.entry(provider.to_string()).or_default();
        ledger.forget_before(now);
        ledger.requests.push_back(now);
    }

    /// Counts a hedge sent to `provider` (its request is counted by `record_request`).
    pub fn record_hedge(&self, provider: &str, now: Instant) {
        let mut providers = self.lock();
        let ledger = providers.entry(provider.to_string()).or_default();
        ledger.forget_before(now);
        ledger.hedges.push_back(now);
        ledger.spend.sent += 1;
    }

    /// A hedge to `provider` answered first.
    pub fn record_win(&self, provider: &str) {
        self.lock()
            .entry(provider.to_string())
            .or_default()
            .spend
            .won += 1;
    }

    /// A request to `provider` was dropped because the other attempt answered first.
    pub fn record_cancelled(&self, provider: &str) {
        self.lock()
            .entry(provider.to_string())
            .or_default()
            .spend
            .cancelled += 1;
    }

    /// The provider's requests and hedges within the hour ending at `now`.
    pub fn hour(&self, provider: &str, now: Instant) -> HourCounts {
        let mut providers = self.lock();
        let Some(ledger) = providers.get_mut(provider) else {
            return HourCounts::default();
        };
        ledger.forget_before(now);
        HourCounts {
            requests: ledger.requests.len(),
            hedges: ledger.hedges.len(),
        }
    }

    /// What hedging has cost `provider`.
    pub fn spend(&self, provider: &str, now: Instant) -> HedgeSpend {
        let hour = self.hour(provider, now);
        let spend = self
            .lock()
            .get(provider)
            .map(|ledger| ledger.spend)
            .unwrap_or_default();
        HedgeSpend {
            hour_requests: hour.requests,
            hour_hedges: hour.hedges,
            ..spend
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::health::{Admission, Window};

    fn settings() -> Hedging {
        Hedging::default()
    }

    fn hour(requests: usize, hedges: usize) -> HourCounts {
        HourCounts { requests, hedges }
    }

    #[test]
    fn the_delay_follows_the_rows_p90_but_never_undercuts_the_floor() {
        let floor = Duration::from_millis(1000);
        let condition = |ttft: Option<f64>, total: Option<f64>| RowCondition {
            ttft_p90_ms: ttft,
            total_p90_ms: total,
            ..RowCondition::default()
        };
        let table = [
            (condition(Some(100.0), None), true, floor),
            (
                condition(Some(2500.0), None),
                true,
                Duration::from_millis(2500),
            ),
            (condition(None, None), true, floor),
            (
                condition(Some(100.0), Some(4000.0)),
                false,
                Duration::from_millis(4000),
            ),
            (condition(Some(100.0), None), false, floor),
            (condition(Some(f64::NAN), None), true, floor),
        ];
        for (condition, stream, expected) in table {
            assert_eq!(
                hedge_delay(&condition, stream, floor),
                expected,
                "{condition:?}"
            );
        }
    }

    #[test]
    fn hedges_stay_within_a_tenth_of_the_providers_hour() {
        let table = [
            (
                hour(0, 0),
                false,
                "no traffic yet: a hedge would be all of it",
            ),
            (hour(9, 0), true, "the tenth request may be a hedge"),
            (hour(8, 0), false, ""),
            (hour(19, 1), true, ""),
            (hour(18, 1), false, ""),
            (hour(109, 10), true, ""),
            (
                hour(100, 10),
                false,
                "an eleventh hedge in 101 requests is too many",
            ),
        ];
        for (counts, allowed, why) in table {
            assert_eq!(within_budget(counts, 0.1), allowed, "{counts:?} {why}");
        }
        assert!(
            within_budget(hour(0, 0), 1.0),
            "a share of 1 allows anything"
        );
        assert!(
            !within_budget(hour(1000, 0), 0.0),
            "a share of 0 allows nothing"
        );
    }

    #[test]
    fn each_refusal_has_its_reason() {
        let now = Instant::now();
        let fine = RowCondition::default();
        let busy = hour(100, 0);
        let off = Hedging {
            enabled: false,
            ..settings()
        };
        let cooling = RowCondition {
            cooling_until: Some((now + Duration::from_secs(30), Window::Minute)),
            ..RowCondition::default()
        };
        let trial = RowCondition {
            admission: Admission::Trial,
            ..RowCondition::default()
        };
        let spent = RowCondition {
            headroom: Some(0.2),
            ..RowCondition::default()
        };
        let roomy = RowCondition {
            headroom: Some(0.5),
            ..RowCondition::default()
        };
        let raised = Hedging {
            min_daily_quota: 50,
            ..settings()
        };
        let table = [
            (settings(), None, &fine, busy, None),
            (settings(), Some(14_400), &roomy, busy, None),
            (off, None, &fine, busy, Some(HedgeRefusal::Disabled)),
            (
                settings(),
                Some(50),
                &fine,
                busy,
                Some(HedgeRefusal::SmallDailyQuota),
            ),
            (raised.clone(), Some(50), &fine, busy, None),
            (
                settings(),
                None,
                &cooling,
                busy,
                Some(HedgeRefusal::Unavailable),
            ),
            (
                settings(),
                None,
                &trial,
                busy,
                Some(HedgeRefusal::Unavailable),
            ),
            (
                settings(),
                None,
                &spent,
                busy,
                Some(HedgeRefusal::NoHeadroom),
            ),
            (
                settings(),
                None,
                &fine,
                hour(100, 11),
                Some(HedgeRefusal::OverBudget),
            ),
        ];
        for (hedging, rpd, condition, counts, expected) in table {
            assert_eq!(
                hedge_refusal(&hedging, rpd, condition, counts, now),
                expected,
                "{hedging:?} {rpd:?} {condition:?} {counts:?}"
            );
        }
    }

    #[test]
    fn the_ledger_counts_an_hour_and_keeps_totals() {
        let ledger = HedgeLedger::default();
        let start = Instant::now();
        for i in 0..10 {
            ledger.record_request("a", start + Duration::from_secs(i));
        }
        ledger.record_hedge("a", start + Duration::from_secs(10));
        ledger.record_win("a");
        ledger.record_cancelled("b");
        assert_eq!(
            ledger.hour("a", start + Duration::from_secs(11)),
            hour(10, 1)
        );
        let later = start + BUDGET_WINDOW + Duration::from_secs(5);
        assert_eq!(ledger.hour("a", later), hour(4, 1));
        let spend = ledger.spend("a", later);
        assert_eq!((spend.sent, spend.won, spend.cancelled), (1, 1, 0));
        assert_eq!(ledger.spend("b", later).cancelled, 1);
    }
}
