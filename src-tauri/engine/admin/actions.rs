//! Changes made through the admin API: pins, bans, provider settings, keys, endpoints,
//! filter rules, settings, config transfer. Each handler validates, saves atomically through
//! `ConfigStore` (or the key store), and answers with the new state.

use std::sync::Arc;

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use secrecy::{ExposeSecret, SecretString};
use serde_json::{json, Map, Value};

use crate::engine::catalog::slug::is_valid_slug;
use crate::engine::config::{ConfigError, Pin};
use crate::engine::error::ApiError;
use crate::engine::health::AttemptResult;
use crate::engine::prober::probe_row;
use crate::engine::providers::endpoints::OPENAI_COMPATIBLE_PREFIX;
use crate::engine::providers::url::key_host;
use crate::engine::state::AppState;
use crate::engine::transfer::{accounts_with_keys, decode_token, diff, encode_token};

use super::body::JsonBody;
use super::views;

type Body = Result<JsonBody, ApiError>;

fn body(body: Body) -> Result<Value, ApiError> {
    body.map(|JsonBody(value)| value)
}

fn invalid(message: impl Into<String>, param: &'static str) -> ApiError {
    ApiError::InvalidRequest {
        message: message.into(),
        param: Some(param),
    }
}

pub(super) fn saved(result: Result<(), ConfigError>) -> Result<(), ApiError> {
    result.map_err(|error| match error {
        ConfigError::InvalidChange(message) => ApiError::InvalidRequest {
            message,
            param: None,
        },
        // The file on disk stands in the way (hand-broken or read-only): the user decides.
        ConfigError::Corrupt { .. }
        | ConfigError::NotAnObject { .. }
        | ConfigError::ReadOnly { .. } => ApiError::Conflict(error.to_string()),
        other => ApiError::Storage(other.to_string()),
    })
}

fn object<'a>(raw: &'a mut Map<String, Value>, key: &str) -> &'a mut Map<String, Value> {
    let entry = raw.entry(key.to_string()).or_insert_with(|| json!({}));
    if !entry.is_object() {
        *entry = json!({});
    }
    entry
        .as_object_mut()
        .unwrap_or_else(|| unreachable!("just made an object"))
}

fn string_field(value: &Value, names: &[&str]) -> Option<String> {
    names
        .iter()
        .find_map(|name| value.get(*name))
        .and_then(Value::as_str)
        .map(|s| s.trim().to_string())
        .filter(|s| !s.is_empty())
}

// ---- pins and bans ----

pub async fn set_pin(
    State(state): State<Arc<AppState>>,
    payload: Body,
) -> Result<Json<Value>, ApiError> {
    let payload = body(payload)?;
    let model = string_field(&payload, &["modelId", "model"]);
    let provider = string_field(&payload, &["provider", "providerKey"]);
    let Some(model) = model else {
        return clear_pin(State(state)).await;
    };
    let catalog = state.catalog.current();
    let row = catalog
        .rows
        .iter()
        .find(|row| match &provider {
            Some(provider) => row.provider.key == *provider && row.upstream_id == model,
            None => row.row_id() == model || row.upstream_id == model,
        })
        .ok_or_else(|| {
            ApiError::NotFound(format!(
                "no model `{model}` to pin; GET /api/models lists them"
            ))
        })?;
    let pin = Pin {
        provider: row.provider.key.clone(),
        model_id: row.upstream_id.clone(),
        group: row.group.clone(),
    };
    saved(state.config.update(|raw| {
        raw.insert("pinned".into(), json!(pin));
    }))?;
    Ok(Json(pinned_view(&state)))
}

pub async fn clear_pin(State(state): State<Arc<AppState>>) -> Result<Json<Value>, ApiError> {
    saved(state.config.update(|raw| {
        raw.shift_remove("pinned");
    }))?;
    Ok(Json(pinned_view(&state)))
}

pub fn pinned_view(state: &AppState) -> Value {
    let settings = state.config.settings();
    let catalog = state.catalog.current();
    json!({
        "pinned": views::pin_view(&settings),
        "pinningMode": views::pinning_mode(&settings),
        "rows": crate::engine::routing::pinned_rows(&settings, &catalog),
    })
}

pub async fn get_pin(State(state): State<Arc<AppState>>) -> Json<Value> {
    Json(pinned_view(&state))
}

pub async fn ban(
    State(state): State<Arc<AppState>>,
    payload: Body,
) -> Result<Json<Value>, ApiError> {
    let payload = body(payload)?;
    let model = string_field(&payload, &["modelId", "model"]).ok_or_else(|| {
        invalid(
            "`modelId` is required: a row id, group slug or upstream id",
            "modelId",
        )
    })?;
    let banned = payload
        .get("banned")
        .and_then(Value::as_bool)
        .unwrap_or(true);
    saved(state.config.update(|raw| {
        let list = raw.entry("bannedModels").or_insert_with(|| json!([]));
        if !list.is_array() {
            *list = json!([]);
        }
        if let Some(items) = list.as_array_mut() {
            items.retain(|item| item.as_str() != Some(model.as_str()));
            if banned {
                items.push(json!(model));
            }
        }
        if banned {
            let pin_matches = raw.get("pinned").is_some_and(|pin| {
                let field = |name| pin.get(name).and_then(Value::as_str).unwrap_or("");
                [
                    format!("{}/{}", field("provider"), field("modelId")),
                    field("modelId").into(),
                    field("group").into(),
                ]
                .contains(&model)
            });
            if pin_matches {
                raw.shift_remove("pinned");
            }
        }
    }))?;
    if !banned {
        for row in state.catalog.current().rows.iter() {
            if [row.row_id(), row.upstream_id.clone(), row.group.clone()].contains(&model) {
                state.health.reset(row);
            }
        }
    }
    let settings = state.config.settings();
    Ok(Json(json!({"bannedModels": settings.banned_models})))
}

pub async fn ping(
    State(state): State<Arc<AppState>>,
    payload: Body,
) -> Result<Json<Value>, ApiError> {
    let payload = body(payload)?;
    let id = string_field(&payload, &["modelId", "id"])
        .ok_or_else(|| invalid("`modelId` (a row id) is required", "modelId"))?;
    let row = state
        .catalog
        .current()
        .rows
        .iter()
        .find(|row| row.row_id() == id)
        .cloned()
        .ok_or_else(|| ApiError::NotFound(format!("no row `{id}`; GET /api/models lists them")))?;
    let result = probe_row(&state, &row).await;
    Ok(Json(match result {
        AttemptResult::Success { ttft, total, .. } => json!({
            "ok": true, "ttftMs": ttft.as_millis() as u64, "totalMs": total.as_millis() as u64, "error": null
        }),
        AttemptResult::Failure { message, .. }
        | AttemptResult::RateLimited { message }
        | AttemptResult::ModelGone { message, .. } => json!({
            "ok": false, "ttftMs": null, "totalMs": null, "error": message
        }),
    }))
}

// ---- providers and keys ----

fn known_provider(state: &AppState, key: &str) -> Result<(), ApiError> {
    if state.catalog.current().provider(key).is_some() {
        Ok(())
    } else {
        Err(ApiError::NotFound(format!(
            "no provider `{key}`; GET /api/providers lists them"
        )))
    }
}

pub async fn update_provider(
    State(state): State<Arc<AppState>>,
    Path(key): Path<String>,
    payload: Body,
) -> Result<Json<Value>, ApiError> {
    known_provider(&state, &key)?;
    let payload = body(payload)?;
    let Value::Object(fields) = payload else {
        return Err(invalid("send a JSON object of provider settings", "body"));
    };
    let mut changes = Map::new();
    let mut keep_key = false;
    for (name, value) in fields {
        if name == "keepKey" {
            keep_key = value
                .as_bool()
                .ok_or_else(|| invalid("`keepKey` must be true or false", "keepKey"))?;
            continue;
        }
        let accepted = match name.as_str() {
            "enabled" | "discoverModels" => value.is_boolean(),
            "pingIntervalMinutes" => value.as_f64().is_some_and(|m| m >= 1.0),
            "priority" => value.as_i64().is_some(),
            "baseUrl" | "name" | "modelId" | "group" => value.is_string() || value.is_null(),
            _ => {
                return Err(invalid(
                    format!("`{name}` is not a provider setting"),
                    "body",
                ))
            }
        };
        if !accepted {
            return Err(invalid(
                format!("`{name}` has the wrong type or range"),
                "body",
            ));
        }
        if name == "group" {
            if let Some(group) = value.as_str().filter(|g| !g.is_empty()) {
                if !is_valid_slug(group) {
                    return Err(invalid(
                        "`group` must be a slug such as `qwen3-coder`",
                        "group",
                    ));
                }
            }
        }
        changes.insert(name, value);
    }
    // A stored key stays bound to the host it was entered for: moving the base URL elsewhere
    // does not take the key along unless the request says so.
    let key_host = key_host_after_move(&state, &key, changes.get("baseUrl"), keep_key);
    saved(state.config.update(|raw| {
        let provider = object(object(raw, "providers"), &key);
        if let Some(host) = key_host {
            provider.insert("keyHost".into(), Value::String(host));
        }
        for (name, value) in changes {
            let clear = value.is_null() || value.as_str() == Some("");
            if clear {
                provider.shift_remove(&name);
            } else {
                provider.insert(name, value);
            }
        }
    }))?;
    let catalog = state.catalog.clone();
    state.spawn(async move {
        let _ = catalog.refresh_provider(&key).await;
    });
    Ok(Json(views::providers(&state)))
}

/// Where the provider's stored key is bound after its base URL changes to `base_url`: to the
/// new host when `keep_key` confirms it, else to the host it was entered for (the current one,
/// when it was never recorded). `None` when nothing needs recording.
fn key_host_after_move(
    state: &AppState,
    provider: &str,
    base_url: Option<&Value>,
    keep_key: bool,
) -> Option<String> {
    let base_url = base_url?;
    let settings = state.config.settings();
    let catalog = state.catalog.current();
    let current = catalog.providers.iter().find(|p| p.key == provider)?;
    let new_base = match base_url.as_str().filter(|u| !u.trim().is_empty()) {
        Some(url) => crate::engine::providers::url::normalize_base_url(url),
        None => state
            .builtin
            .providers
            .iter()
            .find(|p| p.key == provider)
            .map(|p| p.base_url.clone())?,
    };
    let bound = settings.provider(provider).and_then(|p| p.key_host.clone());
    if keep_key {
        return key_host(&new_base);
    }
    match bound {
        Some(_) => None,
        None if state.credentials.has_key(&settings, provider) => key_host(&current.base_url),
        None => None,
    }
}

fn keys_from(payload: &Value) -> Result<Vec<SecretString>, ApiError> {
    let keys: Vec<String> = match (payload.get("apiKey"), payload.get("apiKeys")) {
        (Some(Value::String(key)), _) => vec![key.clone()],
        (_, Some(Value::Array(list))) => list
            .iter()
            .filter_map(Value::as_str)
            .map(str::to_string)
            .collect(),
        _ => {
            return Err(invalid(
                "send `apiKey` (a string) or `apiKeys` (a list of strings)",
                "apiKey",
            ))
        }
    };
    if keys.iter().any(|k| k.trim().contains(['\r', '\n'])) {
        return Err(invalid(
            "a key cannot contain a line break; paste the key alone, one key per entry",
            "apiKey",
        ));
    }
    let keys: Vec<SecretString> = keys
        .iter()
        .map(|k| {
            k.trim_matches(|c: char| c.is_whitespace() || ('\u{2580}'..='\u{259F}').contains(&c))
        })
        .filter(|k| !k.is_empty())
        .map(|k| SecretString::from(k.to_string()))
        .collect();
    if keys.is_empty() {
        return Err(invalid("the key is empty", "apiKey"));
    }
    Ok(keys)
}

pub async fn set_key(
    State(state): State<Arc<AppState>>,
    Path(key): Path<String>,
    payload: Body,
) -> Result<Json<Value>, ApiError> {
    known_provider(&state, &key)?;
    let keys = keys_from(&body(payload)?)?;
    state
        .credentials
        .set_keys(&key, keys)
        .map_err(|error| ApiError::Storage(error.to_string()))?;
    // A key entered now is for where the provider points now.
    let host = state
        .catalog
        .current()
        .providers
        .iter()
        .find(|p| p.key == key)
        .and_then(|p| key_host(&p.base_url));
    if let Some(host) = host {
        saved(state.config.update(|raw| {
            object(object(raw, "providers"), &key).insert("keyHost".into(), Value::String(host));
        }))?;
    }
    after_key_change(&state, &key);
    Ok(Json(
        json!({"apiKey": state.credentials.key_status(&state.config.settings(), &key)}),
    ))
}

pub async fn delete_key(
    State(state): State<Arc<AppState>>,
    Path(key): Path<String>,
) -> Result<Json<Value>, ApiError> {
    known_provider(&state, &key)?;
    state
        .credentials
        .delete_keys(&key)
        .map_err(|error| ApiError::Storage(error.to_string()))?;
    saved(state.config.update(|raw| {
        if let Some(Value::Object(keys)) = raw.get_mut("apiKeys") {
            keys.shift_remove(&key);
        }
    }))?;
    after_key_change(&state, &key);
    Ok(Json(
        json!({"apiKey": state.credentials.key_status(&state.config.settings(), &key)}),
    ))
}

/// A new key deserves a fresh look: forget the rows' failures and rediscover.
fn after_key_change(state: &Arc<AppState>, provider: &str) {
    for row in state
        .catalog
        .current()
        .rows
        .iter()
        .filter(|r| r.provider.key == provider)
    {
        state.health.reset(row);
    }
    let catalog = state.catalog.clone();
    let provider = provider.to_string();
    state.spawn(async move {
        let _ = catalog.refresh_provider(&provider).await;
    });
}

pub async fn refresh_provider(
    State(state): State<Arc<AppState>>,
    Path(key): Path<String>,
) -> Result<Json<Value>, ApiError> {
    known_provider(&state, &key)?;
    Ok(Json(match state.catalog.refresh_provider(&key).await {
        Ok(models) => json!({"ok": true, "models": models, "error": null}),
        Err(error) => json!({"ok": false, "models": null, "error": error.to_string()}),
    }))
}

pub async fn refresh_all(State(state): State<Arc<AppState>>) -> Json<Value> {
    let keys: Vec<String> = state
        .catalog
        .current()
        .providers
        .iter()
        .filter(|p| p.enabled)
        .map(|p| p.key.clone())
        .collect();
    let mut results = Vec::new();
    for key in keys {
        let result = state.catalog.refresh_provider(&key).await;
        results.push(match result {
            Ok(models) => json!({"key": key, "ok": true, "models": models, "error": null}),
            Err(error) => {
                json!({"key": key, "ok": false, "models": null, "error": error.to_string()})
            }
        });
    }
    Json(json!({"providers": results}))
}

// ---- OpenAI-compatible endpoints ----

/// `My vLLM!` → `my-vllm`.
pub fn endpoint_id(name: &str) -> String {
    let mut id = String::new();
    for c in name.trim().to_ascii_lowercase().chars() {
        let c = if c.is_ascii_alphanumeric() || c == '_' || c == '-' {
            c
        } else {
            '-'
        };
        if !(c == '-' && id.ends_with('-')) {
            id.push(c);
        }
    }
    id.trim_matches('-').to_string()
}

pub async fn list_endpoints(State(state): State<Arc<AppState>>) -> Json<Value> {
    let providers = views::providers(&state);
    let endpoints: Vec<Value> = providers["providers"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|p| p["kind"] == "openai-compatible")
        .map(|p| {
            json!({
                "id": p["id"], "key": p["key"], "name": p["name"], "baseUrl": p["baseUrl"],
                "modelId": p["modelId"], "group": p["group"], "discoverModels": p["discoverModels"],
                "enabled": p["enabled"], "apiKey": {"set": p["apiKey"]["set"], "hint": p["apiKey"]["hint"]},
            })
        })
        .collect();
    Json(json!({"endpoints": endpoints}))
}

pub async fn add_endpoint(
    State(state): State<Arc<AppState>>,
    payload: Body,
) -> Result<Response, ApiError> {
    let payload = body(payload)?;
    let name = string_field(&payload, &["name", "id"])
        .ok_or_else(|| invalid("`name` is required", "name"))?;
    let base_url = string_field(&payload, &["baseUrl"]).ok_or_else(|| {
        invalid(
            "`baseUrl` is required, for example http://localhost:8000/v1",
            "baseUrl",
        )
    })?;
    let id = endpoint_id(&name);
    if id.is_empty() {
        return Err(invalid("`name` needs at least one letter or digit", "name"));
    }
    let key = format!("{OPENAI_COMPATIBLE_PREFIX}{id}");
    if state.config.settings().providers.contains_key(&key) {
        return Err(ApiError::Conflict(format!(
            "an endpoint `{id}` already exists; delete it first or pick another name"
        )));
    }
    let group = string_field(&payload, &["group"]);
    if group.as_deref().is_some_and(|g| !is_valid_slug(g)) {
        return Err(invalid(
            "`group` must be a slug such as `qwen3-coder`",
            "group",
        ));
    }
    let keys = match payload
        .get("apiKey")
        .and_then(Value::as_str)
        .filter(|k| !k.trim().is_empty())
    {
        Some(_) => Some(keys_from(&payload)?),
        None => None,
    };
    let mut entry = json!({
        "enabled": payload.get("enabled").and_then(Value::as_bool).unwrap_or(true),
        "name": name,
        "baseUrl": base_url,
        "discoverModels": payload.get("discoverModels").and_then(Value::as_bool).unwrap_or(true),
    });
    if let Some(model) = string_field(&payload, &["modelId"]) {
        entry["modelId"] = json!(model);
    }
    if let Some(group) = group {
        entry["group"] = json!(group);
    }
    if let Some(keys) = keys {
        state
            .credentials
            .set_keys(&key, keys)
            .map_err(|error| ApiError::Storage(error.to_string()))?;
        let normalized = crate::engine::providers::url::normalize_base_url(&base_url);
        if let Some(host) = key_host(&normalized) {
            entry["keyHost"] = json!(host);
        }
    }
    saved(state.config.update(|raw| {
        object(raw, "providers").insert(key.clone(), entry);
    }))?;
    let catalog = state.catalog.clone();
    let refresh_key = key.clone();
    state.spawn(async move {
        let _ = catalog.refresh_provider(&refresh_key).await;
    });
    Ok((StatusCode::CREATED, Json(json!({"id": id, "key": key}))).into_response())
}

pub async fn delete_endpoint(
    State(state): State<Arc<AppState>>,
    Path(id): Path<String>,
) -> Result<Json<Value>, ApiError> {
    let key = format!("{OPENAI_COMPATIBLE_PREFIX}{id}");
    if !state.config.settings().providers.contains_key(&key) {
        return Err(ApiError::NotFound(format!("no endpoint `{id}`")));
    }
    state
        .credentials
        .delete_keys(&key)
        .map_err(|error| ApiError::Storage(error.to_string()))?;
    saved(state.config.update(|raw| {
        object(raw, "providers").shift_remove(&key);
        if let Some(Value::Object(keys)) = raw.get_mut("apiKeys") {
            keys.shift_remove(&key);
        }
    }))?;
    Ok(Json(json!({"deleted": key})))
}

// ---- filter rules and settings ----

pub async fn get_filter_rules(State(state): State<Arc<AppState>>) -> Json<Value> {
    let settings = state.config.settings();
    Json(
        json!({"minSweScore": settings.quality_floor(), "excludedProviders": settings.excluded_providers}),
    )
}

pub async fn set_filter_rules(
    State(state): State<Arc<AppState>>,
    payload: Body,
) -> Result<Json<Value>, ApiError> {
    let payload = body(payload)?;
    let score = match payload.get("minSweScore") {
        None => None,
        Some(Value::Null) => Some(json!(0)),
        Some(Value::String(s)) if s.is_empty() => Some(json!(0)),
        Some(value) => match value.as_f64() {
            Some(v) if (0.0..=1.0).contains(&v) => Some(json!(v)),
            _ => {
                return Err(invalid(
                    "`minSweScore` must be a number from 0 to 1, or null for no minimum",
                    "minSweScore",
                ))
            }
        },
    };
    let excluded = match payload.get("excludedProviders") {
        None => None,
        Some(Value::Array(list)) if list.iter().all(Value::is_string) => {
            Some(Value::Array(list.clone()))
        }
        Some(_) => {
            return Err(invalid(
                "`excludedProviders` must be a list of provider keys",
                "excludedProviders",
            ))
        }
    };
    saved(state.config.update(|raw| {
        if let Some(score) = score {
            raw.insert("minSweScore".into(), score);
        }
        if let Some(excluded) = excluded {
            raw.insert("excludedProviders".into(), excluded);
        }
    }))?;
    Ok(get_filter_rules(State(state)).await)
}

pub async fn get_settings(State(state): State<Arc<AppState>>) -> Json<Value> {
    Json(views::settings(&state))
}

pub async fn set_settings(
    State(state): State<Arc<AppState>>,
    payload: Body,
) -> Result<Json<Value>, ApiError> {
    let payload = body(payload)?;
    let Value::Object(fields) = payload else {
        return Err(invalid("send a JSON object of settings", "body"));
    };
    for (name, value) in &fields {
        let ok = match name.as_str() {
            "pinningMode" => matches!(value.as_str(), Some("canonical" | "exact")),
            "autoPingEnabled" | "logPrompts" => value.is_boolean(),
            "autoUpdate" => {
                value.get("enabled").is_none_or(Value::is_boolean)
                    && value
                        .get("intervalHours")
                        .is_none_or(|h| h.as_f64().is_some_and(|h| h >= 1.0))
            }
            "autostart" => value.get("enabled").is_some_and(Value::is_boolean),
            "hedging" => valid_hedging(value),
            _ => return Err(invalid(format!("`{name}` is not a setting"), "body")),
        };
        if !ok {
            return Err(invalid(
                format!("`{name}` has the wrong type or range"),
                "body",
            ));
        }
    }
    saved(state.config.update(|raw| {
        for (name, value) in fields {
            match (name.as_str(), value) {
                ("autoUpdate" | "autostart" | "hedging", Value::Object(parts)) => {
                    let section = object(raw, &name);
                    for (part, value) in parts {
                        section.insert(part, value);
                    }
                }
                (_, value) => {
                    raw.insert(name, value);
                }
            }
        }
    }))?;
    Ok(Json(views::settings(&state)))
}

/// `hedging`: an object of `enabled` (boolean), `minDelayMs` (0 to 600000), `maxShare`
/// (0 to 1) and `minDailyQuota` (a whole number), each optional.
fn valid_hedging(value: &Value) -> bool {
    let Some(parts) = value.as_object() else {
        return false;
    };
    parts.iter().all(|(part, value)| match part.as_str() {
        "enabled" => value.is_boolean(),
        "minDelayMs" => value.as_u64().is_some_and(|ms| ms <= 600_000),
        "maxShare" => value
            .as_f64()
            .is_some_and(|share| (0.0..=1.0).contains(&share)),
        "minDailyQuota" => value.as_u64().is_some_and(|n| n <= u64::from(u32::MAX)),
        _ => false,
    })
}

// ---- config transfer ----

/// The config as an export carries it: the file plus every stored key.
pub fn export_document(state: &AppState) -> Map<String, Value> {
    let mut document = state.config.document();
    let keys: Map<String, Value> = state
        .credentials
        .stored_keys()
        .into_iter()
        .map(|(account, keys)| {
            let value = match keys.as_slice() {
                [one] => json!(one.expose_secret()),
                many => json!(many
                    .iter()
                    .map(|k| k.expose_secret().to_string())
                    .collect::<Vec<_>>()),
            };
            (account, value)
        })
        .collect();
    let file_keys = document
        .get("apiKeys")
        .and_then(Value::as_object)
        .cloned()
        .unwrap_or_default();
    let mut merged = file_keys;
    merged.extend(keys);
    if !merged.is_empty() {
        document.insert("apiKeys".into(), Value::Object(merged));
    }
    document
}

pub async fn export(
    State(state): State<Arc<AppState>>,
    payload: Body,
) -> Result<Json<Value>, ApiError> {
    let payload = body(payload)?;
    if payload.get("confirm").and_then(Value::as_bool) != Some(true) {
        return Err(ApiError::ConfirmationRequired(
            "the export token contains your API keys; send {\"confirm\": true} to create it".into(),
        ));
    }
    Ok(Json(
        json!({"token": encode_token(&export_document(&state))}),
    ))
}

fn token_of(payload: &Value) -> Result<Map<String, Value>, ApiError> {
    let token = string_field(payload, &["token", "payload"])
        .ok_or_else(|| invalid("`token` is required", "token"))?;
    decode_token(&token).map_err(|error| invalid(error.to_string(), "token"))
}

pub async fn import_preview(
    State(state): State<Arc<AppState>>,
    payload: Body,
) -> Result<Json<Value>, ApiError> {
    let incoming = token_of(&body(payload)?)?;
    crate::engine::config::Settings::from_json(&incoming)
        .map_err(|error| invalid(format!("the token's config is not valid: {error}"), "token"))?;
    Ok(Json(json!({
        "changes": diff(&state.config.document(), &incoming),
        "keys": accounts_with_keys(&incoming),
    })))
}

pub async fn import(
    State(state): State<Arc<AppState>>,
    payload: Body,
) -> Result<Json<Value>, ApiError> {
    let payload = body(payload)?;
    let mut incoming = token_of(&payload)?;
    if payload.get("confirm").and_then(Value::as_bool) != Some(true) {
        return Err(ApiError::ConfirmationRequired(
            "importing replaces your whole config; preview it, then send {\"confirm\": true}"
                .into(),
        ));
    }
    let parsed = crate::engine::config::Settings::from_json(&incoming)
        .map_err(|error| invalid(format!("the token's config is not valid: {error}"), "token"))?;
    for (account, keys) in &parsed.api_keys {
        if !keys.is_empty() {
            state
                .credentials
                .set_keys(account, keys.0.clone())
                .map_err(|error| ApiError::Storage(format!("the keys of `{account}` could not be stored ({error}); nothing was imported")))?;
        }
    }
    incoming.shift_remove("apiKeys");
    let accounts = parsed.api_keys.len();
    saved(state.config.update(move |raw| *raw = incoming))?;
    let catalog = state.catalog.clone();
    state.spawn(async move { catalog.refresh(true).await });
    Ok(Json(json!({"imported": true, "keys": accounts})))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn endpoint_ids_are_slugs() {
        assert_eq!(endpoint_id("My vLLM!"), "my-vllm");
        assert_eq!(endpoint_id("  groq_clone  "), "groq_clone");
        assert_eq!(endpoint_id("!!!"), "");
    }
}
