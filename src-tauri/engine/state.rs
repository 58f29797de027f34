//! `AppState`: everything a request handler may use, injected (never global), so several
//! engines can run in one process.

use std::sync::Arc;
use std::time::Instant;

use crate::engine::catalog::CatalogService;
use crate::engine::config::ConfigStore;
use crate::engine::credentials::Credentials;
use crate::engine::health::HealthBook;
use crate::engine::providers::headers::ClientIdentity;
use crate::engine::requestlog::RequestLog;

pub struct AppState {
    pub config: Arc<ConfigStore>,
    pub catalog: Arc<CatalogService>,
    pub credentials: Arc<Credentials>,
    pub health: Arc<HealthBook>,
    pub log: Arc<RequestLog>,
    pub http: reqwest::Client,
    /// Who this router says it is to providers that ask (OpenCode Zen).
    pub identity: ClientIdentity,
    /// `--ban` entries for this run only.
    pub cli_bans: Vec<String>,
    /// `--log`: log each request's messages (truncated) with its routing decision.
    pub log_requests: bool,
    pub started_at: Instant,
    /// Start time in Unix seconds, the `created` of `/v1/models` entries.
    pub started_unix: u64,
}
