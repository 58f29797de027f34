//! The `model` field: `auto-fastest`, `auto-best`, `tag:<name>`, a group slug, an exact
//! upstream id or `provider/id`, each optionally followed by `+min_ctx:<n|nk|nm>`.

use std::borrow::Cow;
use std::collections::BTreeMap;
use std::sync::Arc;

use crate::engine::catalog::slug::normalize_model_id;
use crate::engine::catalog::Catalog;
use crate::engine::providers::ModelRow;

use super::tags::has_tag;

pub const AUTO_FASTEST: &str = "auto-fastest";
pub const AUTO_BEST: &str = "auto-best";

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Target {
    AutoFastest,
    AutoBest,
    Tag(String),
    Model(String),
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Selector {
    pub target: Target,
    pub min_context: Option<u32>,
}

impl Selector {
    pub fn is_auto(&self) -> bool {
        matches!(self.target, Target::AutoFastest | Target::AutoBest)
    }
}

/// `128k` → 128 000, `1m` → 1 000 000, `4096` → 4096.
fn parse_context_size(text: &str) -> Option<u32> {
    let text = text.trim().to_ascii_lowercase();
    let (digits, factor) = match text.strip_suffix('k') {
        Some(d) => (d, 1_000.0),
        None => match text.strip_suffix('m') {
            Some(d) => (d, 1_000_000.0),
            None => (text.as_str(), 1.0),
        },
    };
    let value: f64 = digits.parse().ok()?;
    let tokens = value * factor;
    (tokens.is_finite() && tokens >= 0.0 && tokens <= f64::from(u32::MAX)).then_some(tokens as u32)
}

/// A `model` value that cannot be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SelectorError {
    #[error("`+min_ctx:{0}` is not a context size; write it as 32000, 128k or 1m")]
    BadContextSize(String),
}

/// A missing or empty `model` means `auto-fastest`, as in the original.
pub fn parse_selector(model: Option<&str>) -> Result<Selector, SelectorError> {
    let model = model.map(str::trim).unwrap_or("");
    let (name, min_context) = match model.split_once("+min_ctx:") {
        Some((name, size)) => (
            name,
            Some(
                parse_context_size(size)
                    .ok_or_else(|| SelectorError::BadContextSize(size.to_string()))?,
            ),
        ),
        None => (model, None),
    };
    let target = match name.to_ascii_lowercase().as_str() {
        "" | AUTO_FASTEST => Target::AutoFastest,
        AUTO_BEST => Target::AutoBest,
        lower => match lower.strip_prefix("tag:") {
            Some(tag) if !tag.is_empty() => Target::Tag(tag.to_string()),
            _ => Target::Model(name.to_string()),
        },
    };
    Ok(Selector {
        target,
        min_context,
    })
}

/// The rows a selector names, before any filtering. `None` when it names nothing.
/// A group slug always means the whole group, even if some row's upstream id equals it;
/// `tag:` matches built-in tags and the user's `modelTags` (keyed by group).
pub fn resolve_rows<'a>(
    catalog: &'a Catalog,
    selector: &Selector,
    model_tags: &BTreeMap<String, Vec<String>>,
) -> Option<Cow<'a, [Arc<ModelRow>]>> {
    if selector.is_auto() && selector.min_context.is_none() {
        // Every row: borrowed, not copied, on the path every `auto-*` request takes.
        return Some(Cow::Borrowed(catalog.rows.as_slice()));
    }
    let rows: Vec<Arc<ModelRow>> = match &selector.target {
        Target::AutoFastest | Target::AutoBest => catalog.rows.clone(),
        Target::Tag(tag) => catalog
            .rows
            .iter()
            .filter(|row| has_tag(row, model_tags, tag))
            .cloned()
            .collect(),
        Target::Model(name) => resolve_named(catalog, name),
    };
    let rows: Vec<Arc<ModelRow>> = match selector.min_context {
        Some(min) => rows
            .into_iter()
            .filter(|row| row.context.is_some_and(|ctx| ctx >= min))
            .collect(),
        None => rows,
    };
    (!rows.is_empty() || selector.is_auto()).then_some(Cow::Owned(rows))
}

fn resolve_named(catalog: &Catalog, name: &str) -> Vec<Arc<ModelRow>> {
    let lower = name.to_ascii_lowercase();
    let matching = |predicate: &dyn Fn(&ModelRow) -> bool| -> Vec<Arc<ModelRow>> {
        catalog
            .rows
            .iter()
            .filter(|row| predicate(row))
            .cloned()
            .collect()
    };
    let by_group = matching(&|row| row.group == lower);
    if !by_group.is_empty() {
        return by_group;
    }
    let by_row_id = matching(&|row| row.row_id().eq_ignore_ascii_case(name));
    if !by_row_id.is_empty() {
        return by_row_id;
    }
    let by_upstream_id = matching(&|row| row.upstream_id.eq_ignore_ascii_case(name));
    if !by_upstream_id.is_empty() {
        return by_upstream_id;
    }
    let normalized = normalize_model_id(name);
    matching(&|row| row.group == normalized)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::providers::{Provider, RowOrigin};

    fn row(provider: &str, id: &str, group: &str, context: Option<u32>) -> Arc<ModelRow> {
        Arc::new(ModelRow {
            provider: Arc::new(Provider::new(provider, provider, "http://x/v1")),
            upstream_id: id.into(),
            group: group.into(),
            name: id.into(),
            context,
            tools: None,
            vision: None,
            score: None,
            score_source: None,
            limits: Default::default(),
            tags: vec!["coding".into()],
            origin: RowOrigin::Builtin,
            continuation: Default::default(),
            listing: Default::default(),
            provenance: None,
        })
    }

    fn catalog() -> Catalog {
        Catalog {
            providers: Vec::new(),
            rows: vec![
                row("cerebras", "gpt-oss-120b", "gpt-oss-120b", Some(131_072)),
                row("groq", "openai/gpt-oss-120b", "gpt-oss-120b", Some(65_536)),
                row("nvidia", "moonshotai/kimi-k2.5", "kimi-k2.5", None),
            ],
        }
    }

    fn ids(rows: Option<Cow<'_, [Arc<ModelRow>]>>) -> Vec<String> {
        rows.map(|rows| rows.iter().map(|r| r.row_id()).collect())
            .unwrap_or_default()
    }

    #[test]
    fn parses_selectors() {
        let cases = [
            (None, Target::AutoFastest, None),
            (Some("auto-fastest"), Target::AutoFastest, None),
            (Some("AUTO-BEST"), Target::AutoBest, None),
            (
                Some("tag:coding+min_ctx:128k"),
                Target::Tag("coding".into()),
                Some(128_000),
            ),
            (
                Some("auto-fastest+min_ctx:1m"),
                Target::AutoFastest,
                Some(1_000_000),
            ),
            (Some("kimi-k2.5"), Target::Model("kimi-k2.5".into()), None),
            (
                Some("x+min_ctx:4096"),
                Target::Model("x".into()),
                Some(4096),
            ),
        ];
        for (input, target, min_context) in cases {
            assert_eq!(
                parse_selector(input).unwrap(),
                Selector {
                    target,
                    min_context
                },
                "{input:?}"
            );
        }
        assert!(parse_selector(Some("x+min_ctx:lots")).is_err());
    }

    #[test]
    fn a_group_slug_reaches_every_row_of_the_group() {
        // `gpt-oss-120b` is also cerebras' upstream id: the whole group must still be used.
        let catalog = catalog();
        let rows = resolve_rows(
            &catalog,
            &parse_selector(Some("gpt-oss-120b")).unwrap(),
            &BTreeMap::new(),
        );
        assert_eq!(
            ids(rows),
            ["cerebras/gpt-oss-120b", "groq/openai/gpt-oss-120b"]
        );
    }

    #[test]
    fn exact_ids_and_provider_rows_name_one_row() {
        let catalog = catalog();
        let by_row = resolve_rows(
            &catalog,
            &parse_selector(Some("groq/openai/gpt-oss-120b")).unwrap(),
            &BTreeMap::new(),
        );
        assert_eq!(ids(by_row), ["groq/openai/gpt-oss-120b"]);
        let by_id = resolve_rows(
            &catalog,
            &parse_selector(Some("moonshotai/kimi-k2.5")).unwrap(),
            &BTreeMap::new(),
        );
        assert_eq!(ids(by_id), ["nvidia/moonshotai/kimi-k2.5"]);
        let by_spelling = resolve_rows(
            &catalog,
            &parse_selector(Some("Kimi-K2.5:free")).unwrap(),
            &BTreeMap::new(),
        );
        assert_eq!(ids(by_spelling), ["nvidia/moonshotai/kimi-k2.5"]);
    }

    #[test]
    fn min_context_drops_small_and_unknown_windows() {
        let catalog = catalog();
        let rows = resolve_rows(
            &catalog,
            &parse_selector(Some("auto-fastest+min_ctx:100k")).unwrap(),
            &BTreeMap::new(),
        );
        assert_eq!(ids(rows), ["cerebras/gpt-oss-120b"]);
    }

    #[test]
    fn unknown_names_resolve_to_nothing_but_auto_never_fails() {
        assert!(resolve_rows(
            &catalog(),
            &parse_selector(Some("nope")).unwrap(),
            &BTreeMap::new()
        )
        .is_none());
        assert!(resolve_rows(
            &Catalog::default(),
            &parse_selector(None).unwrap(),
            &BTreeMap::new()
        )
        .is_some());
        assert_eq!(
            ids(resolve_rows(
                &catalog(),
                &parse_selector(Some("tag:coding")).unwrap(),
                &BTreeMap::new()
            ))
            .len(),
            3
        );
    }

    #[test]
    fn a_user_tag_routes_over_the_union_with_built_in_tags() {
        let catalog = catalog();
        let mut model_tags = BTreeMap::new();
        model_tags.insert("kimi-k2.5".to_string(), vec!["favorite".to_string()]);
        let favorite = parse_selector(Some("tag:Favorite")).unwrap();
        assert_eq!(
            ids(resolve_rows(&catalog, &favorite, &model_tags)),
            ["nvidia/moonshotai/kimi-k2.5"]
        );
        assert!(resolve_rows(&catalog, &favorite, &BTreeMap::new()).is_none());
    }
}
