//! Starting and stopping an engine: load config, build state, bind, serve, and own every
//! background task until shutdown. The headless binary and the desktop shell both use this.

use crate::engine::providers::kiro::auth::KiroAuth;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use tokio::net::TcpListener;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use crate::engine::access::{new_token, AccessPolicy};
use crate::engine::catalog::CatalogService;
use crate::engine::config::{ConfigError, ConfigFile, ConfigStore, EnvOverrides, EnvSource};
use crate::engine::credentials::Credentials;
use crate::engine::health::HealthBook;
use crate::engine::http;
use crate::engine::http::connections::ConnectionLimits;
use crate::engine::prober::Prober;
use crate::engine::providers::builtin::{BuiltinCatalog, CatalogDataError};
use crate::engine::providers::headers::ClientIdentity;
use crate::engine::providers::Flavor;
use crate::engine::requestlog::RequestLog;
use crate::engine::secrets::{
    default_store, known_accounts, migrate_keys_out_of_config, SecretStore,
};
use crate::engine::shared::{self, SharedState, TargetError};
use crate::engine::state::AppState;

pub const DEFAULT_PORT: u16 = 7352;

/// How to start an engine.
#[derive(Clone)]
pub struct EngineOptions {
    pub bind: IpAddr,
    pub port: u16,
    pub config_path: PathBuf,
    pub log_requests: bool,
    pub bans: Vec<String>,
    pub env: EnvSource,
    /// How long in-flight requests may run on after shutdown is asked for.
    pub shutdown_grace: Duration,
    /// Where API keys live; `None` picks the OS keychain, or the key file when none works.
    pub secret_store: Option<Arc<dyn SecretStore>>,
    /// Read timeouts and the connection cap.
    pub connection_limits: ConnectionLimits,
}

impl EngineOptions {
    pub fn new(config_path: PathBuf) -> Self {
        Self {
            bind: IpAddr::V4(Ipv4Addr::LOCALHOST),
            port: DEFAULT_PORT,
            config_path,
            log_requests: false,
            bans: Vec::new(),
            env: EnvSource::process(),
            shutdown_grace: Duration::from_secs(5),
            secret_store: None,
            connection_limits: ConnectionLimits::default(),
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum StartError {
    #[error(transparent)]
    Config(#[from] ConfigError),
    #[error("cannot listen on {addr}: {source}{hint}")]
    Bind {
        addr: SocketAddr,
        source: std::io::Error,
        hint: &'static str,
    },
    #[error(transparent)]
    Catalog(#[from] CatalogDataError),
    #[error("cannot create the HTTP client: {0}")]
    HttpClient(#[source] reqwest::Error),
    /// The blocking task that opens the key store or reads the keys panicked or was cancelled.
    #[error("reading the API key store failed unexpectedly ({0}); start modelrelay again, or set `MODELRELAY_KEY_STORE=file` to keep keys in the key file instead")]
    KeyStore(#[source] tokio::task::JoinError),
    #[error(transparent)]
    SharedState(#[from] TargetError),
}

/// A serving engine. Its tasks live in `AppState::tasks`; dropping it without `shutdown`
/// leaves them running until the runtime ends, so call `shutdown` for a graceful stop.
pub struct RunningEngine {
    addr: SocketAddr,
    state: Arc<AppState>,
    shutdown: CancellationToken,
    /// The HTTP server, also in `AppState::tasks`; kept to cut it off after the grace period.
    server: JoinHandle<()>,
    grace: Duration,
    router_key_generated: bool,
}

pub async fn start(options: EngineOptions) -> Result<RunningEngine, StartError> {
    let file = ConfigFile::load(&options.config_path)?;
    let builtin = Arc::new(BuiltinCatalog::load()?);
    let config = Arc::new(ConfigStore::new(file));
    let env = EnvOverrides::read(&options.env, &builtin.key_variables());
    let store = match options.secret_store.clone() {
        Some(store) => store,
        None => {
            let path = options.config_path.clone();
            let prefer_file = options.env.get("MODELRELAY_KEY_STORE").as_deref() == Some("file");
            tokio::task::spawn_blocking(move || default_store(&path, prefer_file))
                .await
                .map_err(StartError::KeyStore)?
        }
    };
    let credentials = {
        let (config, store, builtin) = (config.clone(), store.clone(), builtin.clone());
        let env = env.clone();
        tokio::task::spawn_blocking(move || load_credentials(&config, store, &builtin, env))
            .await
            .map_err(StartError::KeyStore)?
    };
    // Team mode's Redis (its password lives in the key store, hence a blocking task too).
    let shared_target = {
        let (config, store, redis_url) = (config.clone(), store.clone(), env.redis_url.clone());
        tokio::task::spawn_blocking(move || {
            shared::target::resolve(&config, redis_url.as_ref(), store.as_ref())
        })
        .await
        .map_err(StartError::KeyStore)??
    };
    let credentials = Arc::new(credentials);
    let settings = config.settings();
    let http = reqwest::Client::builder()
        .user_agent(concat!("modelrelay/", env!("CARGO_PKG_VERSION")))
        .connect_timeout(settings.timeouts.connect())
        .tcp_nodelay(true)
        .pool_idle_timeout(Duration::from_secs(90))
        .build()
        .map_err(StartError::HttpClient)?;
    let identity = ClientIdentity::new();
    let kiro = Arc::new(KiroAuth::new(
        env.kiro_client_id.clone(),
        env.kiro_client_secret.clone(),
    ));
    let catalog = CatalogService::new(
        builtin.clone(),
        identity.clone(),
        config.subscribe(),
        env,
        credentials.clone(),
        http.clone(),
    );

    let addr = SocketAddr::new(options.bind, options.port);
    let listener = TcpListener::bind(addr).await.map_err(|source| StartError::Bind {
        addr,
        hint: if source.kind() == std::io::ErrorKind::AddrInUse {
            "; another program (perhaps another modelrelay) holds this port: stop it or pass --port"
        } else {
            ""
        },
        source,
    })?;
    let addr = listener.local_addr().map_err(|source| StartError::Bind {
        addr,
        source,
        hint: "",
    })?;

    let shutdown = CancellationToken::new();
    // Reachable from other machines: the page and /api need a token (configured or new).
    let admin_token = (!addr.ip().is_loopback()).then(|| {
        settings
            .admin_token
            .clone()
            .filter(|t| !t.trim().is_empty())
            .unwrap_or_else(new_token)
    });
    // And /v1 needs a key: `routerApiKey`, else the one made for an earlier network bind (kept
    // in the key store), else one made now, stored, and printed once by the CLI.
    let configured_key = settings
        .router_api_key
        .clone()
        .filter(|k| !k.is_empty())
        .or_else(|| {
            (!addr.ip().is_loopback())
                .then(|| credentials.saved_router_key())
                .flatten()
        });
    let router_key_generated = !addr.ip().is_loopback() && configured_key.is_none();
    let router_key = (!addr.ip().is_loopback()).then(|| {
        configured_key.unwrap_or_else(|| {
            let key = new_token();
            if let Err(error) = credentials.save_router_key(&key) {
                tracing::warn!("the router key could not be stored ({error}); a new one is made at the next start");
            }
            key
        })
    });
    let metrics = Arc::new(crate::engine::metrics::Metrics::default());
    let log = {
        let metrics = metrics.clone();
        RequestLog::observed_by(Box::new(move |entry| metrics.observe(entry)))
    };
    let state = Arc::new(AppState {
        config,
        catalog: catalog.clone(),
        credentials,
        health: Arc::new(HealthBook::default()),
        shared: Arc::new(SharedState::new(shared_target)),
        log: Arc::new(log),
        metrics,
        pacer: Arc::default(),
        hedges: Arc::default(),
        http,
        identity,
        kiro,
        cli_bans: options.bans,
        log_requests: options.log_requests,
        started_at: Instant::now(),
        started_unix: SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_secs()),
        bind: addr,
        home: options
            .env
            .get("HOME")
            .map(std::path::PathBuf::from)
            .or_else(dirs::home_dir),
        access: AccessPolicy {
            router_key,
            ..AccessPolicy::for_bind(addr, admin_token.clone())
        },
        builtin,
        shutdown: shutdown.clone(),
        tasks: TaskTracker::new(),
    });
    let app = http::router(state.clone());
    // Not `AppState::spawn`: the server stops by itself on the token, after in-flight requests.
    let server = state.tasks.spawn(http::connections::serve(
        listener,
        app,
        options.connection_limits,
        shutdown.clone(),
    ));
    state.spawn(catalog.run(shutdown.clone()));
    state.spawn(Prober::new(state.clone()).run(shutdown.clone()));
    state.spawn(crate::engine::config::watch_file(state.config.clone()));
    if let Some(link) = shared::start(
        &state.shared,
        &state.health,
        &state.credentials,
        &state.config,
        &state.pacer,
        shutdown.clone(),
    ) {
        state.spawn(link);
    }
    tracing::info!("modelrelay listening on http://{addr}");
    Ok(RunningEngine {
        addr,
        state,
        shutdown,
        server,
        grace: options.shutdown_grace,
        router_key_generated,
    })
}

impl RunningEngine {
    pub fn local_addr(&self) -> SocketAddr {
        self.addr
    }

    pub fn state(&self) -> &Arc<AppState> {
        &self.state
    }

    /// The page's address, with the admin token when one is required (print it once).
    pub fn admin_url(&self) -> String {
        let base = format!("http://{}/", self.state.public_host());
        match &self.state.access.token {
            Some(token) => format!("{base}?token={token}"),
            None => base,
        }
    }

    /// The key `/v1` requires when it was made at this start (network bind, no `routerApiKey`);
    /// the CLI prints it once.
    pub fn generated_router_key(&self) -> Option<&str> {
        self.state
            .access
            .router_key
            .as_deref()
            .filter(|_| self.router_key_generated)
    }

    /// Cancelling this token starts a graceful shutdown.
    pub fn shutdown_token(&self) -> CancellationToken {
        self.shutdown.clone()
    }

    /// Stops accepting connections and every background task, and lets in-flight requests
    /// finish within the grace period.
    pub async fn shutdown(self) {
        self.shutdown.cancel();
        self.wait().await;
    }

    /// Waits until shutdown has been requested through the token, then for every engine task
    /// to end, within the grace period.
    pub async fn wait(mut self) {
        self.shutdown.cancelled().await;
        let tasks = &self.state.tasks;
        // Closed, the tracker's `wait` ends when its last task does (tasks that in-flight
        // requests spawn meanwhile included); the cancelled token ends all but the server.
        tasks.close();
        if tokio::time::timeout(self.grace, tasks.wait()).await.is_ok() {
            return;
        }
        // Past the grace period nothing is waited for: the server is aborted, which cuts the
        // requests still in flight, and any other task that overran is left detached to end
        // with the runtime (the CLI exits right after; the desktop shell when it quits).
        if !self.server.is_finished() {
            tracing::warn!(
                "in-flight requests did not finish within {} s; closing them",
                self.grace.as_secs()
            );
            self.server.abort();
            let _ = (&mut self.server).await;
        }
        if !tasks.is_empty() {
            tracing::warn!(
                "{} engine tasks did not stop within {} s; leaving them to the runtime",
                tasks.len(),
                self.grace.as_secs()
            );
        }
    }
}

/// Moves plaintext keys out of the config file (never losing one), then reads every known
/// account's keys from the store.
fn load_credentials(
    config: &ConfigStore,
    store: Arc<dyn SecretStore>,
    builtin: &BuiltinCatalog,
    env: EnvOverrides,
) -> Credentials {
    match migrate_keys_out_of_config(config, store.as_ref()) {
        Ok(0) => {}
        Ok(moved) => tracing::info!(
            "moved {moved} API key entries from the config file to the {} store",
            store.kind()
        ),
        Err(error) => tracing::warn!("{error}"),
    }
    let accounts = known_accounts(builtin, &config.settings());
    let sso_cache_providers = builtin
        .providers
        .iter()
        .filter(|spec| spec.flavor == Flavor::Kiro)
        .map(|spec| spec.key.clone())
        .collect();
    Credentials::load(env, store, &accounts).with_sso_cache_providers(sso_cache_providers)
}
