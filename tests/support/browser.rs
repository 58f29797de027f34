//! Running a `tests/browser/*.mjs` script (`playwright-core` driving Debian's
//! `/usr/bin/chromium`) against a router the test started, and reading its JSON summary.
//! `.ci/run` installs both and sets `MODELRELAY_TEST_NODE_BROWSER=1`; under CI a missing
//! browser fails the test, elsewhere it is skipped with a note.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::Duration;

use serde_json::Value;

const PROXY_VARIABLES: [&str; 6] = [
    "HTTP_PROXY",
    "http_proxy",
    "HTTPS_PROXY",
    "https_proxy",
    "ALL_PROXY",
    "all_proxy",
];

pub fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// Whether Chromium and `playwright-core` are there. CI must not skip browser tests; a
/// developer without them gets a note instead of a failure.
#[allow(
    clippy::print_stderr,
    reason = "the note is for whoever runs the tests"
)]
pub fn browser_available() -> bool {
    match std::env::var_os("MODELRELAY_TEST_NODE_BROWSER") {
        Some(value) if !value.is_empty() && value != "0" => {
            assert!(
                Path::new("/usr/bin/chromium").exists(),
                "MODELRELAY_TEST_NODE_BROWSER is set but /usr/bin/chromium is missing (apt-get install chromium)"
            );
            assert!(
                repo()
                    .join("tests/browser/node_modules/playwright-core")
                    .is_dir(),
                "MODELRELAY_TEST_NODE_BROWSER is set but playwright-core is not installed: run `npm install --no-save playwright-core@1` in tests/browser"
            );
            true
        }
        _ if std::env::var_os("CI").is_some() => panic!(
            "MODELRELAY_TEST_NODE_BROWSER is not set under CI: run `bash .ci/run`, which installs chromium and playwright-core and sets it"
        ),
        _ => {
            eprintln!(
                "note: skipping the browser tests of ui/: install chromium and `npm install --no-save playwright-core@1` in tests/browser, then set MODELRELAY_TEST_NODE_BROWSER=1 (`bash .ci/run` does all of it)"
            );
            false
        }
    }
}

/// `node tests/browser/<script> <args…>` with no proxy between it and loopback.
fn run_node(script: &str, args: &[String]) -> std::io::Result<Output> {
    let mut command = Command::new("node");
    command
        .arg(repo().join("tests/browser").join(script))
        .args(args)
        .current_dir(repo());
    for variable in PROXY_VARIABLES {
        command.env_remove(variable);
    }
    command
        .env("NO_PROXY", "127.0.0.1,localhost")
        .env("no_proxy", "127.0.0.1,localhost");
    command.output()
}

/// Runs `script` off the runtime (the engine and the fakes answer the browser on it) and
/// returns its JSON summary, failing the test when it did not finish, printed no summary, or
/// reported a failed step.
pub async fn run_script(script: &str, args: Vec<String>, limit: Duration) -> Value {
    let name = script.to_string();
    let output = tokio::time::timeout(
        limit,
        tokio::task::spawn_blocking(move || run_node(&name, &args)),
    )
    .await
    .unwrap_or_else(|_| panic!("{script} finishes within {} s", limit.as_secs()))
    .unwrap()
    .expect("`node` starts");
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    let summary: Value = serde_json::from_str(&stdout).unwrap_or_else(|error| {
        panic!(
            "{script} printed no JSON summary ({error}, {}):\n{stdout}\n{stderr}",
            output.status
        )
    });
    assert!(
        output.status.success() && summary["ok"] == true,
        "{script} failed ({}): {}\n{summary:#}\n{stderr}",
        output.status,
        summary["error"]
    );
    summary
}
