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

/// The `/v1` key made for a network bind without `routerApiKey`: printed here once, never logged.
pub fn router_key_notice(key: &str) {
    println!(
        "/v1 needs an API key on this address (set `routerApiKey` in the config to choose one; this one is kept in the key store and used again at the next start, and is not shown again). Send `Authorization: Bearer {key}` (or `x-api-key`), or set OPENAI_API_KEY={key} for your agent."
    );
}

/// Shell completions generated from the command-line definition.
pub fn completions(shell: clap_complete::Shell) {
    use clap::CommandFactory;
    let mut command = super::Cli::command();
    clap_complete::generate(shell, &mut command, "modelrelay", &mut std::io::stdout());
}

/// One line of a command's normal output (stdout).
pub fn line(message: &str) {
    println!("{message}");
}

/// A warning the user should read (stderr), such as "this token contains your keys".
pub fn warning(message: &str) {
    eprintln!("modelrelay: warning: {message}");
}

/// A plain-text table with aligned columns.
pub fn table(headers: &[&str], rows: &[Vec<String>]) {
    let mut widths: Vec<usize> = headers.iter().map(|h| h.chars().count()).collect();
    for row in rows {
        for (i, cell) in row.iter().enumerate() {
            if let Some(width) = widths.get_mut(i) {
                *width = (*width).max(cell.chars().count());
            }
        }
    }
    let render = |cells: Vec<String>| {
        cells
            .iter()
            .enumerate()
            .map(|(i, c)| format!("{c:<width$}", width = widths.get(i).copied().unwrap_or(0)))
            .collect::<Vec<_>>()
            .join("  ")
            .trim_end()
            .to_string()
    };
    println!(
        "{}",
        render(headers.iter().map(|h| h.to_string()).collect())
    );
    for row in rows {
        println!("{}", render(row.clone()));
    }
}
