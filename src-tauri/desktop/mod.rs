//! The desktop shell (feature `desktop`): tray, settings window and plugins around the same
//! engine the headless binary runs. It only translates GUI events into engine API calls.

use std::process::ExitCode;

use crate::cli::{self, Cli};

/// Runs the tray app; until the shell is built this is the headless router.
pub fn run(cli: Cli) -> ExitCode {
    cli::run(cli)
}
