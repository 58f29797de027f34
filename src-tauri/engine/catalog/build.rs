//! Builds a catalog snapshot from the built-in data, settings, env overrides and discovery
//! results. Pure.
//!
//! Merge rules: once a provider's discovery succeeded (with a non-empty list), the list is the
//! truth. Built-in rows it lists route; built-in rows it does not list stay in the catalog as
//! `Listing::NotListed` (retired: never planned, never probed, shown with when a list last had
//! them) and come back when a later list has them. Models the list adds become rows, except
//! on OpenCode Zen (only `-free` ids); on providers whose discovery is authoritative
//! (OpenRouter/KiloCode `:free`, OpenCode Zen, Ollama) the list's order and context windows
//! win. Discovered rows join a group through the alias table and inherit that group's
//! capabilities and score, never another provider's context window. `modelGroups` and an
//! endpoint's `group` override everything.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use crate::engine::config::{EnvOverrides, Settings};
use crate::engine::providers::builtin::{configured_provider, BuiltinCatalog, ModelSpec};
use crate::engine::providers::discovery::ModelListing;
use crate::engine::providers::endpoints::openai_compatible_endpoints;
use crate::engine::providers::{DiscoveryKind, Listing, ModelRow, Provider, RowOrigin};

use super::Catalog;

/// `"Qwen: Qwen3 Coder 480B (free)"` → `"Qwen3 Coder 480B"`.
pub fn clean_label(label: &str) -> String {
    let without_lab = label.split_once(": ").map_or(label, |(_, rest)| rest);
    let mut cleaned = without_lab.replace("(free)", "");
    cleaned = cleaned.trim().to_string();
    if let Some(stripped) = cleaned.strip_suffix(" Free") {
        cleaned = stripped.trim_end().to_string();
    }
    cleaned
}

struct Builder<'a> {
    builtin: &'a BuiltinCatalog,
    settings: &'a Settings,
    /// The first built-in row of each group: the group's capabilities and score.
    group_facts: HashMap<&'a str, &'a ModelSpec>,
}

impl<'a> Builder<'a> {
    fn group_for(&self, provider: &str, id: &str, explicit: Option<&str>) -> String {
        self.settings
            .model_groups
            .get(&format!("{provider}/{id}"))
            .map(|g| g.trim().to_ascii_lowercase())
            .or_else(|| explicit.map(str::to_string))
            .unwrap_or_else(|| self.builtin.group_for(id))
    }

    fn builtin_row(&self, provider: &Arc<Provider>, spec: &ModelSpec) -> ModelRow {
        let group = self.group_for(&provider.key, &spec.id, Some(&spec.group));
        ModelRow {
            name: spec.name.clone(),
            context: spec.context,
            tools: spec.tools,
            vision: spec.vision,
            score: spec.score,
            score_source: spec.score_source.clone(),
            tags: spec.tags.clone(),
            limits: spec.limits(),
            continuation: spec.continuation.unwrap_or(provider.continuation),
            provenance: Some(spec.provenance.clone()),
            ..ModelRow::new(provider.clone(), &spec.id, &group, RowOrigin::Builtin)
        }
    }

    /// A row for an id the provider listed or the user configured.
    fn dynamic_row(
        &self,
        provider: &Arc<Provider>,
        id: &str,
        explicit_group: Option<&str>,
        name: Option<&str>,
        context: Option<u32>,
        origin: RowOrigin,
    ) -> ModelRow {
        let group = self.group_for(&provider.key, id, explicit_group);
        let mut row = ModelRow::new(provider.clone(), id, &group, origin);
        row.context = context;
        row.name = name.map_or_else(|| id.to_string(), clean_label);
        if let Some(facts) = self.group_facts.get(group.as_str()) {
            row.name = facts.name.clone();
            row.tools = facts.tools;
            row.vision = facts.vision;
            row.score = facts.score;
            row.score_source = facts.score_source.clone();
            row.tags = facts.tags.clone();
        }
        row
    }

    fn provider_rows(
        &self,
        provider: &Arc<Provider>,
        listing: Option<&ModelListing>,
        configured: Option<&str>,
    ) -> Vec<ModelRow> {
        let statics: Vec<ModelRow> = self
            .builtin
            .models_of(&provider.key)
            .map(|spec| self.builtin_row(provider, spec))
            .collect();
        let listing = listing
            .filter(|_| provider.discovery != DiscoveryKind::None)
            .filter(|listing| !listing.models.is_empty());
        let mut rows = match listing {
            Some(listing) => self.listed_rows(provider, listing, statics),
            None => statics,
        };
        if let Some(id) = configured {
            if !rows.iter().any(|r| r.upstream_id == id) {
                rows.insert(
                    0,
                    self.dynamic_row(provider, id, None, None, None, RowOrigin::Configured),
                );
            }
        }
        rows
    }

    /// The rows of a provider whose discovery succeeded: what it lists (built-in facts kept
    /// where a built-in row matches), then the built-in rows it no longer lists, retired.
    /// Where discovery is authoritative (`replaces_builtin_rows`) only listed rows route; on
    /// other providers listed models the catalog does not know are added beside the statics.
    fn listed_rows(
        &self,
        provider: &Arc<Provider>,
        listing: &ModelListing,
        statics: Vec<ModelRow>,
    ) -> Vec<ModelRow> {
        let (listed_statics, unlisted): (Vec<ModelRow>, Vec<ModelRow>) = statics
            .into_iter()
            .partition(|row| listing.lists(&row.upstream_id));
        let mut rows: Vec<ModelRow> = Vec::new();
        let authoritative = provider.discovery.replaces_builtin_rows();
        if !authoritative {
            rows.extend(listed_statics.iter().cloned());
        }
        for model in &listing.models {
            let known = listed_statics.iter().find(|s| s.upstream_id == model.id);
            match known {
                Some(_) if !authoritative => {}
                Some(known) => rows.push(known.clone()),
                None if provider.discovery == DiscoveryKind::OpencodeZen
                    && !model.id.ends_with("-free") =>
                {
                    continue
                }
                None => rows.push(self.dynamic_row(
                    provider,
                    &model.id,
                    None,
                    model.name.as_deref(),
                    model.context,
                    RowOrigin::Discovered,
                )),
            }
        }
        for row in &mut rows {
            row.listing = Listing::Listed;
            if let Some(model) = listing.models.iter().find(|m| m.id == row.upstream_id) {
                row.context = row.context.or(model.context);
                if row.origin == RowOrigin::Builtin && authoritative {
                    row.context = model.context.or(row.context);
                }
            }
        }
        rows.extend(unlisted.into_iter().map(|row| ModelRow {
            listing: Listing::NotListed {
                last_seen: listing.last_seen.get(&row.upstream_id).copied(),
            },
            ..row
        }));
        rows
    }
}

/// `discovered` maps a provider key to its last successful model list.
pub fn build_catalog(
    builtin: &BuiltinCatalog,
    settings: &Settings,
    env: &EnvOverrides,
    discovered: &BTreeMap<String, ModelListing>,
) -> Catalog {
    let mut group_facts: HashMap<&str, &ModelSpec> = HashMap::new();
    for spec in &builtin.models {
        group_facts.entry(spec.group.as_str()).or_insert(spec);
    }
    let builder = Builder {
        builtin,
        settings,
        group_facts,
    };
    let mut catalog = Catalog::default();
    for spec in &builtin.providers {
        let provider = Arc::new(configured_provider(spec, settings, env));
        let configured = env
            .model_ids
            .get(&spec.key)
            .or(settings
                .provider(&spec.key)
                .and_then(|p| p.model_id.as_ref()))
            .map(String::as_str)
            .filter(|id| !id.trim().is_empty());
        let rows = builder.provider_rows(&provider, discovered.get(&spec.key), configured);
        catalog.rows.extend(rows.into_iter().map(Arc::new));
        catalog.providers.push(provider);
    }
    for endpoint in openai_compatible_endpoints(settings, env) {
        let provider = Arc::new(endpoint.provider);
        let mut rows: Vec<ModelRow> = Vec::new();
        if let Some(model_id) = &endpoint.model_id {
            rows.push(builder.dynamic_row(
                &provider,
                model_id,
                endpoint.group.as_deref(),
                None,
                None,
                RowOrigin::Configured,
            ));
        }
        let found = (provider.discovery != DiscoveryKind::None)
            .then(|| discovered.get(&provider.key))
            .flatten();
        for model in found.into_iter().flat_map(|listing| &listing.models) {
            if let Some(existing) = rows.iter_mut().find(|row| row.upstream_id == model.id) {
                existing.context = existing.context.or(model.context);
                continue;
            }
            rows.push(builder.dynamic_row(
                &provider,
                &model.id,
                None,
                model.name.as_deref(),
                model.context,
                RowOrigin::Discovered,
            ));
        }
        catalog.rows.extend(rows.into_iter().map(Arc::new));
        catalog.providers.push(provider);
    }
    catalog
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::providers::discovery::DiscoveredModel;
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

    fn build(settings: &Settings, discovered: &[(&str, Vec<DiscoveredModel>)]) -> Catalog {
        let discovered = discovered
            .iter()
            .map(|(k, v)| {
                let mut listing = ModelListing::default();
                listing.update(v.clone(), 1_000);
                (k.to_string(), listing)
            })
            .collect();
        build_catalog(
            &BuiltinCatalog::load().unwrap(),
            settings,
            &EnvOverrides::default(),
            &discovered,
        )
    }

    fn endpoint_ids(catalog: &Catalog) -> Vec<String> {
        catalog
            .rows
            .iter()
            .filter(|r| r.provider.key.starts_with("openai-compatible"))
            .map(|r| r.row_id())
            .collect()
    }

    #[test]
    fn merges_the_configured_model_with_discovered_ones() {
        let settings = settings(
            json!({"providers": {"openai-compatible:a": {"baseUrl": "http://a", "modelId": "m1"}}}),
        );
        let catalog = build(
            &settings,
            &[(
                "openai-compatible:a",
                vec![model("m1"), model("org/m2:free")],
            )],
        );
        assert_eq!(
            endpoint_ids(&catalog),
            ["openai-compatible:a/m1", "openai-compatible:a/org/m2:free"]
        );
        let m1 = catalog.rows.iter().find(|r| r.upstream_id == "m1").unwrap();
        assert_eq!(m1.origin, RowOrigin::Configured);
        assert_eq!(m1.context, Some(8192));
    }

    #[test]
    fn discovery_results_are_ignored_when_discovery_is_off() {
        let settings = settings(
            json!({"providers": {"openai-compatible:a": {"baseUrl": "http://a", "modelId": "m1", "discoverModels": false}}}),
        );
        let catalog = build(&settings, &[("openai-compatible:a", vec![model("m2")])]);
        assert_eq!(endpoint_ids(&catalog).len(), 1);
    }

    #[test]
    fn users_can_put_rows_into_a_group() {
        let settings = settings(json!({
            "providers": {
                "openai-compatible:a": {"baseUrl": "http://a", "modelId": "qwen-coder-local", "group": "qwen3-coder"},
                "openai-compatible:b": {"baseUrl": "http://b", "modelId": "Some-Other-Id"}
            },
            "modelGroups": {"openai-compatible:b/Some-Other-Id": "qwen3-coder"}
        }));
        let catalog = build(&settings, &[]);
        let providers: Vec<_> = catalog
            .group_rows("qwen3-coder")
            .map(|r| r.provider.key.clone())
            .collect();
        assert!(providers.contains(&"openai-compatible:a".to_string()));
        assert!(providers.contains(&"openai-compatible:b".to_string()));
        let local = catalog
            .rows
            .iter()
            .find(|r| r.upstream_id == "qwen-coder-local")
            .unwrap();
        assert!(
            local.score.is_some(),
            "a user row inherits the group's score"
        );
    }

    #[test]
    fn built_in_rows_are_kept_and_discovered_rows_added() {
        let catalog = build(
            &Settings::default(),
            &[(
                "groq",
                vec![model("openai/gpt-oss-120b"), model("brand-new-model")],
            )],
        );
        let groq: Vec<_> = catalog
            .rows
            .iter()
            .filter(|r| r.provider.key == "groq")
            .collect();
        assert!(groq
            .iter()
            .any(|r| r.upstream_id == "brand-new-model" && r.origin == RowOrigin::Discovered));
        assert!(
            groq.iter()
                .any(|r| r.upstream_id == "llama-3.3-70b-versatile"),
            "static rows stay"
        );
    }

    #[test]
    fn openrouter_discovery_replaces_its_rows_and_joins_groups_by_alias() {
        let catalog = build(
            &Settings::default(),
            &[("openrouter", vec![model("moonshotai/kimi-k2.5:free")])],
        );
        let openrouter: Vec<_> = catalog
            .rows
            .iter()
            .filter(|r| r.provider.key == "openrouter" && !r.is_unlisted())
            .collect();
        assert_eq!(openrouter.len(), 1);
        assert_eq!(openrouter[0].listing, Listing::Listed);
        assert_eq!(openrouter[0].group, "kimi-k2.5");
        assert!(openrouter[0].score.is_some());
        assert!(
            catalog.group_rows("kimi-k2.5").count() >= 2,
            "the slug reaches every provider of the model"
        );
    }

    #[test]
    fn an_empty_discovery_keeps_the_built_in_rows() {
        let before = build(&Settings::default(), &[])
            .rows
            .iter()
            .filter(|r| r.provider.key == "openrouter")
            .count();
        let after = build(&Settings::default(), &[("openrouter", vec![])])
            .rows
            .iter()
            .filter(|r| r.provider.key == "openrouter")
            .count();
        assert!(before > 0);
        assert_eq!(before, after);
    }

    #[test]
    fn ollama_takes_its_configured_model_as_a_row() {
        let settings = settings(
            json!({"providers": {"ollama": {"baseUrl": "http://127.0.0.1:11434", "modelId": "qwen2.5-coder:7b"}}}),
        );
        let catalog = build(&settings, &[("ollama", vec![model("llama3:8b")])]);
        let ids: Vec<_> = catalog
            .rows
            .iter()
            .filter(|r| r.provider.key == "ollama" && !r.is_unlisted())
            .map(|r| r.upstream_id.clone())
            .collect();
        assert_eq!(ids, ["qwen2.5-coder:7b", "llama3:8b"]);
    }

    #[test]
    fn static_rows_the_list_omits_are_retired_and_come_back_when_listed() {
        let groq = |catalog: &Catalog, id: &str| {
            catalog
                .rows
                .iter()
                .find(|r| r.provider.key == "groq" && r.upstream_id == id)
                .cloned()
                .unwrap()
        };
        let statics = build(&Settings::default(), &[]);
        let all_static = groq(&statics, "llama-3.3-70b-versatile");
        assert_eq!(
            all_static.listing,
            Listing::Unknown,
            "no list yet: no verdict"
        );

        let mut listing = ModelListing::default();
        listing.update(vec![model("llama-3.3-70b-versatile")], 1_000);
        listing.update(vec![model("openai/gpt-oss-120b")], 2_000);
        let discovered = BTreeMap::from([("groq".to_string(), listing.clone())]);
        let builtin = BuiltinCatalog::load().unwrap();
        let env = EnvOverrides::default();
        let catalog = build_catalog(&builtin, &Settings::default(), &env, &discovered);
        assert_eq!(
            groq(&catalog, "llama-3.3-70b-versatile").listing,
            Listing::NotListed {
                last_seen: Some(1_000)
            }
        );
        assert_eq!(
            groq(&catalog, "openai/gpt-oss-120b").listing,
            Listing::Listed
        );
        let never_seen = catalog
            .rows
            .iter()
            .find(|r| {
                r.provider.key == "groq"
                    && r.origin == RowOrigin::Builtin
                    && !["llama-3.3-70b-versatile", "openai/gpt-oss-120b"]
                        .contains(&r.upstream_id.as_str())
            })
            .unwrap();
        assert_eq!(never_seen.listing, Listing::NotListed { last_seen: None });

        // Listed again: back.
        listing.update(
            vec![
                model("llama-3.3-70b-versatile"),
                model("openai/gpt-oss-120b"),
            ],
            3_000,
        );
        let discovered = BTreeMap::from([("groq".to_string(), listing)]);
        let catalog = build_catalog(&builtin, &Settings::default(), &env, &discovered);
        assert_eq!(
            groq(&catalog, "llama-3.3-70b-versatile").listing,
            Listing::Listed
        );
    }

    #[test]
    fn an_empty_list_retires_nothing() {
        let mut listing = ModelListing::default();
        listing.update(vec![model("llama-3.3-70b-versatile")], 1_000);
        listing.update(Vec::new(), 2_000);
        assert_eq!(listing.models.len(), 1, "an empty list changes nothing");
        let catalog = build(&Settings::default(), &[("groq", Vec::new())]);
        assert!(catalog
            .rows
            .iter()
            .filter(|r| r.provider.key == "groq")
            .all(|r| r.listing == Listing::Unknown));
    }

    #[test]
    fn cleans_provider_labels() {
        assert_eq!(
            clean_label("Qwen: Qwen3 Coder 480B (free)"),
            "Qwen3 Coder 480B"
        );
        assert_eq!(clean_label("Kimi K2.5 Free"), "Kimi K2.5");
        assert_eq!(clean_label("Plain"), "Plain");
    }
}
