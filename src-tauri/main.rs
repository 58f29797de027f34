//! The `modelrelay` binary: parse the command line, set up logging, run a command, the
//! headless router, or (in desktop builds) the tray app.

use std::process::ExitCode;

use clap::Parser;
use modelrelay::cli::{self, Cli};

fn main() -> ExitCode {
    let cli = Cli::parse();
    cli::init_logging(&cli);
    #[cfg(feature = "desktop")]
    if cli.runs_desktop() {
        return modelrelay::desktop::run(cli);
    }
    cli::run(cli)
}
