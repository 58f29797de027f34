//! `GET /api/events`: live updates pushed to the page as Server-Sent Events. Rankings are
//! sent at most once a second, whenever health, catalog or settings change; log entries as
//! they happen.

use std::collections::VecDeque;
use std::convert::Infallible;
use std::sync::Arc;
use std::time::Duration;

use axum::extract::State;
use axum::response::sse::{Event, KeepAlive, Sse};
use futures_util::Stream;
use tokio::sync::{broadcast, watch};
use tokio::time::Instant;

use crate::engine::catalog::Catalog;
use crate::engine::config::Settings;
use crate::engine::requestlog::LogEntry;
use crate::engine::state::AppState;

use super::views;

const MODELS_EVERY: Duration = Duration::from_secs(1);

struct Feed {
    state: Arc<AppState>,
    health: watch::Receiver<u64>,
    catalog: watch::Receiver<Arc<Catalog>>,
    settings: watch::Receiver<Arc<Settings>>,
    log: broadcast::Receiver<LogEntry>,
    queue: VecDeque<Event>,
    models_due: bool,
    last_models: Instant,
}

fn event(name: &str, data: &serde_json::Value) -> Event {
    Event::default().event(name).data(data.to_string())
}

impl Feed {
    async fn next(&mut self) -> Option<Event> {
        loop {
            if let Some(event) = self.queue.pop_front() {
                return Some(event);
            }
            let send_models_at = self.last_models + MODELS_EVERY;
            tokio::select! {
                () = self.state.shutdown.cancelled() => return None,
                changed = self.health.changed() => { changed.ok()?; self.models_due = true; }
                changed = self.catalog.changed() => {
                    changed.ok()?;
                    self.models_due = true;
                    self.queue.push_back(event("providers", &views::providers(&self.state)));
                }
                changed = self.settings.changed() => {
                    changed.ok()?;
                    self.models_due = true;
                    self.queue.push_back(event("providers", &views::providers(&self.state)));
                    self.queue.push_back(event("settings", &views::settings(&self.state)));
                }
                entry = self.log.recv() => match entry {
                    Ok(entry) => self.queue.push_back(event("log", &serde_json::json!(entry))),
                    Err(broadcast::error::RecvError::Lagged(_)) => {}
                    Err(broadcast::error::RecvError::Closed) => return None,
                },
                () = tokio::time::sleep_until(send_models_at), if self.models_due => {
                    self.models_due = false;
                    self.last_models = Instant::now();
                    self.queue.push_back(event("models", &views::models(&self.state)));
                }
            }
        }
    }
}

pub async fn events(
    State(state): State<Arc<AppState>>,
) -> Sse<impl Stream<Item = Result<Event, Infallible>>> {
    let feed = Feed {
        health: state.health.subscribe(),
        catalog: state.catalog.subscribe(),
        settings: state.config.subscribe(),
        log: state.log.subscribe(),
        queue: VecDeque::from([
            event("providers", &views::providers(&state)),
            event("settings", &views::settings(&state)),
            event("models", &views::models(&state)),
        ]),
        models_due: false,
        last_models: Instant::now(),
        state,
    };
    let stream = futures_util::stream::unfold(feed, |mut feed| async move {
        feed.next().await.map(|event| (Ok(event), feed))
    });
    Sse::new(stream).keep_alive(
        KeepAlive::new()
            .interval(Duration::from_secs(15))
            .text("keep-alive"),
    )
}
