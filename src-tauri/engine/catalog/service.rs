//! Keeps the published catalog current: rebuilds it when settings change and runs discovery
//! on each provider's schedule (TTL after a success, a short retry after a failure).

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures_util::future::join_all;
use tokio::sync::watch;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use crate::engine::config::{EnvOverrides, Settings};
use crate::engine::credentials::Credentials;
use crate::engine::health::ratelimit::parse_duration;
use crate::engine::providers::builtin::BuiltinCatalog;
use crate::engine::providers::discovery::{discover, DiscoveryError, ModelListing};
use crate::engine::providers::headers::ClientIdentity;
use crate::engine::providers::{AuthMode, DiscoveryKind, Provider};
use crate::engine::requestlog::unix_ms;

use super::{build_catalog, Catalog};

/// Retry a failed discovery after this long instead of the full TTL.
pub const FAILED_DISCOVERY_RETRY: Duration = Duration::from_secs(120);
/// How often a provider's model list is read (each provider's `discovery_ttl_minutes` in
/// `providers.toml` says 360); the longest a provider's `Retry-After` defers it.
pub const DISCOVERY_INTERVAL: Duration = Duration::from_secs(6 * 3600);
const SCHEDULER_TICK: Duration = Duration::from_secs(30);

#[derive(Debug, Clone, Default)]
struct DiscoveryRecord {
    listing: ModelListing,
    last_success: Option<Instant>,
    last_attempt: Option<Instant>,
    last_error: Option<String>,
    /// The provider asked for no request before then (a 429 with `Retry-After`).
    not_before: Option<Instant>,
}

/// When a failed discovery may run again: after the provider's own `Retry-After` if it said
/// one (a model list is a request against its budget too), never sooner than the short retry.
fn retry_at(error: &DiscoveryError, now: Instant) -> Option<Instant> {
    match error {
        DiscoveryError::Status {
            retry_after: Some(text),
            ..
        } => parse_duration(text)
            .map(|wait| now + wait.max(FAILED_DISCOVERY_RETRY).min(DISCOVERY_INTERVAL)),
        _ => None,
    }
}

/// Why the catalog could not do what it was asked.
#[derive(Debug, Clone, thiserror::Error)]
pub enum CatalogError {
    #[error("no provider `{0}` in the catalog: use a key that `GET /api/providers` lists, or add the provider to the config first")]
    UnknownProvider(String),
    /// The provider's own answer, as the UI shows it (it names the URL that failed).
    #[error(transparent)]
    Discovery(#[from] DiscoveryError),
}

/// Discovery state of one provider, for the UI and `status`.
#[derive(Debug, Clone, PartialEq)]
pub struct DiscoveryStatus {
    pub provider: String,
    pub models: usize,
    pub last_error: Option<String>,
}

/// Pure: is a discovery of this provider due at `now`?
fn discovery_due(record: Option<&DiscoveryRecord>, ttl: Duration, now: Instant) -> bool {
    let Some(record) = record else { return true };
    if record.not_before.is_some_and(|at| now < at) {
        return false;
    }
    match (record.last_attempt, record.last_error.is_some()) {
        (None, _) => true,
        (Some(attempt), true) => now.duration_since(attempt) >= FAILED_DISCOVERY_RETRY,
        (Some(_), false) => record
            .last_success
            .is_none_or(|success| now.duration_since(success) >= ttl),
    }
}

pub struct CatalogService {
    builtin: Arc<BuiltinCatalog>,
    identity: ClientIdentity,
    settings: watch::Receiver<Arc<Settings>>,
    env: EnvOverrides,
    credentials: Arc<Credentials>,
    http: reqwest::Client,
    records: Mutex<BTreeMap<String, DiscoveryRecord>>,
    published: watch::Sender<Arc<Catalog>>,
}

impl CatalogService {
    pub fn new(
        builtin: Arc<BuiltinCatalog>,
        identity: ClientIdentity,
        settings: watch::Receiver<Arc<Settings>>,
        env: EnvOverrides,
        credentials: Arc<Credentials>,
        http: reqwest::Client,
    ) -> Arc<Self> {
        let (published, _) = watch::channel(Arc::new(Catalog::default()));
        let service = Arc::new(Self {
            builtin,
            identity,
            settings,
            env,
            credentials,
            http,
            records: Mutex::default(),
            published,
        });
        service.rebuild();
        service
    }

    pub fn subscribe(&self) -> watch::Receiver<Arc<Catalog>> {
        self.published.subscribe()
    }

    pub fn current(&self) -> Arc<Catalog> {
        self.published.borrow().clone()
    }

    /// Publishes a new snapshot from the current settings and discovery results.
    pub fn rebuild(&self) {
        let settings = self.settings.borrow().clone();
        let discovered: BTreeMap<String, ModelListing> = self
            .lock_records()
            .iter()
            .map(|(key, record)| (key.clone(), record.listing.clone()))
            .collect();
        let catalog = build_catalog(&self.builtin, &settings, &self.env, &discovered);
        self.published.send_replace(Arc::new(catalog));
    }

    pub fn discovery_status(&self) -> Vec<DiscoveryStatus> {
        self.lock_records()
            .iter()
            .map(|(key, record)| DiscoveryStatus {
                provider: key.clone(),
                models: record.listing.models.len(),
                last_error: record.last_error.clone(),
            })
            .collect()
    }

    fn lock_records(&self) -> std::sync::MutexGuard<'_, BTreeMap<String, DiscoveryRecord>> {
        self.records.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Runs discovery for every provider that is due (or all of them when `force`), then
    /// publishes the new catalog. Disabled providers and those needing a missing key are skipped.
    pub async fn refresh(&self, force: bool) {
        let now = Instant::now();
        let settings = self.settings.borrow().clone();
        let due: Vec<Arc<Provider>> = {
            let records = self.lock_records();
            self.current()
                .providers
                .iter()
                .filter(|p| p.enabled && p.discovery != DiscoveryKind::None)
                .filter(|p| {
                    p.auth == AuthMode::Optional || self.credentials.has_key(&settings, &p.key)
                })
                .filter(|p| {
                    force
                        || discovery_due(
                            records.get(&p.key),
                            Duration::from_secs(p.discovery_ttl_minutes * 60),
                            now,
                        )
                })
                .cloned()
                .collect()
        };
        if due.is_empty() {
            return;
        }
        let results = join_all(due.iter().map(|provider| {
            let key = self.credentials.peek_key(&settings, &provider.key);
            let http = self.http.clone();
            let identity = &self.identity;
            async move { discover(&http, provider, key.as_ref(), identity).await }
        }))
        .await;
        {
            let mut records = self.lock_records();
            for (provider, result) in due.iter().zip(results) {
                let record = records.entry(provider.key.clone()).or_default();
                record.last_attempt = Some(now);
                match result {
                    Ok(models) => {
                        record.not_before = None;
                        record.listing.update(models, unix_ms());
                        record.last_success = Some(now);
                        record.last_error = None;
                    }
                    Err(error) => {
                        tracing::warn!(provider = %provider.key, "model discovery failed: {error}");
                        record.not_before = retry_at(&error, now);
                        record.last_error = Some(error.to_string());
                    }
                }
            }
        }
        self.rebuild();
    }

    /// Runs discovery for one provider now; returns how many models it listed.
    pub async fn refresh_provider(&self, key: &str) -> Result<usize, CatalogError> {
        let provider = self
            .current()
            .provider(key)
            .cloned()
            .ok_or_else(|| CatalogError::UnknownProvider(key.to_string()))?;
        if provider.discovery == DiscoveryKind::None {
            return Ok(self
                .current()
                .rows
                .iter()
                .filter(|r| r.provider.key == key)
                .count());
        }
        let settings = self.settings.borrow().clone();
        let api_key = self.credentials.peek_key(&settings, key);
        let result = discover(&self.http, &provider, api_key.as_ref(), &self.identity).await;
        let now = Instant::now();
        let outcome = {
            let mut records = self.lock_records();
            let record = records.entry(key.to_string()).or_default();
            record.last_attempt = Some(now);
            match result {
                Ok(models) => {
                    let count = models.len();
                    record.not_before = None;
                    record.listing.update(models, unix_ms());
                    record.last_success = Some(now);
                    record.last_error = None;
                    Ok(count)
                }
                Err(error) => {
                    record.not_before = retry_at(&error, now);
                    record.last_error = Some(error.to_string());
                    Err(error.into())
                }
            }
        };
        self.rebuild();
        outcome
    }

    /// The background loop: discovery on schedule, rebuild on every settings change.
    pub async fn run(self: Arc<Self>, shutdown: CancellationToken) {
        let mut settings = self.settings.clone();
        let mut tick = tokio::time::interval(SCHEDULER_TICK);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                () = shutdown.cancelled() => return,
                _ = tick.tick() => self.refresh(false).await,
                changed = settings.changed() => {
                    if changed.is_err() {
                        return;
                    }
                    self.rebuild();
                    self.refresh(false).await;
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn discovery_schedule_follows_ttl_and_failure_retry() {
        let ttl = Duration::from_secs(1800);
        let start = Instant::now();
        assert!(discovery_due(None, ttl, start));
        let ok = DiscoveryRecord {
            last_success: Some(start),
            last_attempt: Some(start),
            ..Default::default()
        };
        assert!(!discovery_due(
            Some(&ok),
            ttl,
            start + Duration::from_secs(1799)
        ));
        assert!(discovery_due(Some(&ok), ttl, start + ttl));
        let failed = DiscoveryRecord {
            last_attempt: Some(start),
            last_error: Some("boom".into()),
            ..Default::default()
        };
        assert!(!discovery_due(
            Some(&failed),
            ttl,
            start + Duration::from_secs(119)
        ));
        assert!(discovery_due(
            Some(&failed),
            ttl,
            start + FAILED_DISCOVERY_RETRY
        ));
    }

    #[test]
    fn a_provider_that_answered_429_is_not_asked_again_before_its_retry_after() {
        let start = Instant::now();
        let limited = DiscoveryError::Status {
            url: "u".into(),
            status: 429,
            retry_after: Some("600".into()),
        };
        let not_before = retry_at(&limited, start);
        assert_eq!(not_before, Some(start + Duration::from_secs(600)));
        let record = DiscoveryRecord {
            last_attempt: Some(start),
            last_error: Some("429".into()),
            not_before,
            ..Default::default()
        };
        let ttl = DISCOVERY_INTERVAL;
        assert!(!discovery_due(
            Some(&record),
            ttl,
            start + Duration::from_secs(599)
        ));
        assert!(discovery_due(
            Some(&record),
            ttl,
            start + Duration::from_secs(600)
        ));
        let unreachable = DiscoveryError::Unreachable {
            url: "u".into(),
            reason: "refused".into(),
        };
        assert_eq!(retry_at(&unreachable, start), None);
    }
}
