//! The only place the program writes to stdout or stderr directly (logs go through tracing).
#![allow(clippy::print_stdout, clippy::print_stderr)]

/// A fatal error: one plain line on stderr, no stack trace.
pub fn error(message: &dyn std::fmt::Display) {
    eprintln!("modelrelay: error: {message}");
}

/// A line the user needs to see (stdout), such as the admin address with its token.
pub fn notice(message: &str) {
    println!("{message}");
}

/// Shell completions generated from the command-line definition.
pub fn completions(shell: clap_complete::Shell) {
    use clap::CommandFactory;
    let mut command = super::Cli::command();
    clap_complete::generate(shell, &mut command, "modelrelay", &mut std::io::stdout());
}
