//! Routing tags: the built-in vocabulary, the user's tags (`modelTags` in the config, keyed by
//! group) and the one normalisation both go through. Pure; `tag:<name>` matches the union.

use std::collections::BTreeMap;

use crate::engine::providers::ModelRow;

/// The built-in vocabulary (the original's `tags.js`).
pub const BUILT_IN_TAGS: [&str; 5] = ["coding", "reasoning", "general", "fast", "agentic"];
/// Longest tag accepted, in characters after normalisation.
pub const MAX_TAG_LENGTH: usize = 32;
/// Most tags one group may carry.
pub const MAX_TAGS: usize = 20;

/// Why a tag list was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TagError {
    #[error("tag `{0}` is longer than {MAX_TAG_LENGTH} characters; shorten it")]
    TooLong(String),
    #[error("`tags` holds {0} tags; a model carries at most {MAX_TAGS}")]
    TooMany(usize),
}

/// As the original: lowercase, whitespace runs to `-`, every other character outside
/// `[a-z0-9_-]` dropped. Empty results are `None`.
pub fn normalize_tag(raw: &str) -> Option<String> {
    let mut tag = String::new();
    let mut in_space = false;
    for c in raw.trim().chars().flat_map(char::to_lowercase) {
        if c.is_whitespace() {
            if !in_space {
                tag.push('-');
            }
            in_space = true;
            continue;
        }
        in_space = false;
        if c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_' || c == '-' {
            tag.push(c);
        }
    }
    (!tag.is_empty()).then_some(tag)
}

/// Normalises, drops blanks and duplicates (first spelling kept), and enforces the limits.
pub fn normalize_tags<S: AsRef<str>>(raw: &[S]) -> Result<Vec<String>, TagError> {
    let mut tags: Vec<String> = Vec::new();
    for tag in raw.iter().filter_map(|t| normalize_tag(t.as_ref())) {
        if tag.chars().count() > MAX_TAG_LENGTH {
            return Err(TagError::TooLong(tag));
        }
        if !tags.contains(&tag) {
            tags.push(tag);
        }
    }
    if tags.len() > MAX_TAGS {
        return Err(TagError::TooMany(tags.len()));
    }
    Ok(tags)
}

/// The user's tags of `row`'s group.
pub fn user_tags<'a>(
    row: &ModelRow,
    model_tags: &'a BTreeMap<String, Vec<String>>,
) -> &'a [String] {
    model_tags.get(&row.group).map_or(&[], Vec::as_slice)
}

/// Built-in then user tags, without repeats: what `tag:<name>` matches.
pub fn all_tags(row: &ModelRow, model_tags: &BTreeMap<String, Vec<String>>) -> Vec<String> {
    let mut tags = row.tags.clone();
    for tag in user_tags(row, model_tags) {
        if !tags.iter().any(|t| t.eq_ignore_ascii_case(tag)) {
            tags.push(tag.clone());
        }
    }
    tags
}

/// Whether `row` carries `tag`, built-in or user.
pub fn has_tag(row: &ModelRow, model_tags: &BTreeMap<String, Vec<String>>, tag: &str) -> bool {
    row.tags
        .iter()
        .chain(user_tags(row, model_tags))
        .any(|t| t.eq_ignore_ascii_case(tag))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tags_are_normalised_as_the_original_does() {
        let cases = [
            ("Favorite", Some("favorite")),
            ("  my  Best tag ", Some("my-best-tag")),
            ("c++/rust!", Some("crust")),
            ("snake_case-ok", Some("snake_case-ok")),
            ("€€", None),
            ("", None),
        ];
        for (raw, expected) in cases {
            assert_eq!(normalize_tag(raw).as_deref(), expected, "{raw:?}");
        }
    }

    #[test]
    fn duplicates_and_blanks_are_dropped() {
        assert_eq!(
            normalize_tags(&["Fast", "fast", " ", "x y"]).unwrap(),
            ["fast", "x-y"]
        );
    }

    #[test]
    fn limits_are_refused_not_truncated() {
        let long = "a".repeat(MAX_TAG_LENGTH + 1);
        assert_eq!(
            normalize_tags(&[long.as_str()]),
            Err(TagError::TooLong(long.clone()))
        );
        assert!(normalize_tags(&["a".repeat(MAX_TAG_LENGTH)]).is_ok());
        let many: Vec<String> = (0..=MAX_TAGS).map(|i| format!("t{i}")).collect();
        assert_eq!(normalize_tags(&many), Err(TagError::TooMany(MAX_TAGS + 1)));
        assert!(normalize_tags(&many[..MAX_TAGS]).is_ok());
    }
}
