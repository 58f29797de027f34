//! `AppState`: everything a request handler may use, injected (never global), so several
//! engines can run in one process.

use crate::engine::providers::kiro::auth::KiroAuth;
use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Instant;

use tokio_util::task::TaskTracker;

use crate::engine::access::AccessPolicy;
use crate::engine::catalog::CatalogService;
use crate::engine::config::ConfigStore;
use crate::engine::credentials::Credentials;
use crate::engine::health::{HealthBook, HedgeLedger, Pacer};
use crate::engine::providers::builtin::BuiltinCatalog;
use crate::engine::providers::headers::ClientIdentity;
use crate::engine::requestlog::RequestLog;
use crate::engine::shared::SharedState;

pub struct AppState {
    pub config: Arc<ConfigStore>,
    pub catalog: Arc<CatalogService>,
    pub credentials: Arc<Credentials>,
    pub health: Arc<HealthBook>,
    /// Per-minute windows of every provider key (traffic and probes alike).
    pub pacer: Arc<Pacer>,
    /// Each provider's requests, hedges and hedge spend.
    pub hedges: Arc<HedgeLedger>,
    pub log: Arc<RequestLog>,
    /// Team mode: the link to the Redis routers share state through (`SharedState::off()`
    /// when none is configured).
    pub shared: Arc<SharedState>,
    /// What `GET /metrics` reports.
    pub metrics: Arc<crate::engine::metrics::Metrics>,
    pub http: reqwest::Client,
    /// Who this router says it is to providers that ask (OpenCode Zen).
    pub identity: ClientIdentity,
    /// Kiro's access-token cache.
    pub kiro: Arc<KiroAuth>,
    /// `--ban` entries for this run only.
    pub cli_bans: Vec<String>,
    /// `--log`: log each request's messages (truncated) with its routing decision.
    pub log_requests: bool,
    pub started_at: Instant,
    /// Start time in Unix seconds, the `created` of `/v1/models` entries.
    pub started_unix: u64,
    /// The address the router listens on.
    pub bind: SocketAddr,
    /// The user's home (`HOME` of the engine's environment), where agents keep their configs.
    pub home: Option<std::path::PathBuf>,
    /// Who may use the page and `/api`.
    pub access: AccessPolicy,
    pub builtin: Arc<BuiltinCatalog>,
    /// Cancelled when the engine stops; long-lived responses (live events) end with it.
    pub shutdown: tokio_util::sync::CancellationToken,
    /// Every task the engine runs, so `RunningEngine` can wait for them at shutdown. Spawn
    /// through it (or `spawn`), never with `tokio::spawn`: clippy refuses that.
    pub tasks: TaskTracker,
}

impl AppState {
    /// Runs `task` as one of the engine's tasks, dropped at its next await once shutdown starts.
    /// For work that is pointless after the engine stops (discovery, probes, refreshes).
    pub fn spawn(&self, task: impl Future<Output = ()> + Send + 'static) {
        let shutdown = self.shutdown.clone();
        self.tasks.spawn(async move {
            tokio::select! {
                () = shutdown.cancelled() => {}
                () = task => {}
            }
        });
    }

    /// `host:port` clients should use: loopback unless bound to one specific other address.
    pub fn public_host(&self) -> String {
        let port = self.bind.port();
        match self.bind.ip() {
            ip if ip.is_loopback() || ip.is_unspecified() => format!("127.0.0.1:{port}"),
            std::net::IpAddr::V4(v4) => format!("{v4}:{port}"),
            std::net::IpAddr::V6(v6) => format!("[{v6}]:{port}"),
        }
    }
}
