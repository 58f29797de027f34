//! `GET /metrics`: the router's counters and histograms in the Prometheus/OpenMetrics text
//! format, encoded by `prometheus-client`. Requests are counted once, when their log entry is
//! written (`observe`); circuit states, cool-downs and probe budgets are read from the engine
//! at scrape time. Labels are bounded: catalog groups, providers and rows, never a client's
//! `model` string.

use std::sync::atomic::AtomicU64;

use prometheus_client::encoding::text::encode;
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{exponential_buckets, Histogram};
use prometheus_client::registry::{Registry, Unit};
use tokio::time::Instant;

use crate::engine::catalog::Catalog;
use crate::engine::config::Settings;
use crate::engine::credentials::Credentials;
use crate::engine::health::Admission;
use crate::engine::health::HealthBook;
use crate::engine::providers::AuthMode;
use crate::engine::requestlog::LogEntry;

/// The content type `render`'s text is served with.
pub const CONTENT_TYPE: &str = "application/openmetrics-text; version=1.0.0; charset=utf-8";

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RequestLabels {
    group: String,
    provider: String,
    model: String,
    status: String,
    outcome: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct AttemptLabels {
    provider: String,
    model: String,
    status: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RowLabels {
    provider: String,
    model: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ProviderLabels {
    provider: String,
}

type Histograms = Family<RowLabels, Histogram, fn() -> Histogram>;

/// 50 ms … ~51 s.
fn ttft_histogram() -> Histogram {
    Histogram::new(exponential_buckets(0.05, 2.0, 11))
}

/// 100 ms … ~205 s.
fn total_histogram() -> Histogram {
    Histogram::new(exponential_buckets(0.1, 2.0, 12))
}

/// What the gauges are read from at a scrape: the engine's settings, catalog, keys and health.
#[derive(Clone, Copy)]
pub struct Gauged<'a> {
    pub settings: &'a Settings,
    pub catalog: &'a Catalog,
    pub credentials: &'a Credentials,
    pub health: &'a HealthBook,
}

pub struct Metrics {
    registry: Registry,
    requests: Family<RequestLabels, Counter>,
    attempts: Family<AttemptLabels, Counter>,
    failovers: Counter,
    ttft: Histograms,
    total: Histograms,
    tokens: Family<RowLabels, Counter>,
    rate_limited: Family<ProviderLabels, Counter>,
    probes: Family<ProviderLabels, Counter>,
    probe_budget: Family<ProviderLabels, Gauge<f64, AtomicU64>>,
    circuit: Family<RowLabels, Gauge>,
    cooling: Family<ProviderLabels, Gauge>,
}

impl std::fmt::Debug for Metrics {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Metrics")
    }
}

impl Default for Metrics {
    fn default() -> Self {
        let mut registry = Registry::with_prefix("modelrelay");
        let requests = Family::<RequestLabels, Counter>::default();
        let attempts = Family::<AttemptLabels, Counter>::default();
        let failovers = Counter::default();
        let ttft: Histograms = Family::new_with_constructor(ttft_histogram);
        let total: Histograms = Family::new_with_constructor(total_histogram);
        let tokens = Family::<RowLabels, Counter>::default();
        let rate_limited = Family::<ProviderLabels, Counter>::default();
        let probes = Family::<ProviderLabels, Counter>::default();
        let probe_budget = Family::<ProviderLabels, Gauge<f64, AtomicU64>>::default();
        let circuit = Family::<RowLabels, Gauge>::default();
        let cooling = Family::<ProviderLabels, Gauge>::default();
        registry.register(
            "requests",
            "Requests answered, by serving group, provider and model, HTTP status and outcome",
            requests.clone(),
        );
        registry.register(
            "attempts",
            "Upstream attempts made for requests, by row and upstream status (none: no answer)",
            attempts.clone(),
        );
        registry.register(
            "failovers",
            "Attempts beyond the first within one request",
            failovers.clone(),
        );
        registry.register_with_unit(
            "ttft",
            "Time to the first chunk of the answer that was served, by row",
            Unit::Seconds,
            ttft.clone(),
        );
        registry.register_with_unit(
            "request_duration",
            "Total time of requests, by serving row",
            Unit::Seconds,
            total.clone(),
        );
        registry.register(
            "completion_tokens",
            "Completion tokens the served answers reported, by row",
            tokens.clone(),
        );
        registry.register(
            "rate_limited",
            "429 answers drawn by request attempts, by provider",
            rate_limited.clone(),
        );
        registry.register("probes", "Health probes sent, by provider", probes.clone());
        registry.register(
            "probe_budget_per_day",
            "Probes a provider may be sent per day (its budget)",
            probe_budget.clone(),
        );
        registry.register(
            "circuit_state",
            "Rows whose circuit breaker is not closed: 1 open (refusing), 2 one trial request allowed",
            circuit.clone(),
        );
        registry.register(
            "rows_cooling",
            "Rows skipped right now because their quota is spent (a rate-limit cool-down)",
            cooling.clone(),
        );
        Self {
            registry,
            requests,
            attempts,
            failovers,
            ttft,
            total,
            tokens,
            rate_limited,
            probes,
            probe_budget,
            circuit,
            cooling,
        }
    }
}

fn status_label(status: Option<u16>) -> String {
    status.map_or_else(|| "none".to_string(), |s| s.to_string())
}

impl Metrics {
    /// Counts one finished request (and its attempts) from its log entry.
    pub fn observe(&self, entry: &LogEntry) {
        let provider = entry.provider.clone().unwrap_or_default();
        let model = entry.upstream_model.clone().unwrap_or_default();
        let group = entry.group.clone().unwrap_or_default();
        self.requests
            .get_or_create(&RequestLabels {
                group,
                provider: provider.clone(),
                model: model.clone(),
                status: entry.status.to_string(),
                outcome: entry.outcome.clone(),
            })
            .inc();
        for attempt in &entry.attempts {
            self.attempts
                .get_or_create(&AttemptLabels {
                    provider: attempt.provider.clone(),
                    model: attempt.model.clone(),
                    status: status_label(attempt.status),
                })
                .inc();
            if attempt.status == Some(429) {
                self.rate_limited
                    .get_or_create(&ProviderLabels {
                        provider: attempt.provider.clone(),
                    })
                    .inc();
            }
        }
        if entry.attempts.len() > 1 {
            self.failovers.inc_by(entry.attempts.len() as u64 - 1);
        }
        if entry.provider.is_none() {
            return;
        }
        let row = RowLabels { provider, model };
        if let Some(ttft) = entry.ttft_ms {
            self.ttft.get_or_create(&row).observe(ttft as f64 / 1000.0);
        }
        self.total
            .get_or_create(&row)
            .observe(entry.duration_ms as f64 / 1000.0);
        if let Some(tokens) = entry.tokens {
            self.tokens.get_or_create(&row).inc_by(tokens);
        }
    }

    /// Counts one health probe sent to `provider`.
    pub fn probe(&self, provider: &str) {
        self.probes
            .get_or_create(&ProviderLabels {
                provider: provider.to_string(),
            })
            .inc();
    }

    /// The text a scrape receives, with the gauges read from the engine now.
    pub fn render(&self, engine: Gauged<'_>) -> Result<String, std::fmt::Error> {
        self.read_gauges(engine, Instant::now());
        let mut text = String::new();
        encode(&mut text, &self.registry)?;
        Ok(text)
    }

    fn read_gauges(&self, engine: Gauged<'_>, now: Instant) {
        let Gauged {
            settings,
            catalog,
            credentials,
            health,
        } = engine;
        self.circuit.clear();
        self.cooling.clear();
        self.probe_budget.clear();
        for provider in catalog.providers.iter().filter(|p| {
            p.enabled && (p.auth == AuthMode::Optional || credentials.has_key(settings, &p.key))
        }) {
            let labels = ProviderLabels {
                provider: provider.key.clone(),
            };
            self.probe_budget
                .get_or_create(&labels)
                .set(provider.limits.daily_probe_budget());
            self.cooling.get_or_create(&labels).set(0);
        }
        let reader = health.reader();
        for row in catalog.rows.iter() {
            let condition = reader.condition(row, now);
            if condition.cooling(now).is_some() {
                self.cooling
                    .get_or_create(&ProviderLabels {
                        provider: row.provider.key.clone(),
                    })
                    .inc();
            }
            let value = match condition.admission {
                Admission::Yes => continue,
                Admission::No => 1,
                Admission::Trial => 2,
            };
            self.circuit
                .get_or_create(&RowLabels {
                    provider: row.provider.key.clone(),
                    model: row.upstream_id.clone(),
                })
                .set(value);
        }
    }
}
