//! The request log: the last requests with their routing attempts, kept in memory only.
//! Prompts are kept (truncated) only when the user opts in; nothing here touches the disk.

use std::collections::VecDeque;
use std::sync::Mutex;
use std::time::{SystemTime, UNIX_EPOCH};

use serde::Serialize;
use tokio::sync::broadcast;

pub const KEPT_ENTRIES: usize = 200;

/// One upstream attempt of a request.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct AttemptLog {
    pub provider: String,
    pub model: String,
    pub status: Option<u16>,
    pub ms: u64,
    pub error: Option<String>,
    /// Set when the attempt continued a cut stream: how (`prefill`, `prefix-flag`,
    /// `vllm-continue`, `restart`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub continuation: Option<String>,
    /// Set when the attempt was part of a hedge: `primary` or `hedge`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub hedge: Option<String>,
    /// Set when the row was passed over without a request: `paced` (at its per-minute limit).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub skipped: Option<String>,
}

/// A request's hedge: the two rows, which answered first and what the other cost.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct HedgeLog {
    /// How long the primary had waited when the hedge was sent.
    pub after_ms: u64,
    pub primary: String,
    pub hedge: String,
    /// `primary`, `hedge`, or `none` when both failed.
    pub winner: String,
    /// The attempt dropped because the other answered first (none when the loser failed).
    pub loser_cost: Option<LoserCost>,
}

/// What a dropped attempt cost its provider.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct LoserCost {
    pub provider: String,
    /// Requests of its quota spent (one).
    pub requests: u32,
    /// How long it ran before it was dropped.
    pub ms: u64,
}

#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct LogEntry {
    pub id: u64,
    /// Unix milliseconds when the request arrived.
    pub at: u64,
    pub model: String,
    pub stream: bool,
    pub status: u16,
    pub provider: Option<String>,
    pub upstream_model: Option<String>,
    /// The model group of the row that answered.
    pub group: Option<String>,
    pub duration_ms: u64,
    pub ttft_ms: Option<u64>,
    pub tokens: Option<u64>,
    /// `completed`, `failed`, `rejected`, `cut` (a stream that broke), `cancelled`.
    pub outcome: String,
    pub error: Option<String>,
    pub attempts: Vec<AttemptLog>,
    pub messages: Option<Vec<String>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub hedge: Option<HedgeLog>,
}

pub fn unix_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64)
}

/// Told about every entry as it is pushed (the metrics count requests here).
pub type Observer = Box<dyn Fn(&LogEntry) + Send + Sync>;

pub struct RequestLog {
    entries: Mutex<(u64, VecDeque<LogEntry>)>,
    feed: broadcast::Sender<LogEntry>,
    observer: Option<Observer>,
}

impl Default for RequestLog {
    fn default() -> Self {
        let (feed, _) = broadcast::channel(64);
        Self {
            entries: Mutex::new((0, VecDeque::new())),
            feed,
            observer: None,
        }
    }
}

impl RequestLog {
    /// A log that calls `observer` with each entry, synchronously, before live subscribers
    /// hear of it (so nothing is lost to a lagging subscriber).
    pub fn observed_by(observer: Observer) -> Self {
        Self {
            observer: Some(observer),
            ..Self::default()
        }
    }

    /// Stores an entry (its `id` is assigned here) and tells live subscribers.
    pub fn push(&self, mut entry: LogEntry) {
        let mut guard = self.entries.lock().unwrap_or_else(|e| e.into_inner());
        guard.0 += 1;
        entry.id = guard.0;
        if guard.1.len() == KEPT_ENTRIES {
            guard.1.pop_back();
        }
        guard.1.push_front(entry.clone());
        drop(guard);
        if let Some(observer) = &self.observer {
            observer(&entry);
        }
        let _ = self.feed.send(entry);
    }

    /// Newest first.
    pub fn entries(&self) -> Vec<LogEntry> {
        self.entries
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .1
            .iter()
            .cloned()
            .collect()
    }

    pub fn subscribe(&self) -> broadcast::Receiver<LogEntry> {
        self.feed.subscribe()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(model: &str) -> LogEntry {
        LogEntry {
            id: 0,
            at: unix_ms(),
            model: model.into(),
            stream: false,
            status: 200,
            provider: None,
            upstream_model: None,
            group: None,
            duration_ms: 1,
            ttft_ms: None,
            tokens: None,
            outcome: "completed".into(),
            error: None,
            attempts: Vec::new(),
            messages: None,
            hedge: None,
        }
    }

    #[test]
    fn keeps_the_newest_entries_first_and_bounded() {
        let log = RequestLog::default();
        let mut feed = log.subscribe();
        log.push(entry("first"));
        assert_eq!(
            feed.try_recv().unwrap().model,
            "first",
            "live subscribers see each entry"
        );
        for i in 0..(KEPT_ENTRIES + 4) {
            log.push(entry(&format!("m{i}")));
        }
        let entries = log.entries();
        assert_eq!(entries.len(), KEPT_ENTRIES);
        assert_eq!(entries[0].model, format!("m{}", KEPT_ENTRIES + 3));
        assert_eq!(entries[0].id, (KEPT_ENTRIES + 5) as u64);
    }
}
