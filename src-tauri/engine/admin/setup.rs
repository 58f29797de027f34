//! The page's first-run setup (`/api/setup`): the same steps as `modelrelay onboard` without a
//! terminal — keys checked with one unbilled call and stored in the key store, agents pointed
//! at the router with a backup (`engine::agents`), start on login (the `autostart` setting the
//! desktop shell applies) — and whether the flow should open by itself.

use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

use axum::extract::{Path, State};
use axum::Json;
use secrecy::SecretString;
use serde_json::{json, Map, Value};

use crate::engine::agents::{configure, Agent, AgentConfigError};
use crate::engine::error::ApiError;
use crate::engine::providers::endpoints::OPENAI_COMPATIBLE_PREFIX;
use crate::engine::providers::keycheck::{check_key, KeyCheck};
use crate::engine::state::AppState;

use super::actions::{saved, set_key};
use super::body::JsonBody;

fn base_url(state: &AppState) -> String {
    format!("http://{}/v1", state.public_host())
}

fn home(state: &AppState) -> Result<&std::path::Path, ApiError> {
    state.home.as_deref().ok_or_else(|| {
        ApiError::Conflict("the home directory is unknown (HOME is not set), so agent configs cannot be found; set HOME and restart modelrelay".into())
    })
}

fn agent_view(agent: Agent, home: &std::path::Path, base_url: &str) -> Value {
    let path = agent.config_path(home);
    let current = std::fs::read(&path)
        .ok()
        .and_then(|bytes| serde_json::from_slice::<Map<String, Value>>(&bytes).ok());
    json!({
        "id": agent.id(),
        "name": agent.name(),
        "path": path.display().to_string(),
        "installed": agent.installed(home),
        "configured": current.is_some_and(|config| agent.points_at(&config, base_url)),
    })
}

/// `GET /api/setup`: what the flow shows, and `show` when it should open by itself (a first
/// run: not finished or skipped before, no provider has a key and no endpoint was added).
pub async fn get_setup(State(state): State<Arc<AppState>>) -> Json<Value> {
    let settings = state.config.settings();
    let catalog = state.catalog.current();
    let configured = catalog.providers.iter().any(|p| {
        p.key.starts_with(OPENAI_COMPATIBLE_PREFIX) || state.credentials.has_key(&settings, &p.key)
    });
    let base = base_url(&state);
    let agents: Vec<Value> = state
        .home
        .as_deref()
        .map(|home| {
            Agent::ALL
                .iter()
                .map(|a| agent_view(*a, home, &base))
                .collect()
        })
        .unwrap_or_default();
    Json(json!({
        "show": !settings.setup_completed && !configured,
        "completed": settings.setup_completed,
        "keyStore": state.credentials.store_kind(),
        "baseUrl": base,
        "agents": agents,
        "autostart": settings.autostart.enabled,
    }))
}

/// `POST /api/setup/keys {provider, apiKey}`: checks the key against the provider's model list
/// and stores it unless the provider refused it.
pub async fn add_key(
    State(state): State<Arc<AppState>>,
    payload: Result<JsonBody, ApiError>,
) -> Result<Json<Value>, ApiError> {
    let JsonBody(payload) = payload?;
    let provider_key = payload
        .get("provider")
        .and_then(Value::as_str)
        .map(str::trim)
        .filter(|p| !p.is_empty())
        .ok_or_else(|| ApiError::InvalidRequest {
            message: "`provider` is required: a key that GET /api/providers lists".into(),
            param: Some("provider"),
        })?
        .to_string();
    let key = payload
        .get("apiKey")
        .and_then(Value::as_str)
        .map(str::trim)
        .filter(|k| !k.is_empty() && !k.contains(['\r', '\n']))
        .ok_or_else(|| ApiError::InvalidRequest {
            message: "`apiKey` is required: the key alone, on one line".into(),
            param: Some("apiKey"),
        })?
        .to_string();
    let provider = state
        .catalog
        .current()
        .provider(&provider_key)
        .cloned()
        .ok_or_else(|| {
            ApiError::NotFound(format!(
                "no provider `{provider_key}`; GET /api/providers lists them"
            ))
        })?;
    let verdict = check_key(
        &state.http,
        &provider.base_url,
        &SecretString::from(key.clone()),
    )
    .await;
    let (check, reason) = match verdict {
        KeyCheck::Refused(status) => {
            return Err(ApiError::InvalidRequest {
                message: format!(
                    "{} refused this key (HTTP {status}); it was not stored — check that it was copied whole",
                    provider.name
                ),
                param: Some("apiKey"),
            })
        }
        KeyCheck::Valid => ("valid", None),
        KeyCheck::Unverified(reason) => ("unverified", Some(reason)),
    };
    let Json(stored) = set_key(
        State(state.clone()),
        Path(provider_key.clone()),
        Ok(JsonBody(json!({ "apiKey": key }))),
    )
    .await?;
    Ok(Json(json!({
        "provider": provider_key,
        "check": check,
        "reason": reason,
        "apiKey": stored["apiKey"],
    })))
}

/// `POST /api/setup/agents/{id}`: merges the router into the agent's config as `onboard` does.
pub async fn configure_agent(
    State(state): State<Arc<AppState>>,
    Path(id): Path<String>,
) -> Result<Json<Value>, ApiError> {
    let agent = Agent::from_id(&id).ok_or_else(|| {
        ApiError::NotFound(format!(
            "no agent `{id}`; use one of {}",
            Agent::ALL.map(Agent::id).join(", ")
        ))
    })?;
    let home = home(&state)?;
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    let done = configure(agent, home, &base_url(&state), now).map_err(|error| match error {
        // The user's file stands in the way: they decide, nothing was written.
        AgentConfigError::Unparseable { .. } | AgentConfigError::NotAnObject { .. } => {
            ApiError::Conflict(error.to_string())
        }
        AgentConfigError::Io { .. } => ApiError::Storage(error.to_string()),
    })?;
    Ok(Json(json!({
        "agent": agent.id(),
        "path": done.path.display().to_string(),
        "backup": done.backup.map(|b| b.display().to_string()),
    })))
}

/// `POST /api/setup/done {completed}`: the flow was finished or skipped (or is to open again).
pub async fn set_done(
    State(state): State<Arc<AppState>>,
    payload: Result<JsonBody, ApiError>,
) -> Result<Json<Value>, ApiError> {
    let JsonBody(payload) = payload?;
    let completed = payload
        .get("completed")
        .and_then(Value::as_bool)
        .ok_or_else(|| ApiError::InvalidRequest {
            message: "`completed` (true or false) is required".into(),
            param: Some("completed"),
        })?;
    saved(state.config.update(|raw| {
        if completed {
            raw.insert("setupCompleted".into(), json!(true));
        } else {
            raw.shift_remove("setupCompleted");
        }
    }))?;
    Ok(Json(json!({"completed": completed})))
}
