//! The command line: argument definitions and dispatch. Printing happens only in `output`.

pub mod onboard;
pub mod output;
pub mod remote;
pub mod service;
pub mod transfer;

use std::io::IsTerminal;
use std::net::IpAddr;
use std::path::PathBuf;
use std::process::ExitCode;

use clap::Parser;

use crate::engine::config::{ConfigError, EnvOverrides, EnvSource};
use crate::engine::providers::builtin::BuiltinCatalog;
use crate::engine::secrets::{default_store, SecretStore};
use crate::engine::{self, EngineOptions, StartError, DEFAULT_PORT};

#[derive(Debug, Parser)]
#[command(
    name = "modelrelay",
    version,
    about = "Local OpenAI-compatible router for free coding models",
    long_about = "Runs an OpenAI-compatible router on 127.0.0.1:7352. Point agents at \
                  http://127.0.0.1:7352/v1 with model `auto-fastest` or a model group such as `kimi-k2.5`."
)]
pub struct Cli {
    /// Port to listen on (and, for commands, the port of the running router).
    #[arg(long, global = true, default_value_t = DEFAULT_PORT, env = "MODELRELAY_PORT")]
    pub port: u16,
    /// Address to bind; anything but loopback exposes the router to the network.
    #[arg(long, default_value = "127.0.0.1", env = "MODELRELAY_BIND")]
    pub bind: IpAddr,
    /// Config file.
    #[arg(long, global = true, env = "MODELRELAY_CONFIG")]
    pub config: Option<PathBuf>,
    /// Log each request's routing decision and a truncated view of its messages.
    #[arg(long)]
    pub log: bool,
    /// Models to ban for this run (group slug, upstream id or provider/id), comma-separated.
    #[arg(long, value_delimiter = ',')]
    pub ban: Vec<String>,
    /// Run without the desktop window and tray (the only mode of a headless build).
    #[arg(long)]
    pub headless: bool,
    #[command(subcommand)]
    pub command: Option<Command>,
}

/// Subcommands; without one, modelrelay runs the router.
#[derive(Debug, clap::Subcommand)]
pub enum Command {
    /// Add provider keys, configure OpenCode and OpenClaw, and offer start-on-login.
    Onboard(onboard::OnboardArgs),
    /// Export or import the whole config as a token.
    Config {
        #[command(subcommand)]
        action: transfer::ConfigCommand,
    },
    /// Whether a router is running, what it routes to, and which key store is in use.
    Status {
        /// Say whether modelrelay starts on login instead.
        #[arg(long)]
        autostart: bool,
    },
    /// The running router's ranking as a table.
    Models {
        #[arg(long)]
        json: bool,
        /// Include rows without a key and disabled providers.
        #[arg(long)]
        all: bool,
    },
    /// Probe one model (row id, group slug or upstream id), or every usable one.
    Ping { model: Option<String> },
    /// Manage start on login.
    Autostart(service::AutostartAction),
    /// `install --autostart`: start on login, and start now.
    Install {
        #[arg(long, required = true)]
        autostart: bool,
    },
    /// `start --autostart`: start the router in the background now.
    Start {
        #[arg(long, required = true)]
        autostart: bool,
    },
    /// `uninstall --autostart`: stop starting on login.
    Uninstall {
        #[arg(long, required = true)]
        autostart: bool,
    },
    /// Check for a newer version.
    Update,
    /// Automatic update settings.
    Autoupdate(service::AutoupdateArgs),
    /// Print shell completions for bash, zsh, fish, elvish or powershell.
    Completions {
        #[arg(value_enum)]
        shell: clap_complete::Shell,
    },
}

/// Why a command failed; printed as one line on stderr with a non-zero exit.
#[derive(Debug, thiserror::Error)]
pub enum CliError {
    #[error("{0}")]
    Usage(String),
    #[error(transparent)]
    Config(#[from] ConfigError),
    #[error(transparent)]
    Start(#[from] StartError),
    #[error("no router is running at {0}; start it with `modelrelay`")]
    NotRunning(String),
    #[error("{0}")]
    Failed(String),
}

impl Cli {
    /// Desktop builds open the tray app unless a command or `--headless` says otherwise.
    pub fn runs_desktop(&self) -> bool {
        self.command.is_none() && !self.headless
    }

    pub fn config_path(&self) -> PathBuf {
        self.config
            .clone()
            .unwrap_or_else(engine::config::default_config_path)
    }

    pub fn engine_options(&self) -> EngineOptions {
        let mut options = EngineOptions::new(self.config_path());
        options.bind = self.bind;
        options.port = self.port;
        options.log_requests = self.log;
        options.bans = self
            .ban
            .iter()
            .map(|b| b.trim().to_string())
            .filter(|b| !b.is_empty())
            .collect();
        options
    }
}

/// Sets up logging to stderr; `RUST_LOG` overrides the default level. Commands other than the
/// router itself log only warnings, so their output stays readable.
pub fn init_logging(cli: &Cli) {
    let default = if cli.command.is_some() {
        "warn"
    } else {
        "info"
    };
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(default)),
        )
        .with_writer(std::io::stderr)
        .init();
}

fn key_store(cli: &Cli) -> std::sync::Arc<dyn SecretStore> {
    let prefer_file = EnvSource::process().get("MODELRELAY_KEY_STORE").as_deref() == Some("file");
    default_store(&cli.config_path(), prefer_file)
}

fn home() -> Result<PathBuf, CliError> {
    dirs::home_dir()
        .ok_or_else(|| CliError::Failed("cannot find your home directory (set HOME)".into()))
}

/// Runs a command, or the headless router when there is none.
pub fn run(cli: Cli) -> ExitCode {
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(error) => {
            output::error(&error);
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(dispatch(cli)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            output::error(&error);
            ExitCode::FAILURE
        }
    }
}

async fn dispatch(mut cli: Cli) -> Result<(), CliError> {
    let Some(command) = cli.command.take() else {
        return serve(cli).await.map_err(CliError::from);
    };
    let config_path = cli.config_path();
    match command {
        Command::Completions { shell } => {
            output::completions(shell);
            Ok(())
        }
        Command::Onboard(args) => {
            let store = key_store(&cli);
            let catalog = BuiltinCatalog::load().map_err(|e| CliError::Failed(e.to_string()))?;
            let env = EnvOverrides::read(&EnvSource::process(), &catalog.key_variables());
            let http = reqwest::Client::builder()
                .user_agent(concat!("modelrelay/", env!("CARGO_PKG_VERSION")))
                .build()
                .map_err(|e| CliError::Failed(e.to_string()))?;
            let home = home()?;
            let onboarding = onboard::Onboarding {
                config_path: &config_path,
                home: &home,
                store: store.as_ref(),
                http,
                env,
            };
            let scripted = args.yes
                || !args.keys.is_empty()
                || args.opencode
                || args.openclaw
                || args.autostart;
            if scripted || !std::io::stdin().is_terminal() {
                onboarding.run_flags(&args).await
            } else {
                onboarding.run_interactive(&args).await
            }
        }
        Command::Config { action } => {
            let store = key_store(&cli);
            match action {
                transfer::ConfigCommand::Export { passphrase } => {
                    transfer::export(&config_path, store.as_ref(), passphrase.as_deref())
                }
                transfer::ConfigCommand::Import {
                    token,
                    yes,
                    passphrase,
                } => transfer::import(
                    &config_path,
                    store.as_ref(),
                    token,
                    yes,
                    passphrase.as_deref(),
                ),
            }
        }
        Command::Status { autostart: true } => service::autostart_status(),
        Command::Status { autostart: false } => {
            let store = key_store(&cli);
            remote::status(&remote::Remote::new(cli.port)?, store.kind(), &config_path).await
        }
        Command::Models { json, all } => {
            remote::models(&remote::Remote::new(cli.port)?, json, all).await
        }
        Command::Ping { model } => {
            remote::ping(&remote::Remote::new(cli.port)?, model.as_deref()).await
        }
        Command::Autostart(action) => service::autostart(action),
        Command::Install { .. } => service::install_autostart(true),
        Command::Start { .. } => service::autostart(service::AutostartAction {
            start: true,
            ..Default::default()
        }),
        Command::Uninstall { .. } => service::uninstall_autostart(),
        Command::Update => service::update(&config_path).await,
        Command::Autoupdate(args) => service::autoupdate(&config_path, args),
    }
}

/// Runs the router until Ctrl-C or SIGTERM, then shuts down gracefully.
pub async fn serve(cli: Cli) -> Result<(), StartError> {
    if !cli.bind.is_loopback() {
        tracing::warn!(
            "binding to {} exposes the router to other machines: anyone who can reach the port and has the key can spend your provider keys through /v1; use the default 127.0.0.1 unless you mean it",
            cli.bind
        );
    }
    let signals = ShutdownSignals::register();
    let engine = engine::start(cli.engine_options()).await?;
    if engine.state().access.token.is_some() {
        output::notice(&format!(
            "The settings page and /api need a token on this address. Open: {}",
            engine.admin_url()
        ));
    }
    if let Some(key) = engine.generated_router_key() {
        output::router_key_notice(key);
    }
    // Awaited here rather than spawned: `serve` owns the signal handling until shutdown starts.
    let token = engine.shutdown_token();
    tokio::select! {
        () = signals.wait() => {
            tracing::info!("shutting down; letting in-flight requests finish");
            token.cancel();
        }
        () = token.cancelled() => {}
    }
    engine.wait().await;
    Ok(())
}

/// Ctrl-C and SIGTERM, registered before the router starts so an early signal is never lost
/// to the default handler (which would kill the process without a graceful stop).
struct ShutdownSignals {
    #[cfg(unix)]
    terminate: Option<tokio::signal::unix::Signal>,
}

impl ShutdownSignals {
    fn register() -> Self {
        Self {
            #[cfg(unix)]
            terminate: tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
                .ok(),
        }
    }

    async fn wait(self) {
        let ctrl_c = async {
            if tokio::signal::ctrl_c().await.is_err() {
                std::future::pending::<()>().await;
            }
        };
        #[cfg(unix)]
        {
            let terminate = async {
                match self.terminate {
                    Some(mut signal) => {
                        signal.recv().await;
                    }
                    None => std::future::pending::<()>().await,
                }
            };
            tokio::select! {
                () = ctrl_c => {},
                () = terminate => {},
            }
        }
        #[cfg(not(unix))]
        ctrl_c.await;
    }
}
