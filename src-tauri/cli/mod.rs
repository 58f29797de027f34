//! The command line: argument definitions and dispatch. Printing happens only in `output`.

pub mod output;

use std::net::IpAddr;
use std::path::PathBuf;

use clap::Parser;

use crate::engine::{self, EngineOptions, DEFAULT_PORT};

#[derive(Debug, Parser)]
#[command(
    name = "modelrelay",
    args_conflicts_with_subcommands = false,
    version,
    about = "Local OpenAI-compatible router for free coding models",
    long_about = "Runs an OpenAI-compatible router on 127.0.0.1:7352. Point agents at \
                  http://127.0.0.1:7352/v1 with model `auto-fastest` or a model group such as `kimi-k2.5`."
)]
pub struct Cli {
    /// Port to listen on.
    #[arg(long, default_value_t = DEFAULT_PORT, env = "MODELRELAY_PORT")]
    pub port: u16,
    /// Address to bind; anything but loopback exposes the router to the network.
    #[arg(long, default_value = "127.0.0.1")]
    pub bind: IpAddr,
    /// Config file.
    #[arg(long, env = "MODELRELAY_CONFIG")]
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
    /// Print shell completions for bash, zsh, fish, elvish or powershell.
    Completions {
        #[arg(value_enum)]
        shell: clap_complete::Shell,
    },
}

impl Cli {
    /// Desktop builds open the tray app unless a command or `--headless` says otherwise.
    pub fn runs_desktop(&self) -> bool {
        self.command.is_none() && !self.headless
    }

    pub fn engine_options(&self) -> EngineOptions {
        let mut options = EngineOptions::new(
            self.config
                .clone()
                .unwrap_or_else(engine::config::default_config_path),
        );
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

/// Sets up logging to stderr; `RUST_LOG` overrides the default level.
pub fn init_logging(_cli: &Cli) {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info")),
        )
        .with_writer(std::io::stderr)
        .init();
}

/// Runs a command, or the headless router when there is none.
pub fn run(cli: Cli) -> std::process::ExitCode {
    let result = match cli.command {
        Some(Command::Completions { shell }) => {
            output::completions(shell);
            Ok(())
        }
        None => tokio::runtime::Builder::new_multi_thread()
            .enable_all()
            .build()
            .map_err(|error| error.to_string())
            .and_then(|runtime| runtime.block_on(serve(cli)).map_err(|error| error.to_string())),
    };
    match result {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(message) => {
            output::error(&message);
            std::process::ExitCode::FAILURE
        }
    }
}

/// Runs the router until Ctrl-C or SIGTERM, then shuts down gracefully.
pub async fn serve(cli: Cli) -> Result<(), engine::StartError> {
    if !cli.bind.is_loopback() {
        tracing::warn!(
            "binding to {} exposes the router to other machines; use the default 127.0.0.1 unless you mean it",
            cli.bind
        );
    }
    let engine = engine::start(cli.engine_options()).await?;
    if engine.state().access.token.is_some() {
        output::notice(&format!(
            "The settings page and /api need a token on this address. Open: {}",
            engine.admin_url()
        ));
    }
    let token = engine.shutdown_token();
    tokio::spawn(async move {
        wait_for_signal().await;
        tracing::info!("shutting down; letting in-flight requests finish");
        token.cancel();
    });
    engine.wait().await;
    Ok(())
}

async fn wait_for_signal() {
    let ctrl_c = async {
        if tokio::signal::ctrl_c().await.is_err() {
            std::future::pending::<()>().await;
        }
    };
    #[cfg(unix)]
    {
        let terminate = async {
            match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
                Ok(mut signal) => {
                    signal.recv().await;
                }
                Err(_) => std::future::pending::<()>().await,
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
