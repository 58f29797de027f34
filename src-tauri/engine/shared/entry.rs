//! What the routers of a team tell each other: one typed `SharedEntry` per kind of state, each
//! with its id (one Redis key per thing it describes) and its own lifetime, so nothing stale
//! outlives its window. Provider keys appear only as salted hashes (`KeyHash`). Pure.
//!
//! Sharing a new kind of state is one variant here (its `id` and `ttl`), one arm in
//! `mirror::Mirror::apply` (what a peer's entry does to this router) and one place that
//! makes it (`mirror::Mirror::from_book`, `from_keys`, or a kind of its own).

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use sha2::{Digest, Sha256};
use tokio::time::Instant;

use crate::engine::health::{RowSummary, Window};

/// How long a row's numbers from a peer count when nothing newer comes.
pub const HEALTH_TTL: Duration = Duration::from_secs(600);
/// How long a closed circuit's entry is kept (for routers that connect meanwhile).
pub const CLOSED_CIRCUIT_TTL: Duration = Duration::from_secs(60);
/// How long a peer waits for the trial of a circuit another router opened before it runs
/// its own: the trial's own first-byte budget plus a margin.
pub const PEER_TRIAL_WAIT: Duration = Duration::from_secs(25);
/// A turn of a key is counted on arrival; older ones (replayed late) are dropped.
pub const TURN_TTL: Duration = Duration::from_secs(60);

/// A provider key as the team names it: a salted SHA-256 (the salt is the team's, kept in its
/// Redis), never the key.
#[derive(Debug, Clone, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(transparent)]
pub struct KeyHash(String);

impl KeyHash {
    pub fn of(salt: &str, key: &str) -> Self {
        let mut hasher = Sha256::new();
        hasher.update(salt.as_bytes());
        hasher.update([0u8]);
        hasher.update(key.as_bytes());
        let digest = hasher.finalize();
        Self(digest[..16].iter().map(|b| format!("{b:02x}")).collect())
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// One thing a router learned, as its team stores and hears it.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(
    tag = "kind",
    rename_all = "camelCase",
    rename_all_fields = "camelCase"
)]
pub enum SharedEntry {
    /// A row (`model: Some`) or a provider's shared pool is spent until `until_ms`, for the
    /// routers whose key for the provider hashes to `scope` (its first key, or none).
    Cooldown {
        provider: String,
        scope: KeyHash,
        model: Option<String>,
        until_ms: u64,
        window: Window,
    },
    /// One key of a pool drew a 429: skipped until `until_ms`.
    KeyCooling {
        provider: String,
        key: KeyHash,
        until_ms: u64,
    },
    /// One key of a pool served a request (counts towards `maxTurns`); an event, not stored.
    Turn { provider: String, key: KeyHash },
    /// The row's circuit: open with its sender's trial due at `trial_at_ms`, or closed (`None`)
    /// after that trial succeeded.
    Circuit {
        provider: String,
        model: String,
        trial_at_ms: Option<u64>,
    },
    /// The sender's own numbers for a row.
    Health {
        provider: String,
        model: String,
        summary: RowSummary,
    },
    /// One request went out with the key hashing to `key` (to `model`, unless the provider's
    /// quota spans its models): counted in that key's per-minute pacing window; an event.
    Sent {
        provider: String,
        key: KeyHash,
        model: Option<String>,
        at_ms: u64,
    },
    /// The provider said the row's model is gone: retired until `until_ms` (every key of the
    /// provider: a model is gone for all of them).
    Retired {
        provider: String,
        model: String,
        until_ms: u64,
        message: String,
    },
}

impl SharedEntry {
    /// The kind's name, as in the JSON `kind` field.
    pub fn kind(&self) -> &'static str {
        match self {
            Self::Cooldown { .. } => "cooldown",
            Self::KeyCooling { .. } => "keyCooling",
            Self::Turn { .. } => "turn",
            Self::Circuit { .. } => "circuit",
            Self::Health { .. } => "health",
            Self::Retired { .. } => "retired",
            Self::Sent { .. } => "sent",
        }
    }

    /// The Redis key suffix of this entry: one per thing it describes (and per sender, where
    /// each router's view is kept apart).
    pub fn id(&self, from: &str) -> String {
        match self {
            Self::Cooldown {
                provider,
                scope,
                model,
                ..
            } => format!(
                "cooldown:{provider}:{}:{}",
                scope.as_str(),
                model.as_deref().unwrap_or("*")
            ),
            Self::KeyCooling { provider, key, .. } => {
                format!("keycooling:{provider}:{}", key.as_str())
            }
            Self::Turn { provider, key } => format!("turn:{provider}:{}", key.as_str()),
            Self::Circuit {
                provider, model, ..
            } => format!("circuit:{provider}:{model}"),
            Self::Health {
                provider, model, ..
            } => format!("health:{provider}:{model}:{from}"),
            Self::Retired {
                provider, model, ..
            } => format!("retired:{provider}:{model}"),
            Self::Sent {
                provider,
                key,
                model,
                ..
            } => format!(
                "sent:{provider}:{}:{}",
                key.as_str(),
                model.as_deref().unwrap_or("*")
            ),
        }
    }

    /// How long the entry stays in Redis; `None` for events that are only published.
    pub fn ttl(&self, now_ms: u64) -> Option<Duration> {
        let until = |ms: u64| Duration::from_millis(ms.saturating_sub(now_ms).max(1));
        match self {
            Self::Cooldown { until_ms, .. }
            | Self::KeyCooling { until_ms, .. }
            | Self::Retired { until_ms, .. } => Some(until(*until_ms)),
            Self::Turn { .. } | Self::Sent { .. } => None,
            Self::Circuit {
                trial_at_ms: Some(at),
                ..
            } => Some(until(*at) + PEER_TRIAL_WAIT),
            Self::Circuit {
                trial_at_ms: None, ..
            } => Some(CLOSED_CIRCUIT_TTL),
            Self::Health { .. } => Some(HEALTH_TTL),
        }
    }
}

/// An entry with who sent it and when, as published and stored (JSON).
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Envelope {
    pub from: String,
    pub sent_ms: u64,
    pub entry: SharedEntry,
}

/// One moment on both clocks: routers agree on wall time (unix ms), the engine plans with
/// `Instant`s.
#[derive(Debug, Clone, Copy)]
pub struct Clock {
    pub instant: Instant,
    pub unix_ms: u64,
}

impl Clock {
    pub fn now() -> Self {
        Self {
            instant: Instant::now(),
            unix_ms: SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX)),
        }
    }

    pub fn to_unix_ms(&self, at: Instant) -> u64 {
        let ahead = at.saturating_duration_since(self.instant);
        let behind = self.instant.saturating_duration_since(at);
        let ms = |d: Duration| u64::try_from(d.as_millis()).unwrap_or(u64::MAX);
        self.unix_ms
            .saturating_add(ms(ahead))
            .saturating_sub(ms(behind))
    }

    pub fn to_instant(&self, unix_ms: u64) -> Instant {
        if unix_ms >= self.unix_ms {
            self.instant + Duration::from_millis(unix_ms - self.unix_ms)
        } else {
            self.instant
                .checked_sub(Duration::from_millis(self.unix_ms - unix_ms))
                .unwrap_or(self.instant)
        }
    }
}

/// The Redis names of a team (`namespace` first, so teams can share one Redis).
#[derive(Debug, Clone)]
pub struct Names {
    namespace: String,
}

impl Names {
    pub fn new(namespace: &str) -> Self {
        Self {
            namespace: namespace.to_string(),
        }
    }

    /// Where entries are published.
    pub fn channel(&self) -> String {
        format!("{}:events", self.namespace)
    }

    pub fn entry(&self, id: &str) -> String {
        format!("{}:entry:{id}", self.namespace)
    }

    /// The pattern every stored entry matches, for loading them after a (re)connection.
    pub fn entries(&self) -> String {
        format!("{}:entry:*", self.namespace)
    }

    /// The team's salt for key hashes, made by the first router that connects.
    pub fn salt(&self) -> String {
        format!("{}:salt", self.namespace)
    }

    /// Held by the router that probes a row in this interval.
    pub fn probe_lease(&self, provider: &str, model: &str) -> String {
        format!("{}:probe:{provider}:{model}", self.namespace)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_key_hash_depends_on_the_salt_and_never_contains_the_key() {
        let a = KeyHash::of("salt-1", "gsk_secret");
        assert_eq!(a, KeyHash::of("salt-1", "gsk_secret"));
        assert_ne!(a, KeyHash::of("salt-2", "gsk_secret"));
        assert!(!a.as_str().contains("secret"));
        assert_eq!(a.as_str().len(), 32);
    }

    #[test]
    fn entries_round_trip_and_expire_with_what_they_describe() {
        let entry = SharedEntry::Cooldown {
            provider: "groq".into(),
            scope: KeyHash::of("s", "k"),
            model: Some("llama".into()),
            until_ms: 61_000,
            window: Window::Minute,
        };
        let envelope = Envelope {
            from: "r1".into(),
            sent_ms: 1_000,
            entry: entry.clone(),
        };
        let text = serde_json::to_string(&envelope).unwrap();
        assert!(text.contains("\"kind\":\"cooldown\""), "{text}");
        assert!(text.contains("\"untilMs\":61000"), "{text}");
        assert_eq!(serde_json::from_str::<Envelope>(&text).unwrap(), envelope);
        assert_eq!(entry.ttl(1_000), Some(Duration::from_secs(60)));
        let turn = SharedEntry::Turn {
            provider: "groq".into(),
            key: KeyHash::of("s", "k"),
        };
        assert_eq!(turn.ttl(0), None, "turns are events");
    }

    #[test]
    fn wall_time_and_instants_convert_both_ways() {
        let clock = Clock::now();
        let later = clock.instant + Duration::from_secs(30);
        assert_eq!(clock.to_unix_ms(later), clock.unix_ms + 30_000);
        assert_eq!(clock.to_instant(clock.unix_ms + 30_000), later);
    }
}
