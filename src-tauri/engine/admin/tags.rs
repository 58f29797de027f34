//! `PUT /api/models/tags`: replaces a group's user routing tags in `modelTags`. The rules
//! (vocabulary, normalisation, limits) live in `routing::tags`; this only resolves the model
//! and saves.

use std::sync::Arc;

use axum::extract::State;
use axum::Json;
use serde_json::{json, Value};

use crate::engine::error::ApiError;
use crate::engine::routing::tags::{normalize_tags, BUILT_IN_TAGS};
use crate::engine::routing::{parse_selector, resolve_rows, Target};
use crate::engine::state::AppState;

use super::actions::saved;
use super::body::JsonBody;

fn invalid(message: impl Into<String>, param: &'static str) -> ApiError {
    ApiError::InvalidRequest {
        message: message.into(),
        param: Some(param),
    }
}

/// The group `model` names: a row id, a group slug or an upstream id of exactly one group.
fn group_of(state: &AppState, model: &str) -> Result<(String, Vec<Value>), ApiError> {
    let catalog = state.catalog.current();
    let selector = parse_selector(Some(model))
        .ok()
        .filter(|s| matches!(s.target, Target::Model(_)) && s.min_context.is_none())
        .ok_or_else(|| invalid(format!("`{model}` is a selector, not a model; give a row id, group slug or upstream id"), "modelId"))?;
    let settings = state.config.settings();
    let rows = resolve_rows(&catalog, &selector, &settings.model_tags).ok_or_else(|| {
        ApiError::NotFound(format!("no model `{model}`; GET /api/models lists them"))
    })?;
    let mut groups: Vec<&str> = rows.iter().map(|r| r.group.as_str()).collect();
    groups.sort_unstable();
    groups.dedup();
    let [group] = groups.as_slice() else {
        return Err(invalid(
            format!(
                "`{model}` names rows of several groups ({}); give the group slug",
                groups.join(", ")
            ),
            "modelId",
        ));
    };
    let group = (*group).to_string();
    let members = catalog
        .group_rows(&group)
        .map(|r| json!({"id": r.row_id(), "modelId": r.upstream_id, "provider": r.provider.key}))
        .collect();
    Ok((group, members))
}

pub async fn set_tags(
    State(state): State<Arc<AppState>>,
    payload: Result<JsonBody, ApiError>,
) -> Result<Json<Value>, ApiError> {
    let JsonBody(payload) = payload?;
    let model = payload
        .get("modelId")
        .and_then(Value::as_str)
        .map(str::trim)
        .filter(|m| !m.is_empty())
        .ok_or_else(|| {
            invalid(
                "`modelId` is required: a row id, group slug or upstream id",
                "modelId",
            )
        })?;
    let raw: Vec<&str> = match payload.get("tags") {
        Some(Value::Array(items)) => items
            .iter()
            .map(|item| {
                item.as_str()
                    .ok_or_else(|| invalid("`tags` must be a list of strings", "tags"))
            })
            .collect::<Result<_, _>>()?,
        _ => {
            return Err(invalid(
                "`tags` is required: a list of strings (empty to clear)",
                "tags",
            ))
        }
    };
    let tags = normalize_tags(&raw).map_err(|error| invalid(error.to_string(), "tags"))?;
    let (group, members) = group_of(&state, model)?;
    saved(state.config.update(|raw| {
        let map = raw.entry("modelTags").or_insert_with(|| json!({}));
        if !map.is_object() {
            *map = json!({});
        }
        if let Some(map) = map.as_object_mut() {
            if tags.is_empty() {
                map.shift_remove(&group);
            } else {
                map.insert(group.clone(), json!(tags));
            }
        }
        if map.as_object().is_some_and(serde_json::Map::is_empty) {
            raw.shift_remove("modelTags");
        }
    }))?;
    Ok(Json(json!({
        "success": true,
        "modelKey": group,
        "tags": tags,
        "models": members,
    })))
}

/// `GET /api/models/tags`: the built-in vocabulary and every group's user tags.
pub async fn get_tags(State(state): State<Arc<AppState>>) -> Json<Value> {
    let settings = state.config.settings();
    Json(json!({
        "vocabulary": BUILT_IN_TAGS,
        "modelTags": settings.model_tags,
    }))
}
