//! The local side of team mode: what this engine learns (its health book's cooldowns and
//! circuits, its key pools' turns and 429s, its own row numbers) becomes `SharedEntry`s, and
//! peers' entries are applied to the same book and pools. Requests only ever read those local
//! copies; nothing here waits on Redis.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use secrecy::{ExposeSecret, SecretString};

use crate::engine::config::ConfigStore;
use crate::engine::credentials::{Credentials, KeyLearned};
use crate::engine::health::{HealthBook, Learned, PeerSummary, RowSummary};

use super::entry::{Clock, Envelope, KeyHash, SharedEntry, HEALTH_TTL, PEER_TRIAL_WAIT, TURN_TTL};

pub struct Mirror {
    /// This router's id in the team (random per start).
    pub router: String,
    health: Arc<HealthBook>,
    credentials: Arc<Credentials>,
    config: Arc<ConfigStore>,
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
    ) -> Self {
        Self {
            router,
            health,
            credentials,
            config,
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
