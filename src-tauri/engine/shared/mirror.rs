//! The local side of team mode: what this engine learns (its health book's cooldowns and
//! circuits, its key pools' turns and 429s, its own row numbers) becomes `SharedEntry`s, and
//! peers' entries are applied to the same book and pools. Requests only ever read those local
//! copies; nothing here waits on Redis.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use secrecy::{ExposeSecret, SecretString};

use crate::engine::config::ConfigStore;
use crate::engine::credentials::{Credentials, KeyLearned};
use crate::engine::health::{HealthBook, Learned, PaceKey, Pacer, PeerSummary, RowSummary};

use super::entry::{Clock, Envelope, KeyHash, SharedEntry, HEALTH_TTL, PEER_TRIAL_WAIT, TURN_TTL};

pub struct Mirror {
    /// This router's id in the team (random per start).
    pub router: String,
    health: Arc<HealthBook>,
    credentials: Arc<Credentials>,
    config: Arc<ConfigStore>,
    pacer: Arc<Pacer>,
    /// The row numbers last sent, so only changes go out.
    published: Mutex<HashMap<(String, String), RowSummary>>,
    /// Entries from peers applied so far, by kind (for tests and diagnostics).
    applied: Mutex<HashMap<&'static str, u64>>,
}

impl Mirror {
    pub fn new(
        router: String,
        health: Arc<HealthBook>,
        credentials: Arc<Credentials>,
        config: Arc<ConfigStore>,
        pacer: Arc<Pacer>,
    ) -> Self {
        Self {
            router,
            health,
            credentials,
            config,
            pacer,
            published: Mutex::default(),
            applied: Mutex::default(),
        }
    }

    /// The link went up or down: the page's live view refreshes its status line.
    pub fn link_changed(&self) {
        self.health.notify_changed();
    }

    /// How many entries of `kind` (`cooldown`, `turn`, …) from peers were applied.
    pub fn applied(&self, kind: &str) -> u64 {
        let applied = self.applied.lock().unwrap_or_else(|e| e.into_inner());
        applied.get(kind).copied().unwrap_or(0)
    }

    /// Which routers' cooldowns of `provider`'s rows apply here: those drawn with the same
    /// first key (or with none, for keyless providers).
    fn scope(&self, salt: &str, provider: &str) -> KeyHash {
        let settings = self.config.settings();
        let key = self.credentials.peek_key(&settings, provider);
        KeyHash::of(salt, key.as_ref().map_or("", |k| k.expose_secret()))
    }

    pub fn from_book(&self, salt: &str, learned: Learned, clock: Clock) -> SharedEntry {
        match learned {
            Learned::Cooldown {
                provider,
                model,
                until,
                window,
            } => SharedEntry::Cooldown {
                scope: self.scope(salt, &provider),
                provider,
                model,
                until_ms: clock.to_unix_ms(until),
                window,
            },
            Learned::CircuitOpened {
                provider,
                model,
                until,
            } => SharedEntry::Circuit {
                provider,
                model,
                trial_at_ms: Some(clock.to_unix_ms(until)),
            },
            Learned::CircuitClosed { provider, model } => SharedEntry::Circuit {
                provider,
                model,
                trial_at_ms: None,
            },
            Learned::Retired {
                provider,
                model,
                until,
                message,
            } => SharedEntry::Retired {
                provider,
                model,
                until_ms: clock.to_unix_ms(until),
                message,
            },
        }
    }

    pub fn from_keys(
        &self,
        salt: &str,
        provider: String,
        learned: KeyLearned,
        clock: Clock,
    ) -> Option<SharedEntry> {
        let settings = self.config.settings();
        let index = match learned {
            KeyLearned::Turn { index } | KeyLearned::Cooling { index, .. } => index,
        };
        let key = self.credentials.key_at(&settings, &provider, index)?;
        let key = KeyHash::of(salt, key.expose_secret());
        Some(match learned {
            KeyLearned::Turn { .. } => SharedEntry::Turn { provider, key },
            KeyLearned::Cooling { until, .. } => SharedEntry::KeyCooling {
                provider,
                key,
                until_ms: clock.to_unix_ms(until),
            },
        })
    }

    /// A request this router sent, for the team's pacing windows: its key named by hash (the
    /// empty key for a provider without one), never by this router's index.
    pub fn from_pace(&self, salt: &str, window: PaceKey, clock: Clock) -> SharedEntry {
        let settings = self.config.settings();
        let key = self
            .credentials
            .key_at(&settings, &window.provider, window.key);
        SharedEntry::Sent {
            key: KeyHash::of(salt, key.as_ref().map_or("", |k| k.expose_secret())),
            provider: window.provider,
            model: window.model,
            at_ms: clock.unix_ms,
        }
    }

    /// What this router knows now, sent again after a (re)connection so the team catches up
    /// with what it learned while apart.
    pub fn replay(&self, salt: &str, clock: Clock) -> Vec<SharedEntry> {
        let live = self.health.live_state(clock.instant);
        let mut entries: Vec<SharedEntry> = live
            .learned
            .into_iter()
            .map(|learned| self.from_book(salt, learned, clock))
            .collect();
        entries.extend(
            self.credentials
                .cooling_keys(clock.instant)
                .into_iter()
                .filter_map(|(provider, index, until)| {
                    self.from_keys(salt, provider, KeyLearned::Cooling { index, until }, clock)
                }),
        );
        let mut published = self.published.lock().unwrap_or_else(|e| e.into_inner());
        published.clear();
        for (provider, model, summary) in live.summaries {
            published.insert((provider.clone(), model.clone()), summary);
            entries.push(SharedEntry::Health {
                provider,
                model,
                summary,
            });
        }
        entries
    }

    /// This router's row numbers that changed since they were last sent.
    pub fn changed_summaries(&self, clock: Clock) -> Vec<SharedEntry> {
        let live = self.health.live_state(clock.instant);
        let mut published = self.published.lock().unwrap_or_else(|e| e.into_inner());
        let mut changed = Vec::new();
        for (provider, model, summary) in live.summaries {
            let name = (provider, model);
            if published.get(&name) == Some(&summary) {
                continue;
            }
            published.insert(name.clone(), summary);
            let (provider, model) = name;
            changed.push(SharedEntry::Health {
                provider,
                model,
                summary,
            });
        }
        changed
    }

    /// Applies a peer's entry to this router's book and pools; its own entries (heard back
    /// from Redis) and stale ones are ignored. Returns whether it was applied.
    pub fn apply(&self, salt: &str, envelope: Envelope, clock: Clock) -> bool {
        if envelope.from == self.router {
            return false;
        }
        let settings = self.config.settings();
        let is_key = |wanted: &KeyHash| {
            let wanted = wanted.clone();
            move |key: &SecretString| KeyHash::of(salt, key.expose_secret()) == wanted
        };
        let kind = envelope.entry.kind();
        let applied = match envelope.entry {
            SharedEntry::Cooldown {
                provider,
                scope,
                model,
                until_ms,
                window,
            } => {
                let live = until_ms > clock.unix_ms && scope == self.scope(salt, &provider);
                if live {
                    let until = clock.to_instant(until_ms);
                    self.health
                        .apply_peer_cooldown(&provider, model.as_deref(), until, window);
                }
                live
            }
            SharedEntry::KeyCooling {
                provider,
                key,
                until_ms,
            } => {
                let live = until_ms > clock.unix_ms;
                if live {
                    let until = clock.to_instant(until_ms);
                    let is_key = is_key(&key);
                    self.credentials
                        .apply_peer_key_cooling(&settings, &provider, &is_key, until);
                }
                live
            }
            SharedEntry::Turn { provider, key } => {
                let fresh =
                    clock.unix_ms.saturating_sub(envelope.sent_ms) < TURN_TTL.as_millis() as u64;
                if fresh {
                    let is_key = is_key(&key);
                    self.credentials
                        .apply_peer_turn(&settings, &provider, &is_key);
                }
                fresh
            }
            SharedEntry::Circuit {
                provider,
                model,
                trial_at_ms: Some(at),
            } => {
                let result_due = clock.to_instant(at) + PEER_TRIAL_WAIT;
                let live = result_due > clock.instant;
                if live {
                    let peer_wins_ties = envelope.from < self.router;
                    self.health.apply_peer_circuit_open(
                        &provider,
                        &model,
                        result_due,
                        peer_wins_ties,
                        clock.instant,
                    );
                }
                live
            }
            SharedEntry::Circuit {
                provider,
                model,
                trial_at_ms: None,
            } => {
                self.health.apply_peer_circuit_closed(&provider, &model);
                true
            }
            SharedEntry::Sent {
                provider,
                key,
                model,
                at_ms,
            } => {
                let fresh = clock.unix_ms.saturating_sub(at_ms) < TURN_TTL.as_millis() as u64;
                let index = if key == KeyHash::of(salt, "") {
                    Some(0)
                } else {
                    self.credentials
                        .index_of(&settings, &provider, &is_key(&key))
                };
                match index.filter(|_| fresh) {
                    Some(index) => {
                        let window = PaceKey {
                            provider,
                            key: index,
                            model,
                        };
                        self.pacer.record_remote(&window, clock.to_instant(at_ms));
                        true
                    }
                    None => false,
                }
            }
            SharedEntry::Retired {
                provider,
                model,
                until_ms,
                message,
            } => {
                let live = until_ms > clock.unix_ms;
                if live {
                    let until = clock.to_instant(until_ms);
                    self.health.apply_peer_retired(
                        &provider,
                        &model,
                        until,
                        message,
                        clock.instant,
                    );
                }
                live
            }
            SharedEntry::Health {
                provider,
                model,
                summary,
            } => {
                let expires = clock.to_instant(envelope.sent_ms) + HEALTH_TTL;
                let live = expires > clock.instant;
                if live {
                    let peer = PeerSummary {
                        router: envelope.from,
                        summary,
                        expires,
                    };
                    self.health.apply_peer_summary(&provider, &model, peer);
                }
                live
            }
        };
        if applied {
            let mut counts = self.applied.lock().unwrap_or_else(|e| e.into_inner());
            *counts.entry(kind).or_default() += 1;
        }
        applied
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::config::{ConfigFile, EnvOverrides};
    use crate::engine::health::Window;
    use crate::engine::providers::{ModelRow, Provider, RowOrigin};
    use crate::engine::secrets::MemoryStore;

    struct Router {
        _dir: tempfile::TempDir,
        health: Arc<HealthBook>,
        mirror: Mirror,
    }

    fn router(name: &str, key: &str) -> Router {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("c.json");
        let config = serde_json::json!({"apiKeys": {"groq": key}});
        std::fs::write(&path, config.to_string()).unwrap();
        let config = Arc::new(ConfigStore::new(ConfigFile::load(&path).unwrap()));
        let credentials = Arc::new(Credentials::load(
            EnvOverrides::default(),
            Arc::new(MemoryStore::new()),
            &[],
        ));
        let health = Arc::new(HealthBook::default());
        let mirror = Mirror::new(
            name.into(),
            health.clone(),
            credentials,
            config,
            Arc::default(),
        );
        Router {
            _dir: dir,
            health,
            mirror,
        }
    }

    fn row() -> ModelRow {
        let provider = Arc::new(Provider::new("groq", "groq", "http://x/v1"));
        ModelRow::new(provider, "m", "m", RowOrigin::Builtin)
    }

    fn cooldown_from(router: &Router, clock: Clock) -> Envelope {
        let learned = Learned::Cooldown {
            provider: "groq".into(),
            model: Some("m".into()),
            until: clock.instant + std::time::Duration::from_secs(60),
            window: Window::Minute,
        };
        Envelope {
            from: router.mirror.router.clone(),
            sent_ms: clock.unix_ms,
            entry: router.mirror.from_book("salt", learned, clock),
        }
    }

    #[test]
    fn a_cooldown_crosses_only_to_routers_with_the_same_key() {
        let clock = Clock::now();
        let a = router("a", "gsk_shared_0123456789");
        let same = router("b", "gsk_shared_0123456789");
        let other = router("c", "gsk_other_0123456789");
        let envelope = cooldown_from(&a, clock);
        assert!(!serde_json::to_string(&envelope)
            .unwrap()
            .contains("gsk_shared"));
        assert!(same.mirror.apply("salt", envelope.clone(), clock));
        assert!(same
            .health
            .condition(&row(), clock.instant)
            .cooling(clock.instant)
            .is_some());
        assert!(
            !other.mirror.apply("salt", envelope, clock),
            "another key's quota"
        );
        assert!(other
            .health
            .condition(&row(), clock.instant)
            .cooling(clock.instant)
            .is_none());
        assert_eq!(same.mirror.applied("cooldown"), 1);
        assert_eq!(other.mirror.applied("cooldown"), 0);
    }

    #[test]
    fn a_router_ignores_its_own_entries_heard_back_and_expired_ones() {
        let clock = Clock::now();
        let a = router("a", "gsk_shared_0123456789");
        let b = router("b", "gsk_shared_0123456789");
        let envelope = cooldown_from(&a, clock);
        assert!(!a.mirror.apply("salt", envelope.clone(), clock), "its own");
        let later = Clock {
            instant: clock.instant + std::time::Duration::from_secs(61),
            unix_ms: clock.unix_ms + 61_000,
        };
        assert!(!b.mirror.apply("salt", envelope, later), "past its reset");
    }
}
