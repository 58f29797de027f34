//! Read-only views of the engine for the UI: rankings with live metrics, providers with key
//! status (never a key), settings, status. Built fresh from state on each call.

use std::time::Duration;

use serde_json::{json, Value};
use tokio::time::Instant;

use crate::engine::catalog::Catalog;
use crate::engine::config::{PinningMode, Settings};
use crate::engine::health::scoring::{
    expected_ms, PRIOR_TOKENS_PER_SECOND, REFERENCE_OUTPUT_TOKENS,
};
use crate::engine::health::stats::{SampleOutcome, MIN_TIMED_TOKENS};
use crate::engine::health::{Admission, RowHealthView, Window};
use crate::engine::providers::endpoints::OPENAI_COMPATIBLE_PREFIX;
use crate::engine::providers::{AuthMode, Listing, ModelRow};
use crate::engine::routing::plan::is_banned;
use crate::engine::routing::{pinned_rows, plan_request, Needs};
use crate::engine::routing::{Selector, Target};
use crate::engine::state::AppState;

pub(super) fn seconds(duration: Duration) -> f64 {
    (duration.as_secs_f64() * 10.0).round() / 10.0
}

fn window_name(window: Window) -> &'static str {
    match window {
        Window::Minute => "minute",
        Window::Day => "day",
    }
}

/// The row ids of the current `auto-fastest` order (pin and quality floor applied).
pub fn auto_fastest_order(
    state: &AppState,
    settings: &Settings,
    catalog: &Catalog,
    now: Instant,
) -> Vec<String> {
    let selector = Selector {
        target: Target::AutoFastest,
        min_context: None,
    };
    plan_request(
        state,
        settings,
        catalog,
        &selector,
        Needs::default(),
        &catalog.rows,
        now,
        None,
    )
    .candidates
    .iter()
    .map(|c| c.row.row_id())
    .collect()
}

fn status(
    state: &AppState,
    settings: &Settings,
    row: &ModelRow,
    health: &RowHealthView,
    now: Instant,
) -> &'static str {
    let provider = &row.provider;
    if is_banned(row, &settings.banned_models) || is_banned(row, &state.cli_bans) {
        "banned"
    } else if !provider.enabled {
        "disabled"
    } else if settings.excluded_providers.contains(&provider.key) {
        "excluded"
    } else if provider.auth == AuthMode::Required
        && !state.credentials.has_key(settings, &provider.key)
    {
        "no_key"
    } else if row.is_unlisted() || health.retired.is_some() {
        "retired"
    } else if health.condition.cooling(now).is_some() {
        "rate_limited"
    } else if health.condition.admission == Admission::No {
        "failing"
    } else {
        match health
            .samples
            .iter()
            .rev()
            .find(|s| s.outcome != SampleOutcome::RateLimited)
        {
            None => "pending",
            Some(sample) if sample.outcome == SampleOutcome::Success => "up",
            Some(_) => "down",
        }
    }
}

/// Why a row is retired, when it is: its provider's list omits it (with when a list last had
/// it), or the provider answered that the model is gone (with how long the retirement runs).
fn retirement_view(row: &ModelRow, health: &RowHealthView, now: Instant) -> Value {
    if let Some(retired) = &health.retired {
        return json!({
            "reason": "model_gone",
            "message": retired.message,
            "secondsAgo": seconds(now.saturating_duration_since(retired.since)),
            "forSeconds": seconds(retired.until.saturating_duration_since(now)),
        });
    }
    match row.listing {
        Listing::NotListed { last_seen } => json!({
            "reason": "not_listed",
            "message": "the provider's model list no longer has this model",
            "lastSeen": last_seen,
        }),
        Listing::Unknown | Listing::Listed => Value::Null,
    }
}

fn row_view(
    state: &AppState,
    settings: &Settings,
    row: &ModelRow,
    rank: Option<usize>,
    pinned: bool,
    now: Instant,
) -> Value {
    let health = state.health.view(row, now);
    let condition = &health.condition;
    let cooling = condition.cooling(now);
    let rate = health.last_rate.as_ref();
    let last_success = health
        .samples
        .iter()
        .rev()
        .find(|s| s.outcome == SampleOutcome::Success);
    let samples: Vec<Value> = health
        .samples
        .iter()
        .rev()
        .map(|s| {
            json!({
                "secondsAgo": seconds(now.saturating_duration_since(s.at)),
                "source": s.source,
                "outcome": s.outcome,
                "ttftMs": s.ttft_ms,
                "totalMs": s.total_ms,
                "status": s.status,
            })
        })
        .collect();
    json!({
        "id": row.row_id(),
        "provider": row.provider.key,
        "providerName": row.provider.name,
        "modelId": row.upstream_id,
        "group": row.group,
        "name": row.name,
        "status": status(state, settings, row, &health, now),
        "listing": match row.listing {
            Listing::Unknown => "unknown",
            Listing::Listed => "listed",
            Listing::NotListed { .. } => "not_listed",
        },
        "retired": retirement_view(row, &health, now),
        "rank": rank.map(|r| r + 1),
        "expectedMs": condition.is_measured().then(|| (expected_ms(condition) * 10.0).round() / 10.0),
        // Honest labels for `expectedMs`: whether its throughput was measured or assumed.
        "expectedBasis": condition.is_measured().then(|| if condition.tokens_per_second.is_some() { "measured" } else { "assumed-throughput" }),
        "lastTotalMs": last_success.and_then(|s| s.total_ms).map(f64::round),
        "lastTokens": last_success.and_then(|s| s.tokens),
        "ttftMs": condition.ttft_ms.map(|v| v.round()),
        "ttftP95Ms": condition.ttft_p95_ms.map(|v| v.round()),
        "continuation": state.health.continuation(row).name(),
        "tokensPerSecond": condition.tokens_per_second.map(|v| v.round()),
        "uptime": health.uptime,
        "errorRate": (condition.error_rate * 1000.0).round() / 1000.0,
        "rateLimit": {
            "coolingForSeconds": cooling.map(|(until, _)| seconds(until.saturating_duration_since(now))),
            "window": cooling.map(|(_, w)| window_name(w)),
            "remainingRequests": rate.and_then(|r| r.remaining_requests),
            "limitRequests": rate.and_then(|r| r.limit_requests),
            "pacedPerMinute": state.pacer.limit(row, 0),
        },
        "score": row.score,
        "scoreSource": row.score_source,
        "provenance": row.provenance,
        "context": row.context,
        "tools": row.tools,
        "vision": row.vision,
        "builtInTags": row.tags,
        "userTags": crate::engine::routing::tags::user_tags(row, &settings.model_tags),
        "tags": crate::engine::routing::tags::all_tags(row, &settings.model_tags),
        "pinned": pinned,
        "banned": is_banned(row, &settings.banned_models) || is_banned(row, &state.cli_bans),
        "origin": row.origin,
        "lastError": health.last_error.as_ref().map(|(at, message)| json!({
            "secondsAgo": seconds(now.saturating_duration_since(*at)),
            "message": message,
        })),
        "samples": samples,
    })
}

pub fn pin_view(settings: &Settings) -> Value {
    json!(settings.pinned)
}

pub fn pinning_mode(settings: &Settings) -> &'static str {
    match settings.pinning_mode {
        PinningMode::Canonical => "canonical",
        PinningMode::Exact => "exact",
    }
}

pub fn models(state: &AppState) -> Value {
    let now = Instant::now();
    let settings = state.config.settings();
    let catalog = state.catalog.current();
    let order = auto_fastest_order(state, &settings, &catalog, now);
    let ranks: std::collections::HashMap<&str, usize> = order
        .iter()
        .enumerate()
        .map(|(rank, id)| (id.as_str(), rank))
        .collect();
    let pinned = pinned_rows(&settings, &catalog);
    let models: Vec<Value> = catalog
        .rows
        .iter()
        .map(|row| {
            let id = row.row_id();
            let rank = ranks.get(id.as_str()).copied();
            row_view(state, &settings, row, rank, pinned.contains(&id), now)
        })
        .collect();
    json!({
        "autoFastest": order.first(),
        // What `expectedMs` estimates, and the throughput assumed when none was measured.
        "estimate": {
            "outputTokens": REFERENCE_OUTPUT_TOKENS,
            "assumedTokensPerSecond": PRIOR_TOKENS_PER_SECOND,
            "minTimedTokens": MIN_TIMED_TOKENS,
        },
        "pinned": pin_view(&settings),
        "pinningMode": pinning_mode(&settings),
        "models": models,
        "hedgeSpend": hedge_spend(state, &catalog, now),
    })
}

/// Each provider's hedge spend, by provider key (providers that never took part in a hedge
/// show zeros).
fn hedge_spend(
    state: &AppState,
    catalog: &crate::engine::catalog::Catalog,
    now: Instant,
) -> serde_json::Map<String, Value> {
    catalog
        .providers
        .iter()
        .map(|provider| {
            (
                provider.key.clone(),
                json!(state.hedges.spend(&provider.key, now)),
            )
        })
        .collect()
}

pub fn providers(state: &AppState) -> Value {
    let now = Instant::now();
    let settings = state.config.settings();
    let catalog = state.catalog.current();
    let discovery = state.catalog.discovery_status();
    let list: Vec<Value> = catalog
        .providers
        .iter()
        .map(|provider| {
            let rows: Vec<_> = catalog.rows.iter().filter(|r| r.provider.key == provider.key).collect();
            let views: Vec<RowHealthView> = rows.iter().map(|r| state.health.view(r, now)).collect();
            let rows_up = rows
                .iter()
                .zip(&views)
                .filter(|(row, view)| status(state, &settings, row, view, now) == "up")
                .count();
            let latest_error = views
                .iter()
                .filter_map(|v| v.last_error.clone())
                .max_by_key(|(at, _)| *at)
                .map(|(at, message)| json!({"secondsAgo": seconds(now.saturating_duration_since(at)), "message": message}));
            let cooling = views.iter().filter_map(|v| v.condition.cooling(now)).max_by_key(|(until, _)| *until);
            let stored = settings.provider(&provider.key).cloned().unwrap_or_default();
            let found = discovery.iter().find(|d| d.provider == provider.key);
            let is_endpoint = provider.key.starts_with(OPENAI_COMPATIBLE_PREFIX);
            let default_base = if is_endpoint {
                None
            } else {
                state.builtin.providers.iter().find(|p| p.key == provider.key).map(|p| p.base_url.clone())
            };
            let mut view = json!({
                "key": provider.key,
                "name": provider.name,
                "kind": if is_endpoint { "openai-compatible" } else { "builtin" },
                "enabled": provider.enabled,
                "baseUrl": provider.base_url,
                "defaultBaseUrl": default_base,
                "auth": match provider.auth { AuthMode::Required => "required", AuthMode::Optional => "optional" },
                "apiKey": state.credentials.key_status(&settings, &provider.key),
                "keyWithheld": provider.key_withheld.then(|| format!(
                    "the saved key was entered for {}, not for {}: enter it again, or save the base URL with keepKey to send it there",
                    settings.provider(&provider.key).and_then(|p| p.key_host.clone()).unwrap_or_default(),
                    crate::engine::providers::url::key_host(&provider.base_url).unwrap_or_default(),
                )),
                "signupUrl": provider.signup_url,
                "pingIntervalMinutes": settings.ping_interval(&provider.key).as_secs_f64() / 60.0,
                "priority": provider.priority,
                "limits": provider.limits,
                "models": rows.len(),
                "rowsUp": rows_up,
                "discovery": {"models": found.map(|d| d.models), "lastError": found.and_then(|d| d.last_error.clone())},
                "latestError": latest_error,
                "rateLimit": {
                    "coolingForSeconds": cooling.map(|(until, _)| seconds(until.saturating_duration_since(now))),
                    "window": cooling.map(|(_, w)| window_name(w)),
                },
            });
            if is_endpoint {
                view["id"] = json!(provider.key.trim_start_matches(OPENAI_COMPATIBLE_PREFIX));
                view["modelId"] = json!(stored.model_id);
                view["group"] = json!(stored.group);
                view["discoverModels"] = json!(stored.discover_models.unwrap_or(true));
            }
            view
        })
        .collect();
    json!({"providers": list})
}

pub fn settings(state: &AppState) -> Value {
    let settings = state.config.settings();
    json!({
        "pinningMode": pinning_mode(&settings),
        "autoPingEnabled": settings.auto_ping_enabled(),
        "minSweScore": settings.quality_floor(),
        "excludedProviders": settings.excluded_providers,
        "autoUpdate": settings.auto_update,
        "autostart": settings.autostart,
        "logPrompts": settings.log_prompts,
        "hedging": settings.hedging,
        "version": env!("CARGO_PKG_VERSION"),
    })
}

pub fn status_view(state: &AppState) -> Value {
    let now = Instant::now();
    let settings = state.config.settings();
    let catalog = state.catalog.current();
    let order = auto_fastest_order(state, &settings, &catalog, now);
    let top = order
        .first()
        .and_then(|id| catalog.rows.iter().find(|r| r.row_id() == *id))
        .map(|row| json!({"id": row.row_id(), "group": row.group, "name": row.name, "provider": row.provider.key}));
    let rows_up = catalog
        .rows
        .iter()
        .filter(|row| status(state, &settings, row, &state.health.view(row, now), now) == "up")
        .count();
    let usable = catalog
        .providers
        .iter()
        .filter(|p| {
            p.enabled
                && (p.auth == AuthMode::Optional || state.credentials.has_key(&settings, &p.key))
        })
        .count();
    json!({
        "version": env!("CARGO_PKG_VERSION"),
        "uptimeSeconds": state.started_at.elapsed().as_secs(),
        "baseUrl": format!("http://{}/v1", state.public_host()),
        "keyStore": state.credentials.store_kind(),
        "autoFastest": top,
        "rowsUp": rows_up,
        "rows": catalog.rows.len(),
        "providersUsable": usable,
        "pinned": pin_view(&settings),
        "sharedState": state.shared.view(),
    })
}

/// `/api/meta`: what this router is (version, where clients reach it) and its team link.
pub fn meta(state: &AppState) -> Value {
    json!({
        "version": env!("CARGO_PKG_VERSION"),
        "baseUrl": format!("http://{}/v1", state.public_host()),
        "routerId": state.shared.router_id(),
        "sharedState": state.shared.view(),
    })
}
