//! Measurements of one row: recent samples and smoothed time to first token, throughput and
//! error rate. Probes and real traffic feed the same numbers. Pure.

use std::collections::VecDeque;

use tokio::time::Instant;

/// Weight of the newest sample in the moving averages: a row that turns slow drops within
/// a few samples.
pub const EWMA_ALPHA: f64 = 0.35;
const KEPT_SAMPLES: usize = 40;
/// A streamed answer is timed for throughput when it carried at least this many tokens…
pub const MIN_TIMED_TOKENS: u64 = 16;
/// …over at least this long after its first token. Short enough that the fastest providers
/// (hundreds of tokens a second) are measured from a probe's 32 tokens, not left to a prior.
pub const MIN_TIMED_GENERATION_MS: f64 = 10.0;

#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum SampleSource {
    Probe,
    Traffic,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum SampleOutcome {
    Success,
    /// The answer broke off or failed for a reason that counts against the row.
    Failure,
    RateLimited,
    Timeout,
    /// Dropped because a hedge answered first: `ttft_ms` is how long it had waited, a lower
    /// bound of its real time to first token.
    Overtaken,
}

#[derive(Debug, Clone)]
pub struct Sample {
    pub at: Instant,
    pub source: SampleSource,
    pub outcome: SampleOutcome,
    pub ttft_ms: Option<f64>,
    pub total_ms: Option<f64>,
    pub tokens: Option<u64>,
    pub status: Option<u16>,
}

#[derive(Debug, Clone, Default)]
pub struct RowStats {
    pub samples: VecDeque<Sample>,
    pub ttft_ewma: Option<f64>,
    pub tokens_per_second_ewma: Option<f64>,
    /// Smoothed failure rate, 0..1 (rate limits do not count: they are quota, not health).
    pub error_ewma: f64,
    pub last_traffic: Option<Instant>,
    pub last_probe: Option<Instant>,
    pub last_success: Option<Instant>,
    /// The 95th percentile of `samples`' successful TTFTs, kept current by `record` so that
    /// planning reads it without sorting.
    ttft_p95: Option<f64>,
    /// The 90th percentiles of successful TTFTs and of whole answers' times: how long a
    /// request waits before it is hedged (`forward::hedge`).
    ttft_p90: Option<f64>,
    total_p90: Option<f64>,
}

/// Whether a sample is one of those the TTFT p95 is taken over.
fn counts_for_p95(sample: &Sample) -> bool {
    sample.outcome == SampleOutcome::Success && sample.ttft_ms.is_some()
}

fn ewma(previous: Option<f64>, value: f64) -> f64 {
    match previous {
        Some(previous) => previous + EWMA_ALPHA * (value - previous),
        None => value,
    }
}

impl RowStats {
    pub fn record(&mut self, sample: Sample) {
        match sample.source {
            SampleSource::Probe => self.last_probe = Some(sample.at),
            SampleSource::Traffic => self.last_traffic = Some(sample.at),
        }
        match sample.outcome {
            SampleOutcome::Success => {
                self.last_success = Some(sample.at);
                self.error_ewma = ewma(Some(self.error_ewma), 0.0);
                if let Some(ttft) = sample.ttft_ms {
                    self.ttft_ewma = Some(ewma(self.ttft_ewma, ttft));
                }
                if let (Some(tokens), Some(total), Some(ttft)) =
                    (sample.tokens, sample.total_ms, sample.ttft_ms)
                {
                    let generating_ms = total - ttft;
                    if tokens >= MIN_TIMED_TOKENS && generating_ms >= MIN_TIMED_GENERATION_MS {
                        self.tokens_per_second_ewma = Some(ewma(
                            self.tokens_per_second_ewma,
                            tokens as f64 * 1000.0 / generating_ms,
                        ));
                    }
                }
            }
            SampleOutcome::Failure | SampleOutcome::Timeout => {
                self.error_ewma = ewma(Some(self.error_ewma), 1.0);
            }
            // The wait moves the average as a slow answer would; it stays out of the
            // percentiles (a censored value would feed the hedge delay back into itself).
            SampleOutcome::Overtaken => {
                if let Some(waited) = sample.ttft_ms {
                    self.ttft_ewma = Some(ewma(self.ttft_ewma, waited));
                }
            }
            SampleOutcome::RateLimited => {}
        }
        let mut ttfts_changed = counts_for_p95(&sample);
        if self.samples.len() == KEPT_SAMPLES {
            if let Some(dropped) = self.samples.pop_front() {
                ttfts_changed |= counts_for_p95(&dropped);
            }
        }
        self.samples.push_back(sample);
        if ttfts_changed {
            self.ttft_p95 = self.percentile(0.95, |s| s.ttft_ms);
            self.ttft_p90 = self.percentile(0.90, |s| s.ttft_ms);
            self.total_p90 = self.percentile(0.90, |s| s.total_ms);
        }
    }

    pub fn has_measurements(&self) -> bool {
        self.ttft_ewma.is_some()
    }

    /// The 95th percentile of recent successful TTFTs.
    pub fn ttft_p95(&self) -> Option<f64> {
        self.ttft_p95
    }

    /// The 90th percentile of recent successful TTFTs.
    pub fn ttft_p90(&self) -> Option<f64> {
        self.ttft_p90
    }

    /// The 90th percentile of recent successful answers' whole times.
    pub fn total_p90(&self) -> Option<f64> {
        self.total_p90
    }

    /// The `p` quantile (nearest rank) of one measure over recent successful samples.
    fn percentile(&self, p: f64, measure: impl Fn(&Sample) -> Option<f64>) -> Option<f64> {
        let mut values: Vec<f64> = self
            .samples
            .iter()
            .filter(|s| s.outcome == SampleOutcome::Success)
            .filter_map(measure)
            .collect();
        if values.is_empty() {
            return None;
        }
        values.sort_by(f64::total_cmp);
        let index = ((values.len() as f64) * p).ceil() as usize;
        values
            .get(index.saturating_sub(1).min(values.len() - 1))
            .copied()
    }

    /// Share of recent samples that succeeded (rate limits excluded), 0..1.
    pub fn uptime(&self) -> Option<f64> {
        let counted: Vec<_> = self
            .samples
            .iter()
            .filter(|s| {
                !matches!(
                    s.outcome,
                    SampleOutcome::RateLimited | SampleOutcome::Overtaken
                )
            })
            .collect();
        if counted.is_empty() {
            return None;
        }
        let ok = counted
            .iter()
            .filter(|s| s.outcome == SampleOutcome::Success)
            .count();
        Some(ok as f64 / counted.len() as f64)
    }

    /// The last time the row was used or probed.
    pub fn last_activity(&self) -> Option<Instant> {
        self.last_traffic.max(self.last_probe)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    fn ok(at: Instant, ttft: f64) -> Sample {
        Sample {
            at,
            source: SampleSource::Traffic,
            outcome: SampleOutcome::Success,
            ttft_ms: Some(ttft),
            total_ms: Some(ttft + 1000.0),
            tokens: Some(100),
            status: Some(200),
        }
    }

    #[test]
    fn a_row_that_turns_slow_shows_it_within_a_few_samples() {
        let now = Instant::now();
        let mut stats = RowStats::default();
        for _ in 0..10 {
            stats.record(ok(now, 300.0));
        }
        for _ in 0..3 {
            stats.record(ok(now, 3000.0));
        }
        assert!(stats.ttft_ewma.unwrap() > 2000.0, "{:?}", stats.ttft_ewma);
        assert!((stats.tokens_per_second_ewma.unwrap() - 100.0).abs() < 1.0);
    }

    #[test]
    fn a_fast_short_stream_is_timed_and_a_tiny_one_is_not() {
        let now = Instant::now();
        let mut stats = RowStats::default();
        let tiny = Sample {
            total_ms: Some(71.0),
            tokens: Some(3),
            ..ok(now, 60.0)
        };
        stats.record(tiny);
        assert_eq!(stats.tokens_per_second_ewma, None);
        let fast = Sample {
            total_ms: Some(76.0),
            tokens: Some(32),
            ..ok(now, 60.0)
        };
        stats.record(fast);
        assert_eq!(stats.tokens_per_second_ewma, Some(2000.0));
    }

    #[test]
    fn failures_raise_the_error_rate_and_successes_lower_it() {
        let now = Instant::now();
        let mut stats = RowStats::default();
        let failure = Sample {
            outcome: SampleOutcome::Failure,
            ttft_ms: None,
            total_ms: None,
            tokens: None,
            ..ok(now, 0.0)
        };
        stats.record(failure.clone());
        stats.record(failure);
        assert!(stats.error_ewma > 0.5);
        for _ in 0..6 {
            stats.record(ok(now, 100.0));
        }
        assert!(stats.error_ewma < 0.15);
        assert_eq!(stats.uptime(), Some(0.75));
    }

    #[test]
    fn p95_and_memory_are_bounded_to_recent_samples() {
        let now = Instant::now();
        let mut stats = RowStats::default();
        for i in 0..100 {
            stats.record(ok(now + Duration::from_millis(i), i as f64));
        }
        assert_eq!(stats.samples.len(), KEPT_SAMPLES);
        assert_eq!(
            stats.ttft_p95(),
            Some(97.0),
            "the 38th of the last 40 values, 60..=99"
        );
        assert_eq!(stats.ttft_p90(), Some(95.0), "the 36th of 60..=99");
        assert_eq!(stats.total_p90(), Some(1095.0));
        let overtaken = Sample {
            outcome: SampleOutcome::Overtaken,
            ..ok(now, 5_000.0)
        };
        stats.record(overtaken);
        assert_eq!(
            stats.ttft_p95(),
            Some(98.0),
            "the 38th of 61..=99 (the oldest left the window): a censored wait is no percentile"
        );
        assert!(
            stats.ttft_ewma.unwrap() > 1_000.0,
            "but it moves the average"
        );
        assert_eq!(stats.uptime(), Some(1.0));
        let limited = Sample {
            outcome: SampleOutcome::RateLimited,
            ..ok(now, 1.0)
        };
        let before = stats.error_ewma;
        stats.record(limited);
        assert_eq!(
            stats.error_ewma, before,
            "a rate limit is not a health failure"
        );
    }
}
