//! `GET /v1/models`: `auto-fastest` plus one entry per model group (with the tags `tag:` matches).

use std::sync::Arc;

use axum::extract::State;
use axum::Json;
use serde_json::{json, Value};

use crate::engine::routing::selector::AUTO_FASTEST;
use crate::engine::routing::tags::all_tags;
use crate::engine::state::AppState;

pub async fn list_models(State(state): State<Arc<AppState>>) -> Json<Value> {
    let created = state.started_unix;
    let catalog = state.catalog.current();
    let settings = state.config.settings();
    let mut data = vec![json!({
        "id": AUTO_FASTEST,
        "object": "model",
        "created": created,
        "owned_by": "router",
        "name": "Auto Fastest",
    })];
    data.extend(catalog.groups().into_iter().map(|group| {
        // What `tag:` matches for this group: built-in and user tags of its rows.
        let mut tags: Vec<String> = Vec::new();
        for row in catalog.group_rows(&group.slug) {
            for tag in all_tags(row, &settings.model_tags) {
                if !tags.contains(&tag) {
                    tags.push(tag);
                }
            }
        }
        json!({
            "id": group.slug,
            "object": "model",
            "created": created,
            "owned_by": "relay",
            "name": group.name,
            "context_length": group.context,
            "capabilities": {"tools": group.tools, "vision": group.vision},
            "providers": group.providers,
            "tags": tags,
        })
    }));
    Json(json!({"object": "list", "data": data}))
}
