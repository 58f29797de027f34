//! Builds a catalog snapshot from settings, env overrides and discovery results. Pure.

use std::collections::BTreeMap;
use std::sync::Arc;

use crate::engine::config::{EnvOverrides, Settings};
use crate::engine::providers::discovery::DiscoveredModel;
use crate::engine::providers::endpoints::openai_compatible_endpoints;
use crate::engine::providers::{DiscoveryKind, ModelRow, RowOrigin};

use super::slug::normalize_model_id;
use super::Catalog;

/// `discovered` maps a provider key to the models its last successful discovery returned.
pub fn build_catalog(
    settings: &Settings,
    env: &EnvOverrides,
    discovered: &BTreeMap<String, Vec<DiscoveredModel>>,
) -> Catalog {
    let mut catalog = Catalog::default();
    for endpoint in openai_compatible_endpoints(settings, env) {
        let provider = Arc::new(endpoint.provider);
        let group_for = |id: &str, explicit: Option<&String>| {
            settings
                .model_groups
                .get(&format!("{}/{}", provider.key, id))
                .or(explicit)
                .cloned()
                .unwrap_or_else(|| normalize_model_id(id))
        };
        let mut rows: Vec<ModelRow> = Vec::new();
        if let Some(model_id) = &endpoint.model_id {
            rows.push(ModelRow {
                provider: provider.clone(),
                upstream_id: model_id.clone(),
                group: group_for(model_id, endpoint.group.as_ref()),
                name: model_id.clone(),
                context: None,
                tools: None,
                vision: None,
                score: None,
                tags: Vec::new(),
                origin: RowOrigin::Configured,
            });
        }
        let found = (provider.discovery != DiscoveryKind::None)
            .then(|| discovered.get(&provider.key))
            .flatten();
        for model in found.into_iter().flatten() {
            if let Some(existing) = rows.iter_mut().find(|row| row.upstream_id == model.id) {
                existing.context = existing.context.or(model.context);
                continue;
            }
            rows.push(ModelRow {
                provider: provider.clone(),
                upstream_id: model.id.clone(),
                group: group_for(&model.id, None),
                name: model.name.clone().unwrap_or_else(|| model.id.clone()),
                context: model.context,
                tools: None,
                vision: None,
                score: None,
                tags: Vec::new(),
                origin: RowOrigin::Discovered,
            });
        }
        catalog.rows.extend(rows.into_iter().map(Arc::new));
        catalog.providers.push(provider);
    }
    catalog
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn settings(value: serde_json::Value) -> Settings {
        Settings::from_json(value.as_object().unwrap()).unwrap()
    }

    fn model(id: &str) -> DiscoveredModel {
        DiscoveredModel {
            id: id.into(),
            name: None,
            context: Some(8192),
        }
    }

    #[test]
    fn merges_the_configured_model_with_discovered_ones() {
        let settings = settings(
            json!({"providers": {"openai-compatible:a": {"baseUrl": "http://a", "modelId": "m1"}}}),
        );
        let discovered = BTreeMap::from([(
            "openai-compatible:a".to_string(),
            vec![model("m1"), model("org/m2:free")],
        )]);
        let catalog = build_catalog(&settings, &EnvOverrides::default(), &discovered);
        let ids: Vec<_> = catalog.rows.iter().map(|r| r.row_id()).collect();
        assert_eq!(
            ids,
            ["openai-compatible:a/m1", "openai-compatible:a/org/m2:free"]
        );
        assert_eq!(catalog.rows[0].origin, RowOrigin::Configured);
        assert_eq!(catalog.rows[0].context, Some(8192));
        assert_eq!(catalog.rows[1].group, "m2");
    }

    #[test]
    fn discovery_results_are_ignored_when_discovery_is_off() {
        let settings = settings(
            json!({"providers": {"openai-compatible:a": {"baseUrl": "http://a", "modelId": "m1", "discoverModels": false}}}),
        );
        let discovered = BTreeMap::from([("openai-compatible:a".to_string(), vec![model("m2")])]);
        let catalog = build_catalog(&settings, &EnvOverrides::default(), &discovered);
        assert_eq!(catalog.rows.len(), 1);
    }

    #[test]
    fn users_can_put_rows_into_a_group() {
        let settings = settings(json!({
            "providers": {
                "openai-compatible:a": {"baseUrl": "http://a", "modelId": "qwen-coder-local", "group": "qwen3-coder"},
                "openai-compatible:b": {"baseUrl": "http://b", "modelId": "Qwen3-Coder-480B"}
            },
            "modelGroups": {"openai-compatible:b/Qwen3-Coder-480B": "qwen3-coder"}
        }));
        let catalog = build_catalog(&settings, &EnvOverrides::default(), &BTreeMap::new());
        assert_eq!(catalog.group_rows("qwen3-coder").count(), 2);
        let groups = catalog.groups();
        assert_eq!(groups.len(), 1);
        assert_eq!(groups[0].providers.len(), 2);
    }
}
