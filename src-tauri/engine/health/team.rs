//! What the other routers of a team report about a row, and how their reports merge with this
//! router's own measurements. Pure: `engine::shared` carries the reports, the book keeps them.

use tokio::time::Instant;

use super::stats::RowStats;

/// One router's own view of a row: its moving averages and how many samples they rest on.
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RowSummary {
    pub ttft_ms: Option<f64>,
    pub tokens_per_second: Option<f64>,
    pub error_rate: f64,
    pub samples: u32,
}

impl RowSummary {
    /// This router's own numbers for a row (never what peers told it, so nothing echoes).
    pub fn of(stats: &RowStats) -> Self {
        Self {
            ttft_ms: stats.ttft_ewma,
            tokens_per_second: stats.tokens_per_second_ewma,
            error_rate: stats.error_ewma,
            samples: u32::try_from(stats.samples.len()).unwrap_or(u32::MAX),
        }
    }
}

/// A peer's summary as received, kept until it expires.
#[derive(Debug, Clone)]
pub struct PeerSummary {
    pub router: String,
    pub summary: RowSummary,
    pub expires: Instant,
}

/// Every router's numbers weighed by the samples behind them. A router with no samples adds
/// nothing; with no samples anywhere, the local summary stands.
pub fn merge<'a>(local: RowSummary, peers: impl Iterator<Item = &'a RowSummary>) -> RowSummary {
    let all: Vec<RowSummary> = std::iter::once(local)
        .chain(peers.copied())
        .filter(|s| s.samples > 0)
        .collect();
    let weighted = |value: &dyn Fn(&RowSummary) -> Option<f64>| {
        let (sum, weight) = all
            .iter()
            .filter_map(|s| value(s).map(|v| (v * f64::from(s.samples), f64::from(s.samples))))
            .fold((0.0, 0.0), |(a, b), (v, w)| (a + v, b + w));
        (weight > 0.0).then(|| sum / weight)
    };
    let samples = all
        .iter()
        .map(|s| s.samples)
        .fold(0u32, u32::saturating_add);
    if samples == 0 {
        return local;
    }
    RowSummary {
        ttft_ms: weighted(&|s| s.ttft_ms),
        tokens_per_second: weighted(&|s| s.tokens_per_second),
        error_rate: weighted(&|s| Some(s.error_rate)).unwrap_or(local.error_rate),
        samples,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn summary(ttft: Option<f64>, error_rate: f64, samples: u32) -> RowSummary {
        RowSummary {
            ttft_ms: ttft,
            tokens_per_second: None,
            error_rate,
            samples,
        }
    }

    #[test]
    fn peers_weigh_by_the_samples_behind_their_numbers() {
        let local = summary(Some(100.0), 0.0, 1);
        let peer = summary(Some(400.0), 0.5, 3);
        let merged = merge(local, [peer].iter());
        assert_eq!(merged.ttft_ms, Some(325.0));
        assert_eq!(merged.error_rate, 0.375);
        assert_eq!(merged.samples, 4);
    }

    #[test]
    fn a_row_measured_only_by_a_peer_gets_the_peers_numbers() {
        let local = summary(None, 0.0, 0);
        let peer = summary(Some(250.0), 0.1, 2);
        let merged = merge(local, [peer].iter());
        assert_eq!(merged.ttft_ms, Some(250.0));
        assert_eq!(merged.error_rate, 0.1);
    }

    #[test]
    fn with_no_samples_anywhere_the_local_summary_stands() {
        let local = summary(None, 0.0, 0);
        assert_eq!(merge(local, [summary(None, 0.0, 0)].iter()), local);
    }
}
