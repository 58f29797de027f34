//! What the request log will say about one request (`Trace`), filled in as it is forwarded,
//! and how it ends (`Ending`); the one place a request's log entry is put together.

use std::time::Duration;

use tokio::time::Instant;

use crate::engine::error::ApiError;
use crate::engine::providers::ModelRow;
use crate::engine::requestlog::{AttemptLog, HedgeLog, LogEntry, RequestLog};

/// What the request log will say about one request, filled in as it is forwarded.
#[derive(Debug, Clone)]
pub struct Trace {
    pub at: u64,
    pub started: Instant,
    pub model: String,
    pub stream: bool,
    pub messages: Option<Vec<String>>,
    pub attempts: Vec<AttemptLog>,
    /// The request's hedge, when it had one.
    pub hedge: Option<HedgeLog>,
}

/// How a request ended, for its log entry.
pub struct Ending<'a> {
    pub status: u16,
    pub row: Option<&'a ModelRow>,
    pub outcome: &'a str,
    pub error: Option<String>,
    pub ttft: Option<Duration>,
    pub tokens: Option<u64>,
}

impl Trace {
    pub fn new(model: &str, stream: bool, messages: Option<Vec<String>>) -> Self {
        Self {
            at: crate::engine::requestlog::unix_ms(),
            started: Instant::now(),
            model: model.to_string(),
            stream,
            messages,
            attempts: Vec::new(),
            hedge: None,
        }
    }

    pub fn finish(self, ending: Ending<'_>) -> LogEntry {
        LogEntry {
            id: 0,
            at: self.at,
            model: self.model,
            stream: self.stream,
            status: ending.status,
            provider: ending.row.map(|r| r.provider.key.clone()),
            upstream_model: ending.row.map(|r| r.upstream_id.clone()),
            group: ending.row.map(|r| r.group.clone()),
            duration_ms: self.started.elapsed().as_millis() as u64,
            ttft_ms: ending.ttft.map(|t| t.as_millis() as u64),
            tokens: ending.tokens,
            outcome: ending.outcome.to_string(),
            error: ending.error,
            attempts: self.attempts,
            messages: self.messages,
            hedge: self.hedge,
        }
    }
}

/// Logs a request that ended with the router's own error, and passes the error on.
pub(super) fn log_failure(log: &RequestLog, trace: Trace, error: ApiError) -> ApiError {
    log.push(trace.finish(Ending {
        status: error.status_code().as_u16(),
        row: None,
        outcome: "failed",
        error: Some(error.to_string()),
        ttft: None,
        tokens: None,
    }));
    error
}
