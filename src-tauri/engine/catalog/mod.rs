//! The catalog: every (provider, model) row the router may use, grouped by canonical model.
//! It is rebuilt from settings and discovery results and published as an immutable snapshot.

mod build;
mod service;
pub mod slug;

use std::sync::Arc;

pub use build::build_catalog;
pub use service::{CatalogError, CatalogService, DiscoveryStatus};

use crate::engine::providers::{ModelRow, Provider};

/// An immutable snapshot; readers hold an `Arc` to it for the length of a request.
#[derive(Debug, Default)]
pub struct Catalog {
    pub providers: Vec<Arc<Provider>>,
    pub rows: Vec<Arc<ModelRow>>,
}

/// What `/v1/models` shows for one group.
#[derive(Debug, Clone, PartialEq)]
pub struct GroupSummary {
    pub slug: String,
    pub name: String,
    pub providers: Vec<String>,
    pub context: Option<u32>,
    pub tools: bool,
    pub vision: bool,
}

impl Catalog {
    pub fn provider(&self, key: &str) -> Option<&Arc<Provider>> {
        self.providers.iter().find(|p| p.key == key)
    }

    pub fn group_rows<'a>(&'a self, slug: &'a str) -> impl Iterator<Item = &'a Arc<ModelRow>> + 'a {
        self.rows.iter().filter(move |row| row.group == slug)
    }

    /// Groups in order of first appearance.
    pub fn groups(&self) -> Vec<GroupSummary> {
        let mut groups: Vec<GroupSummary> = Vec::new();
        for row in &self.rows {
            let index = match groups.iter().position(|g| g.slug == row.group) {
                Some(index) => index,
                None => {
                    groups.push(GroupSummary {
                        slug: row.group.clone(),
                        name: row.name.clone(),
                        providers: Vec::new(),
                        context: None,
                        tools: false,
                        vision: false,
                    });
                    groups.len() - 1
                }
            };
            let group = &mut groups[index];
            if !group.providers.contains(&row.provider.key) {
                group.providers.push(row.provider.key.clone());
            }
            group.context = group.context.max(row.context);
            group.tools |= row.tools.unwrap_or(false);
            group.vision |= row.vision.unwrap_or(false);
        }
        groups
    }
}
