//! Team mode: routers that name the same Redis (`sharedState.redisUrl`) share what they learn
//! — rate-limit cooldowns per key, circuits and their trials, row numbers, key turns, probe
//! leases — so N routers behave like one. Requests never wait on Redis: they read the local
//! health book and key pools, which `mirror` keeps up to date from what `link` hears; writes
//! go out from `link`'s task. Redis down: routing goes on with local state. Off by default.

pub mod entry;
mod link;
pub mod mirror;
pub mod target;

use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use redis::aio::ConnectionManager;
use serde_json::{json, Value};
use tokio::sync::mpsc;

use tokio_util::sync::CancellationToken;

use crate::engine::config::ConfigStore;
use crate::engine::credentials::Credentials;
use crate::engine::health::{HealthBook, Pacer};

pub use entry::{Envelope, KeyHash, SharedEntry};
pub use mirror::Mirror;
pub use target::{RedisTarget, TargetError};

/// How long a probe lease request may take before the probe goes ahead without one.
const LEASE_TIMEOUT: Duration = Duration::from_secs(1);

/// The link's state as `/health`, `/api/meta` and the page show it.
#[derive(Debug, Clone, Default)]
struct LinkStatus {
    connected: bool,
    /// Unix seconds of the last change between connected and not.
    since: Option<u64>,
    last_error: Option<String>,
}

/// One engine's part in a team: its id, the link's status and, while connected, the
/// connection probe leases are taken on. `off()` when no Redis is configured.
pub struct SharedState {
    target: Option<RedisTarget>,
    router: String,
    status: Mutex<LinkStatus>,
    connection: Mutex<Option<ConnectionManager>>,
    mirror: Mutex<Option<Arc<Mirror>>>,
}

fn unix_seconds() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

impl SharedState {
    pub fn off() -> Self {
        Self::new(None)
    }

    pub fn new(target: Option<RedisTarget>) -> Self {
        Self {
            target,
            router: uuid::Uuid::new_v4().simple().to_string(),
            status: Mutex::default(),
            connection: Mutex::default(),
            mirror: Mutex::default(),
        }
    }

    pub fn enabled(&self) -> bool {
        self.target.is_some()
    }

    /// This router's id in the team.
    pub fn router_id(&self) -> &str {
        &self.router
    }

    fn lock_status(&self) -> std::sync::MutexGuard<'_, LinkStatus> {
        self.status.lock().unwrap_or_else(|e| e.into_inner())
    }

    pub fn is_connected(&self) -> bool {
        self.lock_status().connected
    }

    /// How many entries of `kind` (`cooldown`, `keyCooling`, `turn`, `circuit`, `health`)
    /// from peers this router applied.
    pub fn applied(&self, kind: &str) -> u64 {
        self.mirror
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .as_ref()
            .map_or(0, |m| m.applied(kind))
    }

    /// `{"enabled", "connected", "url" (never with its password), "namespace", "since",
    /// "lastError"}`.
    pub fn view(&self) -> Value {
        let Some(target) = &self.target else {
            return json!({"enabled": false, "connected": false});
        };
        let status = self.lock_status().clone();
        json!({
            "enabled": true,
            "connected": status.connected,
            "url": target.shown,
            "namespace": target.namespace,
            "since": status.since,
            "lastError": status.last_error,
        })
    }

    fn connection(&self) -> Option<ConnectionManager> {
        self.connection
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    fn set_connected(&self, connection: ConnectionManager) {
        *self.connection.lock().unwrap_or_else(|e| e.into_inner()) = Some(connection);
        let mut status = self.lock_status();
        status.connected = true;
        status.since = Some(unix_seconds());
        drop(status);
        if let Some(target) = &self.target {
            tracing::info!(
                "shared state: connected to Redis at {} (namespace `{}`)",
                target.shown,
                target.namespace
            );
        }
    }

    /// The link failed (to connect, or while connected): local-only routing from now on.
    /// One warning when the team is lost (or never reached); the reconnection attempts that
    /// follow are quiet, except a refused login that was not the last failure.
    fn set_failed(&self, error: String) {
        *self.connection.lock().unwrap_or_else(|e| e.into_inner()) = None;
        let mut status = self.lock_status();
        let lost = status.connected || status.since.is_none();
        if lost {
            status.since = Some(unix_seconds());
        }
        status.connected = false;
        let new_login_refusal = error.contains(link::LOGIN_REFUSED)
            && status.last_error.as_deref() != Some(error.as_str());
        status.last_error = Some(error.clone());
        drop(status);
        if !lost && !new_login_refusal {
            tracing::debug!("shared state: {error}");
        } else {
            tracing::warn!(
                "shared state: {error}; routing goes on with this router's own state, reconnecting in the background"
            );
        }
    }

    /// Takes the lease to probe a row for `ttl`; `false` when another router of the team holds
    /// it. Without a connection (or when Redis does not answer in time) the probe goes ahead.
    pub async fn claim_probe(&self, provider: &str, model: &str, ttl: Duration) -> bool {
        let (Some(target), Some(mut connection)) = (&self.target, self.connection()) else {
            return true;
        };
        let key = entry::Names::new(&target.namespace).probe_lease(provider, model);
        let ttl_ms = u64::try_from(ttl.as_millis()).unwrap_or(u64::MAX).max(1);
        let mut command = redis::cmd("SET");
        command
            .arg(&key)
            .arg(&self.router)
            .arg("NX")
            .arg("PX")
            .arg(ttl_ms);
        let set = command.query_async::<Option<String>>(&mut connection);
        match tokio::time::timeout(LEASE_TIMEOUT, set).await {
            Ok(Ok(reply)) => reply.is_some(),
            Ok(Err(error)) => {
                tracing::debug!("shared state: probe lease not taken ({error}); probing anyway");
                true
            }
            Err(_) => true,
        }
    }
}

/// Joins the team, if one is configured: the health book and key pools report what they
/// learn from now on, and the returned link task (the caller runs it on `AppState::tasks`)
/// connects, listens and writes until `shutdown`.
pub fn start(
    shared: &Arc<SharedState>,
    health: &Arc<HealthBook>,
    credentials: &Arc<Credentials>,
    config: &Arc<ConfigStore>,
    pacer: &Arc<Pacer>,
    shutdown: CancellationToken,
) -> Option<impl std::future::Future<Output = ()> + Send + 'static> {
    let target = shared.target.as_ref()?;
    let mirror = Arc::new(Mirror::new(
        shared.router.clone(),
        health.clone(),
        credentials.clone(),
        config.clone(),
        pacer.clone(),
    ));
    *shared.mirror.lock().unwrap_or_else(|e| e.into_inner()) = Some(mirror.clone());
    let (book_tx, book_rx) = mpsc::unbounded_channel();
    let (keys_tx, keys_rx) = mpsc::unbounded_channel();
    let (paces_tx, paces_rx) = mpsc::unbounded_channel();
    health.share_with(book_tx);
    credentials.share_with(keys_tx);
    pacer.share_with(paces_tx);
    if target.shown.starts_with("rediss:") {
        // redis' TLS takes rustls' process-wide provider; one may already be installed.
        let _ = rustls::crypto::aws_lc_rs::default_provider().install_default();
    }
    tracing::info!(
        "shared state: joining the team at {} (namespace `{}`)",
        target.shown,
        target.namespace
    );
    let link = link::Link {
        shared: shared.clone(),
        mirror,
        book: book_rx,
        keys: keys_rx,
        paces: paces_rx,
    };
    Some(link.run(shutdown))
}

#[cfg(test)]
mod tests {
    use super::*;
    use secrecy::SecretString;
    use std::io::Write;

    #[derive(Clone, Default)]
    struct Capture(Arc<Mutex<Vec<u8>>>);

    impl Write for Capture {
        fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(bytes);
            Ok(bytes.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    fn shared() -> SharedState {
        SharedState::new(Some(RedisTarget {
            url: SecretString::from("redis://:pw-in-url@127.0.0.1:1/0".to_string()),
            shown: "redis://127.0.0.1:1/0".into(),
            namespace: "team".into(),
        }))
    }

    #[test]
    fn losing_redis_is_one_warning_and_a_refused_login_one_more() {
        let capture = Capture::default();
        let writer = capture.clone();
        let subscriber = tracing_subscriber::fmt()
            .with_writer(move || writer.clone())
            .with_max_level(tracing::Level::WARN)
            .with_ansi(false)
            .finish();
        let shared = shared();
        tracing::subscriber::with_default(subscriber, || {
            for _ in 0..3 {
                shared.set_failed("Redis at redis://127.0.0.1:1/0 refused the connection".into());
            }
            let refused = format!(
                "Redis at redis://127.0.0.1:1/0 {} (WRONGPASS)",
                link::LOGIN_REFUSED
            );
            shared.set_failed(refused.clone());
            shared.set_failed(refused);
        });
        let text = String::from_utf8(capture.0.lock().unwrap().clone()).unwrap();
        let warnings: Vec<&str> = text.lines().filter(|l| l.contains("WARN")).collect();
        assert_eq!(warnings.len(), 2, "{text}");
        assert!(warnings[0].contains("refused the connection"), "{text}");
        assert!(warnings[1].contains("refused the login"), "{text}");
        assert!(!text.contains("pw-in-url"));
        let view = shared.view();
        assert_eq!(view["connected"], false);
        assert_eq!(view["url"], "redis://127.0.0.1:1/0");
        assert!(view["since"].is_u64());
    }

    #[test]
    fn off_is_reported_as_such() {
        let off = SharedState::off();
        assert!(!off.enabled());
        assert_eq!(off.view(), json!({"enabled": false, "connected": false}));
    }
}
