//! The connection to the team's Redis: connect (pub/sub plus a connection manager for
//! commands), catch up (load stored entries, send this router's live state), then relay —
//! peers' entries in, this router's findings out — until the connection drops; then reconnect
//! with backoff while routing goes on locally. The only task that waits on Redis.

use std::sync::Arc;
use std::time::Duration;

use futures_util::StreamExt;
use redis::aio::{ConnectionManager, ConnectionManagerConfig, PubSubStream};
use redis::{ErrorKind, RedisError};
use secrecy::ExposeSecret;
use tokio::sync::mpsc::UnboundedReceiver;
use tokio_util::sync::CancellationToken;

use crate::engine::credentials::KeyLearned;
use crate::engine::health::{Learned, PaceKey};

use super::entry::{Clock, Envelope, Names, SharedEntry};
use super::mirror::Mirror;
use super::target::{scrub, RedisTarget};
use super::SharedState;

const CONNECT_TIMEOUT: Duration = Duration::from_secs(3);
const RESPONSE_TIMEOUT: Duration = Duration::from_secs(2);
const FIRST_BACKOFF: Duration = Duration::from_millis(500);
const LONGEST_BACKOFF: Duration = Duration::from_secs(5);
/// How often changed row numbers go out, and how often the link is checked.
const TICK: Duration = Duration::from_secs(1);
/// Ticks between pings that notice a silently dead connection.
const PING_EVERY: u32 = 5;

pub(super) struct Link {
    pub shared: Arc<SharedState>,
    pub mirror: Arc<Mirror>,
    pub book: UnboundedReceiver<Learned>,
    pub keys: UnboundedReceiver<(String, KeyLearned)>,
    pub paces: UnboundedReceiver<PaceKey>,
}

/// A live connection: commands, the subscription, and the team's salt for key hashes.
struct Session {
    manager: ConnectionManager,
    messages: PubSubStream,
    salt: String,
    names: Names,
}

/// The words every refused-login error carries (the one failure worth a warning each time it
/// changes: it does not heal by waiting).
pub(super) const LOGIN_REFUSED: &str = "refused the login";

/// What a Redis error means for the person reading the log, without the password.
fn describe(error: &RedisError, target: &RedisTarget) -> String {
    let code = error.code().unwrap_or("");
    let text = if error.kind() == ErrorKind::AuthenticationFailed
        || matches!(code, "WRONGPASS" | "NOAUTH")
    {
        format!(
            "Redis at {} {LOGIN_REFUSED} ({error}); fix the password in `sharedState.redisUrl` (kept in the key store) or `MODELRELAY_REDIS_URL`",
            target.shown
        )
    } else if error.is_connection_refusal() {
        format!(
            "Redis at {} refused the connection ({error}); is it running there?",
            target.shown
        )
    } else {
        format!("Redis at {}: {error}", target.shown)
    };
    scrub(&text, target)
}

fn timed_out(target: &RedisTarget) -> String {
    format!(
        "Redis at {} did not answer within {} s",
        target.shown,
        CONNECT_TIMEOUT.as_secs()
    )
}

/// `future` within the connect timeout, its error described for the log.
async fn within<T>(
    target: &RedisTarget,
    future: impl std::future::Future<Output = Result<T, RedisError>>,
) -> Result<T, String> {
    match tokio::time::timeout(CONNECT_TIMEOUT, future).await {
        Ok(result) => result.map_err(|error| describe(&error, target)),
        Err(_) => Err(timed_out(target)),
    }
}

impl Session {
    async fn open(target: &RedisTarget) -> Result<Self, String> {
        let describe = |error: RedisError| describe(&error, target);
        let names = Names::new(&target.namespace);
        let client = redis::Client::open(target.url.expose_secret()).map_err(describe)?;
        let mut pubsub = within(target, client.get_async_pubsub()).await?;
        within(target, pubsub.subscribe(names.channel())).await?;
        let config = ConnectionManagerConfig::new()
            .set_connection_timeout(Some(CONNECT_TIMEOUT))
            .set_response_timeout(Some(RESPONSE_TIMEOUT))
            .set_number_of_retries(1);
        let mut manager =
            within(target, ConnectionManager::new_with_config(client, config)).await?;
        // The first router to connect makes the team's salt; everyone uses that one.
        let fresh = uuid::Uuid::new_v4().simple().to_string();
        let _: Option<String> = redis::cmd("SET")
            .arg(names.salt())
            .arg(&fresh)
            .arg("NX")
            .query_async(&mut manager)
            .await
            .map_err(describe)?;
        let salt: Option<String> = redis::cmd("GET")
            .arg(names.salt())
            .query_async(&mut manager)
            .await
            .map_err(describe)?;
        Ok(Self {
            manager,
            messages: pubsub.into_on_message(),
            salt: salt.unwrap_or(fresh),
            names,
        })
    }

    /// Stores (with its TTL) and publishes one entry. A failed write is dropped: the book
    /// keeps what it describes and `replay` sends it after the next reconnection.
    async fn write(&mut self, from: &str, entry: SharedEntry, clock: Clock) {
        let envelope = Envelope {
            from: from.to_string(),
            sent_ms: clock.unix_ms,
            entry,
        };
        let Ok(text) = serde_json::to_string(&envelope) else {
            return;
        };
        let mut pipe = redis::pipe();
        if let Some(ttl) = envelope.entry.ttl(clock.unix_ms) {
            let key = self.names.entry(&envelope.entry.id(from));
            let ttl_ms = u64::try_from(ttl.as_millis()).unwrap_or(u64::MAX).max(1);
            pipe.cmd("SET")
                .arg(key)
                .arg(&text)
                .arg("PX")
                .arg(ttl_ms)
                .ignore();
        }
        pipe.cmd("PUBLISH")
            .arg(self.names.channel())
            .arg(&text)
            .ignore();
        if let Err(error) = pipe.query_async::<()>(&mut self.manager).await {
            tracing::debug!("shared state: an entry was not written: {error}");
        }
    }

    /// Every entry the team stored, for a router that just (re)connected.
    async fn stored(&mut self) -> Result<Vec<Envelope>, RedisError> {
        let mut cursor: u64 = 0;
        let mut keys: Vec<String> = Vec::new();
        loop {
            let (next, batch): (u64, Vec<String>) = redis::cmd("SCAN")
                .arg(cursor)
                .arg("MATCH")
                .arg(self.names.entries())
                .arg("COUNT")
                .arg(500)
                .query_async(&mut self.manager)
                .await?;
            keys.extend(batch);
            cursor = next;
            if cursor == 0 {
                break;
            }
        }
        let mut envelopes = Vec::new();
        for chunk in keys.chunks(200) {
            let values: Vec<Option<String>> = redis::cmd("MGET")
                .arg(chunk)
                .query_async(&mut self.manager)
                .await?;
            envelopes.extend(
                values
                    .into_iter()
                    .flatten()
                    .filter_map(|text| serde_json::from_str::<Envelope>(&text).ok()),
            );
        }
        Ok(envelopes)
    }
}

/// Why a session ended.
enum Ended {
    Shutdown,
    Lost(String),
}

impl Link {
    pub(super) async fn run(mut self, shutdown: CancellationToken) {
        let shared = self.shared.clone();
        let Some(target) = shared.target.as_ref() else {
            return;
        };
        let mut backoff = FIRST_BACKOFF;
        loop {
            let opened = tokio::select! {
                () = shutdown.cancelled() => return,
                opened = Session::open(target) => opened,
            };
            match opened {
                Ok(session) => {
                    backoff = FIRST_BACKOFF;
                    self.shared.set_connected(session.manager.clone());
                    self.mirror.link_changed();
                    match self.serve(session, target, &shutdown).await {
                        Ended::Shutdown => return,
                        Ended::Lost(error) => self.shared.set_failed(error),
                    }
                }
                Err(error) => self.shared.set_failed(error),
            }
            self.mirror.link_changed();
            // Apart from the team: findings are dropped here (the book and pools keep them,
            // and `replay` sends what is still live once connected again).
            let pause = tokio::time::sleep(backoff);
            tokio::pin!(pause);
            loop {
                tokio::select! {
                    () = shutdown.cancelled() => return,
                    () = &mut pause => break,
                    Some(_) = self.book.recv() => {}
                    Some(_) = self.keys.recv() => {}
                    Some(_) = self.paces.recv() => {}
                }
            }
            backoff = (backoff * 2).min(LONGEST_BACKOFF);
        }
    }

    async fn serve(
        &mut self,
        mut session: Session,
        target: &RedisTarget,
        shutdown: &CancellationToken,
    ) -> Ended {
        let router = self.mirror.router.clone();
        // Catch up: what the team stored while this router was away, then what it learned.
        let clock = Clock::now();
        match session.stored().await {
            Ok(envelopes) => {
                for envelope in envelopes {
                    self.mirror.apply(&session.salt, envelope, clock);
                }
            }
            Err(error) => return Ended::Lost(describe(&error, target)),
        }
        for entry in self.mirror.replay(&session.salt, clock) {
            session.write(&router, entry, clock).await;
        }
        let mut tick = tokio::time::interval(TICK);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let mut ticks: u32 = 0;
        loop {
            tokio::select! {
                () = shutdown.cancelled() => return Ended::Shutdown,
                message = session.messages.next() => {
                    let Some(message) = message else {
                        return Ended::Lost(format!("the connection to Redis at {} was lost", target.shown));
                    };
                    match serde_json::from_slice::<Envelope>(message.get_payload_bytes()) {
                        Ok(envelope) => {
                            self.mirror.apply(&session.salt, envelope, Clock::now());
                        }
                        Err(error) => tracing::debug!("shared state: an unreadable entry was ignored: {error}"),
                    }
                }
                Some(learned) = self.book.recv() => {
                    let clock = Clock::now();
                    let entry = self.mirror.from_book(&session.salt, learned, clock);
                    session.write(&router, entry, clock).await;
                }
                Some((provider, learned)) = self.keys.recv() => {
                    let clock = Clock::now();
                    if let Some(entry) = self.mirror.from_keys(&session.salt, provider, learned, clock) {
                        session.write(&router, entry, clock).await;
                    }
                }
                Some(window) = self.paces.recv() => {
                    let clock = Clock::now();
                    let entry = self.mirror.from_pace(&session.salt, window, clock);
                    session.write(&router, entry, clock).await;
                }
                _ = tick.tick() => {
                    let clock = Clock::now();
                    for entry in self.mirror.changed_summaries(clock) {
                        session.write(&router, entry, clock).await;
                    }
                    ticks = ticks.wrapping_add(1);
                    if ticks.is_multiple_of(PING_EVERY) {
                        let ping = redis::cmd("PING").query_async::<String>(&mut session.manager).await;
                        if let Err(error) = ping {
                            return Ended::Lost(describe(&error, target));
                        }
                    }
                }
            }
        }
    }
}
