//! Running a Python client script (the official SDKs) against the router: the interpreter
//! from `MODELRELAY_TEST_PYTHON` (required under CI), proxies kept out of loopback traffic,
//! blocking IO off the test's runtime, and a bound on how long the script may take.
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)]

use std::path::PathBuf;
use std::process::{Command, Output};
use std::time::Duration;

const PROXY_VARIABLES: [&str; 6] = [
    "HTTP_PROXY",
    "http_proxy",
    "HTTPS_PROXY",
    "https_proxy",
    "ALL_PROXY",
    "all_proxy",
];

/// The interpreter with `package` installed. CI must not skip these tests; a developer
/// without the venv gets a note instead of a failure.
#[allow(
    clippy::print_stderr,
    reason = "the note is for whoever runs the tests"
)]
pub fn interpreter(package: &str) -> Option<PathBuf> {
    match std::env::var_os("MODELRELAY_TEST_PYTHON") {
        Some(path) if !path.is_empty() => Some(PathBuf::from(path)),
        _ if std::env::var_os("CI").is_some() => panic!(
            "MODELRELAY_TEST_PYTHON is not set under CI: run `bash .ci/run`, which creates the venv with `{package}` and sets it"
        ),
        _ => {
            eprintln!(
                "note: skipping the {package} SDK test: set MODELRELAY_TEST_PYTHON to a python with `{package}` installed (`bash .ci/run` makes one in ~/.cache/modelrelay-venv)"
            );
            None
        }
    }
}

/// Runs `tests/clients/<script>` with `args`, for at most 120 s.
pub async fn run_script(python: PathBuf, script: &str, args: Vec<String>) -> Output {
    let script = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/clients")
        .join(script);
    let run = move || {
        let mut command = Command::new(python);
        command.arg(script).args(args);
        // The router is on loopback: a proxy from the environment must not get in between.
        for variable in PROXY_VARIABLES {
            command.env_remove(variable);
        }
        command
            .env("NO_PROXY", "127.0.0.1,localhost")
            .env("no_proxy", "127.0.0.1,localhost")
            .output()
    };
    // Blocking IO off the runtime: the router answers the script on this same runtime.
    tokio::time::timeout(Duration::from_secs(120), tokio::task::spawn_blocking(run))
        .await
        .expect("the SDK script finishes within 120 s")
        .unwrap()
        .expect("the python from MODELRELAY_TEST_PYTHON starts")
}
