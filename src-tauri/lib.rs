//! modelrelay: a local OpenAI-compatible router that forwards each request to the best free
//! coding model available right now.
//!
//! # Code map
//! - `engine/` — everything that matters, with no GUI dependency:
//!   - `server` starts and stops an engine (config → state → listener → background tasks,
//!     all on `AppState::tasks`).
//!   - `http` is the edge: routes and thin handlers; `guard` applies `access`, the pure
//!     decision on who may use the page, `/api` and `/v1`; `connections` accepts connections
//!     with read timeouts and a cap.
//!   - `routing` decides: the `model` selector → rows → filtered, ordered candidates.
//!   - `forward` routes a parsed request (`route`), walks the candidates with failover
//!     (`executor`, deciding by the pure `policy`; one slow attempt may be `hedge`d on a
//!     second row) and returns a typed `Routed` answer whose stream (`AnswerStream`) each edge
//!     serialises once.
//!   - `upstream` speaks to one row: one adapter per dialect (OpenAI-compatible, Kiro) behind
//!     `send`, yielding a classified failure or an answer whose first chunk was seen; `sse`
//!     is the one SSE parser.
//!   - `translate` is pure: other client dialects (Anthropic Messages, OpenAI Responses) ⇄ OpenAI chat, so every
//!     endpoint shares the one routing and failover path.
//!   - `providers` knows upstreams (URLs, auth, discovery; Kiro's translation and OAuth);
//!     `catalog` groups their rows.
//!   - `health` measures rows (moving averages, circuit breakers, quota cooldowns), holds
//!     the ranking formula, paces each provider key to its per-minute limit (`pacing`) and
//!     keeps the hedge rules and spend (`hedging`); `prober` keeps idle rows measured within
//!     each provider's budget.
//!   - `shared` is team mode: routers naming one Redis share cooldowns, circuits, row numbers,
//!     key turns, probe leases, retired rows and pacing windows; requests read only local copies it keeps fresh.
//!   - `admin` is the `/api` behind the page (with the first-run setup, which merges agent
//!     configs through `agents`, shared with the CLI's `onboard`); `requestlog` keeps the last
//!     requests in memory and feeds `metrics` (`GET /metrics`, Prometheus).
//!   - `config` owns `~/.modelrelay.json`; `secrets` keeps API keys (keychain, private file);
//!     `credentials` hands them out per request; `transfer` encodes config tokens.
//! - `cli/` — the command line (argument parsing and the only place that prints).
//! - `system/` — the desktop app's logic that needs no GUI: the OS start-on-login entry, the
//!   tray's menu model, and the handlers the shell calls on the engine.
//! - `desktop/` (feature `desktop`) — the Tauri shell: tray, settings window, autostart,
//!   updater and single-instance plugins, translating GUI events into `system::shell` calls.
//!
//! # Invariants
//! 1. The engine builds and tests without the desktop libraries and never names the shell.
//! 2. Decisions are pure functions over plain data (`routing::plan`, `forward::policy`,
//!    status classification, discovery schedule); IO lives in `upstream`, `forward::executor`,
//!    `providers::discovery`, `server`.
//! 3. A stream may fail over only until its first chunk arrives; afterwards an upstream
//!    failure becomes one in-band SSE error event, never a silent truncation.
//! 4. Secrets are `SecretString`s: never serialised, logged or sent to a client; exposed only
//!    when an upstream request is built.
//! 5. State is injected (`AppState`), never global; every background task is spawned on
//!    `AppState::tasks` (never `tokio::spawn`, which clippy refuses), and `RunningEngine`'s
//!    shutdown cancels, closes and waits for them within its grace period.
//! 6. A config file that cannot be parsed, or is read-only, is never overwritten; saves are
//!    atomic, apply the change to the file as it is on disk, and write through symlinks.

pub mod cli;
#[cfg(feature = "desktop")]
pub mod desktop;
pub mod engine;
pub mod system;
