//! Which API key a request to a provider carries. Env beats the secret store, which beats
//! keys still in the config file. A provider with several keys uses them in turn, skipping
//! a key for a minute after it drew a 429 and, with `maxTurns`, after it served that many
//! requests. Keys leave this module only as `SecretString`s.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, OnceLock, RwLock};
use std::time::Duration;

use secrecy::{ExposeSecret, SecretString};
use tokio::sync::mpsc;
use tokio::time::Instant;

use crate::engine::config::{EnvOverrides, Settings};
use crate::engine::providers::kiro::auth::sso_cache_refresh_token;
use crate::engine::secrets::{decode_keys, encode_keys, SecretError, SecretStore};

/// How long a key that drew a 429 is skipped when the pool has others.
pub const KEY_COOLDOWN: Duration = Duration::from_secs(60);
/// How long one look into the AWS SSO cache for a Kiro refresh token is trusted.
const SSO_CACHE_TTL: Duration = Duration::from_secs(30);

/// A key chosen for one request; `index` identifies it in its pool for `report_rate_limited`.
#[derive(Clone)]
pub struct KeyChoice {
    pub index: usize,
    pub key: SecretString,
}

#[derive(Debug, Default, Clone)]
struct PoolState {
    cursor: usize,
    uses: Vec<u32>,
    cooling_until: Vec<Option<Instant>>,
    /// Requests each key was chosen for since the pool was loaded (never reset by a round).
    served: Vec<u64>,
    last_rate_limited: Vec<Option<Instant>>,
}

/// How one key of a pool stands, for `GET /api/account-status`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AccountState {
    Active,
    /// Drew a 429; skipped until the instant.
    RateLimited(Instant),
    /// Served `maxTurns` requests in this round; used again when the round restarts.
    Resting,
}

/// One key of a provider's pool as the UI may see it: a masked hint, never the key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AccountView {
    pub index: usize,
    pub hint: String,
    pub state: AccountState,
    pub requests: u64,
    pub last_rate_limited: Option<Instant>,
}

impl PoolState {
    fn fit(&mut self, len: usize) {
        self.uses.resize(len, 0);
        self.cooling_until.resize(len, None);
        self.served.resize(len, 0);
        self.last_rate_limited.resize(len, None);
    }

    /// Pure: the state of key `i` at `now`.
    fn account_state(&self, i: usize, max_turns: Option<u32>, now: Instant) -> AccountState {
        match self.cooling_until.get(i).copied().flatten() {
            Some(until) if until > now => AccountState::RateLimited(until),
            _ if max_turns.is_some_and(|max| self.uses.get(i).copied().unwrap_or(0) >= max) => {
                AccountState::Resting
            }
            _ => AccountState::Active,
        }
    }

    /// Pure choice of the next key index in a pool of `len` keys.
    fn choose(&mut self, len: usize, max_turns: Option<u32>, now: Instant) -> usize {
        self.fit(len);
        let cooling =
            |state: &Self, i: usize| state.cooling_until[i].is_some_and(|until| until > now);
        let within_turns = |state: &Self, i: usize| max_turns.is_none_or(|max| state.uses[i] < max);
        let order: Vec<usize> = (0..len)
            .map(|offset| (self.cursor + offset) % len)
            .collect();
        let pick = order
            .iter()
            .copied()
            .find(|&i| !cooling(self, i) && within_turns(self, i))
            .or_else(|| {
                // Every usable key reached its turns: start a new round.
                if order.iter().any(|&i| !cooling(self, i)) {
                    self.uses.iter_mut().for_each(|u| *u = 0);
                    order.iter().copied().find(|&i| !cooling(self, i))
                } else {
                    None
                }
            })
            .unwrap_or_else(|| {
                // All cooling: the one that recovers first.
                order
                    .iter()
                    .copied()
                    .min_by_key(|&i| self.cooling_until[i])
                    .unwrap_or(0)
            });
        self.uses[pick] = self.uses[pick].saturating_add(1);
        self.served[pick] = self.served[pick].saturating_add(1);
        self.cursor = (pick + 1) % len;
        pick
    }
}

/// What this router's key pools did that its team should know (`engine::shared` carries it,
/// naming each key by a salted hash). Keys are named by their index in the provider's pool.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeyLearned {
    /// The key served a request (shared only for pools with `maxTurns`).
    Turn { index: usize },
    /// The key drew a 429 and is skipped until `until`.
    Cooling { index: usize, until: Instant },
}

/// The key store account of the generated `/v1` key (not a provider).
const ROUTER_KEY_ACCOUNT: &str = "modelrelay-router-api-key";

pub struct Credentials {
    env: EnvOverrides,
    store: Arc<dyn SecretStore>,
    stored: RwLock<HashMap<String, Vec<SecretString>>>,
    pools: Mutex<HashMap<String, PoolState>>,
    kiro_sso: Mutex<Option<(Instant, Option<SecretString>)>>,
    /// Providers whose key may come from a signed-in Kiro IDE (`Flavor::Kiro`).
    sso_cache_providers: Vec<String>,
    /// Where the pools' turns and 429s go when this router is part of a team.
    team: OnceLock<mpsc::UnboundedSender<(String, KeyLearned)>>,
}

impl std::fmt::Debug for Credentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Credentials")
            .field("store", &self.store.kind())
            .finish()
    }
}

impl Credentials {
    /// Reads the stored keys of `accounts` once; unreadable entries are logged and skipped.
    pub fn load(env: EnvOverrides, store: Arc<dyn SecretStore>, accounts: &[String]) -> Self {
        let mut stored = HashMap::new();
        for account in accounts {
            match store.get(account) {
                Ok(Some(secret)) => {
                    stored.insert(account.clone(), decode_keys(&secret));
                }
                Ok(None) => {}
                Err(error) => tracing::warn!("cannot read the key of `{account}`: {error}"),
            }
        }
        Self {
            env,
            store,
            stored: RwLock::new(stored),
            pools: Mutex::default(),
            kiro_sso: Mutex::default(),
            sso_cache_providers: Vec::new(),
            team: OnceLock::new(),
        }
    }

    /// Sends the pools' turns and 429s to `team` from now on (once; later calls are ignored).
    pub fn share_with(&self, team: mpsc::UnboundedSender<(String, KeyLearned)>) {
        let _ = self.team.set(team);
    }

    fn tell_team(&self, provider: &str, learned: KeyLearned) {
        if let Some(team) = self.team.get() {
            // The receiver ends only with the engine; nothing to do then.
            let _ = team.send((provider.to_string(), learned));
        }
    }

    /// The key at `index` of `provider`'s pool, for naming it to the team.
    pub fn key_at(
        &self,
        settings: &Settings,
        provider: &str,
        index: usize,
    ) -> Option<SecretString> {
        self.pool(settings, provider).into_iter().nth(index)
    }

    /// Every key still skipped after a 429: `(provider, index, until)`, replayed to the team
    /// after a reconnection.
    pub fn cooling_keys(&self, now: Instant) -> Vec<(String, usize, Instant)> {
        let pools = self.pools.lock().unwrap_or_else(|e| e.into_inner());
        pools
            .iter()
            .flat_map(|(provider, state)| {
                state
                    .cooling_until
                    .iter()
                    .enumerate()
                    .filter_map(move |(index, until)| {
                        until
                            .filter(|until| *until > now)
                            .map(|until| (provider.clone(), index, until))
                    })
            })
            .collect()
    }

    /// A peer used the key of `provider`'s pool that `is_key` picks: it counts towards that
    /// key's `maxTurns` here too.
    pub fn apply_peer_turn(
        &self,
        settings: &Settings,
        provider: &str,
        is_key: &dyn Fn(&SecretString) -> bool,
    ) {
        let pool = self.pool(settings, provider);
        let Some(index) = pool.iter().position(is_key) else {
            return;
        };
        let mut pools = self.pools.lock().unwrap_or_else(|e| e.into_inner());
        let state = pools.entry(provider.to_string()).or_default();
        state.uses.resize(pool.len(), 0);
        state.uses[index] = state.uses[index].saturating_add(1);
    }

    /// The index in `provider`'s pool of the key `is_key` picks (a peer named it by hash).
    pub fn index_of(
        &self,
        settings: &Settings,
        provider: &str,
        is_key: &dyn Fn(&SecretString) -> bool,
    ) -> Option<usize> {
        self.pool(settings, provider).iter().position(is_key)
    }

    /// A peer drew a 429 with the key `is_key` picks: skip it here too until `until`.
    pub fn apply_peer_key_cooling(
        &self,
        settings: &Settings,
        provider: &str,
        is_key: &dyn Fn(&SecretString) -> bool,
        until: Instant,
    ) {
        let pool = self.pool(settings, provider);
        let Some(index) = pool.iter().position(is_key) else {
            return;
        };
        let mut pools = self.pools.lock().unwrap_or_else(|e| e.into_inner());
        let state = pools.entry(provider.to_string()).or_default();
        state.cooling_until.resize(pool.len().max(index + 1), None);
        let current = state.cooling_until[index];
        state.cooling_until[index] = Some(current.map_or(until, |c| c.max(until)));
    }

    /// Lets `providers` (the Kiro-flavoured ones) fall back to the Kiro IDE's SSO cache.
    pub fn with_sso_cache_providers(mut self, providers: Vec<String>) -> Self {
        self.sso_cache_providers = providers;
        self
    }

    /// A refresh token a signed-in Kiro IDE left in the AWS SSO cache, read at most every 30 s.
    fn kiro_sso_token(&self) -> Option<SecretString> {
        let dir = self.env.sso_cache_dir.as_deref()?;
        let mut cached = self.kiro_sso.lock().unwrap_or_else(|e| e.into_inner());
        let now = Instant::now();
        match &*cached {
            Some((at, token)) if now.duration_since(*at) < SSO_CACHE_TTL => token.clone(),
            _ => {
                let token = sso_cache_refresh_token(dir);
                *cached = Some((now, token.clone()));
                token
            }
        }
    }

    /// The `/v1` key made for a network bind, kept in the key store so agents set up with it
    /// keep working after a restart.
    pub fn saved_router_key(&self) -> Option<String> {
        match self.store.get(ROUTER_KEY_ACCOUNT) {
            Ok(Some(key)) => Some(key.expose_secret().to_string()).filter(|k| !k.is_empty()),
            Ok(None) => None,
            Err(error) => {
                tracing::warn!("cannot read the saved router key: {error}");
                None
            }
        }
    }

    pub fn save_router_key(&self, key: &str) -> Result<(), SecretError> {
        self.store
            .set(ROUTER_KEY_ACCOUNT, &SecretString::from(key.to_string()))
    }

    /// `keychain`, `file` or `memory`.
    pub fn store_kind(&self) -> &'static str {
        self.store.kind()
    }

    fn pool(&self, settings: &Settings, provider: &str) -> Vec<SecretString> {
        if let Some(key) = self.env.keys.get(provider) {
            return vec![key.clone()];
        }
        let stored = self.stored.read().unwrap_or_else(|e| e.into_inner());
        if let Some(keys) = stored.get(provider).filter(|k| !k.is_empty()) {
            return keys.clone();
        }
        drop(stored);
        if self.sso_cache_providers.iter().any(|p| p == provider) {
            if let Some(token) = self.kiro_sso_token() {
                return vec![token];
            }
        }
        settings
            .api_keys
            .get(provider)
            .map(|keys| keys.0.clone())
            .unwrap_or_default()
    }

    /// Whether `provider` has a key, from the same sources as `pool` without copying any
    /// (planning asks for every row on every request).
    pub fn has_key(&self, settings: &Settings, provider: &str) -> bool {
        if self.env.keys.contains_key(provider) {
            return true;
        }
        let stored = self.stored.read().unwrap_or_else(|e| e.into_inner());
        if stored.get(provider).is_some_and(|k| !k.is_empty()) {
            return true;
        }
        drop(stored);
        if self.sso_cache_providers.iter().any(|p| p == provider) && self.kiro_sso_token().is_some()
        {
            return true;
        }
        settings
            .api_keys
            .get(provider)
            .is_some_and(|keys| !keys.0.is_empty())
    }

    /// The first key, without advancing the rotation (for discovery and probes).
    pub fn peek_key(&self, settings: &Settings, provider: &str) -> Option<SecretString> {
        self.pool(settings, provider).into_iter().next()
    }

    /// The key for the next request to `provider`.
    pub fn key_for(&self, settings: &Settings, provider: &str, now: Instant) -> Option<KeyChoice> {
        let pool = self.pool(settings, provider);
        match pool.len() {
            0 => None,
            1 => {
                // No choice to make; only counted for the account view.
                let mut pools = self.pools.lock().unwrap_or_else(|e| e.into_inner());
                let state = pools.entry(provider.to_string()).or_default();
                state.fit(1);
                state.served[0] = state.served[0].saturating_add(1);
                Some(KeyChoice {
                    index: 0,
                    key: pool[0].clone(),
                })
            }
            len => {
                let max_turns = max_turns(settings, provider);
                let mut pools = self.pools.lock().unwrap_or_else(|e| e.into_inner());
                let index = pools
                    .entry(provider.to_string())
                    .or_default()
                    .choose(len, max_turns, now);
                drop(pools);
                if max_turns.is_some() {
                    self.tell_team(provider, KeyLearned::Turn { index });
                }
                Some(KeyChoice {
                    index,
                    key: pool[index].clone(),
                })
            }
        }
    }

    /// A key drew a 429: skip it for `KEY_COOLDOWN` while its pool has others.
    pub fn report_rate_limited(&self, provider: &str, index: usize, now: Instant) {
        let mut pools = self.pools.lock().unwrap_or_else(|e| e.into_inner());
        let state = pools.entry(provider.to_string()).or_default();
        if state.cooling_until.len() <= index {
            state.fit(index + 1);
        }
        state.cooling_until[index] = Some(now + KEY_COOLDOWN);
        state.last_rate_limited[index] = Some(now);
        drop(pools);
        self.tell_team(
            provider,
            KeyLearned::Cooling {
                index,
                until: now + KEY_COOLDOWN,
            },
        );
    }

    /// Every key of `provider`'s pool (none when it has no key), with masked hints only.
    pub fn accounts(&self, settings: &Settings, provider: &str, now: Instant) -> Vec<AccountView> {
        let pool = self.pool(settings, provider);
        let mut state = self
            .pools
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .get(provider)
            .cloned()
            .unwrap_or_default();
        state.fit(pool.len().max(state.served.len()));
        let max_turns = max_turns(settings, provider).filter(|_| pool.len() > 1);
        pool.iter()
            .enumerate()
            .map(|(index, key)| AccountView {
                index,
                hint: mask(key.expose_secret()),
                state: state.account_state(index, max_turns, now),
                requests: state.served[index],
                last_rate_limited: state.last_rate_limited[index],
            })
            .collect()
    }

    /// Stores keys for `provider` (replacing any), in the secret store and this cache.
    pub fn set_keys(&self, provider: &str, keys: Vec<SecretString>) -> Result<(), SecretError> {
        if keys.is_empty() {
            return self.delete_keys(provider);
        }
        self.store.set(provider, &encode_keys(&keys))?;
        self.stored
            .write()
            .unwrap_or_else(|e| e.into_inner())
            .insert(provider.to_string(), keys);
        self.pools
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .remove(provider);
        Ok(())
    }

    /// Every stored key (not env ones), for a config export.
    pub fn stored_keys(&self) -> Vec<(String, Vec<SecretString>)> {
        let mut keys: Vec<_> = self
            .stored
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .iter()
            .filter(|(_, keys)| !keys.is_empty())
            .map(|(account, keys)| (account.clone(), keys.clone()))
            .collect();
        keys.sort_by(|a, b| a.0.cmp(&b.0));
        keys
    }

    pub fn delete_keys(&self, provider: &str) -> Result<(), SecretError> {
        self.store.delete(provider)?;
        self.stored
            .write()
            .unwrap_or_else(|e| e.into_inner())
            .remove(provider);
        Ok(())
    }

    /// Whether a key is set and where it comes from, with at most its last four characters.
    pub fn key_status(&self, settings: &Settings, provider: &str) -> KeyStatus {
        let source = if self.env.keys.contains_key(provider) {
            Some("env")
        } else if self
            .stored
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .get(provider)
            .is_some_and(|k| !k.is_empty())
        {
            Some(self.store.kind())
        } else if settings
            .api_keys
            .get(provider)
            .is_some_and(|k| !k.is_empty())
        {
            Some("config")
        } else {
            None
        };
        let pool = self.pool(settings, provider);
        KeyStatus {
            set: !pool.is_empty(),
            source,
            count: pool.len(),
            hint: pool.first().map(|key| mask(key.expose_secret())),
        }
    }
}

/// `providers.<key>.maxTurns`, when set above zero.
pub fn max_turns(settings: &Settings, provider: &str) -> Option<u32> {
    settings
        .provider(provider)
        .and_then(|p| p.max_turns)
        .filter(|&n| n > 0)
}

/// What the UI may know about a provider's key: never the key.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct KeyStatus {
    pub set: bool,
    pub source: Option<&'static str>,
    pub count: usize,
    pub hint: Option<String>,
}

/// `sk-…abcd` for keys long enough that four characters reveal nothing useful.
pub fn mask(key: &str) -> String {
    let chars: Vec<char> = key.chars().collect();
    if chars.len() < 12 {
        "…".into()
    } else {
        format!("…{}", chars[chars.len() - 4..].iter().collect::<String>())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::config::EnvSource;
    use crate::engine::secrets::MemoryStore;
    use serde_json::json;

    fn settings(value: serde_json::Value) -> Settings {
        Settings::from_json(value.as_object().unwrap()).unwrap()
    }

    fn credentials() -> Credentials {
        Credentials::load(EnvOverrides::default(), Arc::new(MemoryStore::new()), &[])
    }

    fn take(credentials: &Credentials, settings: &Settings, n: usize, now: Instant) -> Vec<String> {
        (0..n)
            .map(|_| {
                credentials
                    .key_for(settings, "groq", now)
                    .unwrap()
                    .key
                    .expose_secret()
                    .to_string()
            })
            .collect()
    }

    #[test]
    fn several_keys_are_used_in_turn() {
        let settings = settings(json!({"apiKeys": {"groq": ["a", "b"]}}));
        assert_eq!(
            take(&credentials(), &settings, 3, Instant::now()),
            ["a", "b", "a"]
        );
    }

    #[test]
    fn a_rate_limited_key_is_skipped_until_its_cooldown_ends() {
        let settings = settings(json!({"apiKeys": {"groq": ["a", "b", "c"]}}));
        let credentials = credentials();
        let now = Instant::now();
        credentials.report_rate_limited("groq", 1, now);
        assert_eq!(take(&credentials, &settings, 3, now), ["a", "c", "a"]);
        let later = now + KEY_COOLDOWN;
        assert!(take(&credentials, &settings, 3, later).contains(&"b".to_string()));
    }

    #[test]
    fn max_turns_caps_each_key_then_starts_a_new_round() {
        let settings = settings(
            json!({"apiKeys": {"groq": ["a", "b"]}, "providers": {"groq": {"maxTurns": 2}}}),
        );
        let credentials = credentials();
        let now = Instant::now();
        credentials.report_rate_limited("groq", 1, now);
        assert_eq!(take(&credentials, &settings, 4, now), ["a", "a", "a", "a"]);
    }

    #[test]
    fn when_every_key_cools_down_the_first_to_recover_is_used() {
        let settings = settings(json!({"apiKeys": {"groq": ["a", "b"]}}));
        let credentials = credentials();
        let now = Instant::now();
        credentials.report_rate_limited("groq", 0, now + Duration::from_secs(5));
        credentials.report_rate_limited("groq", 1, now);
        assert_eq!(take(&credentials, &settings, 1, now), ["b"]);
    }

    #[test]
    fn env_beats_store_beats_file() {
        let store = Arc::new(MemoryStore::new());
        store
            .set("groq", &SecretString::from("from-store"))
            .unwrap();
        let settings = settings(json!({"apiKeys": {"groq": "from-file", "nvidia": "nv-file"}}));
        let plain = Credentials::load(EnvOverrides::default(), store.clone(), &["groq".into()]);
        assert_eq!(
            plain.peek_key(&settings, "groq").unwrap().expose_secret(),
            "from-store"
        );
        assert_eq!(
            plain.peek_key(&settings, "nvidia").unwrap().expose_secret(),
            "nv-file"
        );
        let env = EnvOverrides::read(
            &EnvSource::from_pairs([("GROQ_API_KEY", "from-env")]),
            &[("groq", "GROQ_API_KEY")],
        );
        let with_env = Credentials::load(env, store, &["groq".into()]);
        assert_eq!(
            with_env
                .peek_key(&settings, "groq")
                .unwrap()
                .expose_secret(),
            "from-env"
        );
        assert_eq!(with_env.key_status(&settings, "groq").source, Some("env"));
    }

    #[test]
    fn set_and_delete_go_through_the_store() {
        let store = Arc::new(MemoryStore::new());
        let credentials = Credentials::load(EnvOverrides::default(), store.clone(), &[]);
        credentials
            .set_keys("groq", vec![SecretString::from("gsk_0123456789abcd")])
            .unwrap();
        let status = credentials.key_status(&Settings::default(), "groq");
        assert_eq!(
            (status.source, status.count, status.hint.as_deref()),
            (Some("memory"), 1, Some("…abcd"))
        );
        assert!(store.get("groq").unwrap().is_some());
        credentials.delete_keys("groq").unwrap();
        assert!(!credentials.has_key(&Settings::default(), "groq"));
        assert!(store.get("groq").unwrap().is_none());
    }

    #[test]
    fn accounts_show_hints_requests_and_states_never_keys() {
        let settings = settings(json!({
            "apiKeys": {"groq": ["gsk_first_key_0001", "gsk_second_key_0002"]},
            "providers": {"groq": {"maxTurns": 1}},
        }));
        let credentials = credentials();
        let now = Instant::now();
        take(&credentials, &settings, 1, now);
        credentials.report_rate_limited("groq", 1, now);
        let accounts = credentials.accounts(&settings, "groq", now);
        assert_eq!(accounts.len(), 2);
        assert_eq!(
            (
                accounts[0].hint.as_str(),
                accounts[0].requests,
                accounts[0].state
            ),
            ("…0001", 1, AccountState::Resting)
        );
        assert_eq!(
            accounts[1].state,
            AccountState::RateLimited(now + KEY_COOLDOWN)
        );
        assert_eq!(accounts[1].last_rate_limited, Some(now));
        assert!(!format!("{accounts:?}").contains("gsk_"));
        assert!(credentials.accounts(&settings, "nvidia", now).is_empty());
    }

    #[test]
    fn short_keys_are_not_hinted() {
        assert_eq!(mask("abc"), "…");
        assert_eq!(mask("sk-1234567890wxyz"), "…wxyz");
    }
}
