//! `GET /api/account-status`: every provider that has keys, one row per key of its pool —
//! a masked hint, its state, requests served, the last 429. Never a key.

use std::sync::Arc;

use axum::extract::State;
use axum::Json;
use serde_json::{json, Value};
use tokio::time::Instant;

use crate::engine::credentials::{max_turns, AccountState};
use crate::engine::state::AppState;

use super::views::seconds;

pub fn account_status(state: &AppState) -> Value {
    let now = Instant::now();
    let settings = state.config.settings();
    let catalog = state.catalog.current();
    let providers: Vec<Value> = catalog
        .providers
        .iter()
        .filter_map(|provider| {
            let accounts = state.credentials.accounts(&settings, &provider.key, now);
            if accounts.is_empty() {
                return None;
            }
            let rows: Vec<Value> = accounts
                .iter()
                .map(|account| {
                    let (name, resets) = match account.state {
                        AccountState::Active => ("active", None),
                        AccountState::RateLimited(until) => (
                            "rate_limited",
                            Some(seconds(until.saturating_duration_since(now))),
                        ),
                        AccountState::Resting => ("resting", None),
                    };
                    json!({
                        "index": account.index,
                        "hint": account.hint,
                        "state": name,
                        "resetsInSeconds": resets,
                        "requests": account.requests,
                        "lastRateLimitedSecondsAgo": account
                            .last_rate_limited
                            .map(|at| seconds(now.saturating_duration_since(at))),
                    })
                })
                .collect();
            Some(json!({
                "key": provider.key,
                "name": provider.name,
                "enabled": provider.enabled,
                "source": state.credentials.key_status(&settings, &provider.key).source,
                "keyCount": accounts.len(),
                "maxTurns": max_turns(&settings, &provider.key),
                "accounts": rows,
            }))
        })
        .collect();
    json!({"providers": providers})
}

pub async fn get_account_status(State(state): State<Arc<AppState>>) -> Json<Value> {
    Json(account_status(&state))
}
