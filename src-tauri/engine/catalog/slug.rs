//! Canonical group slugs: the model's identity independent of how a provider spells its id.

/// `Qwen/Qwen3-Coder:free` → `qwen3-coder`: last path segment, lowercase, routing suffixes
/// (`:free`, `:cloud`, `:optimized`) removed, anything outside `[a-z0-9.-]` turned into `-`.
pub fn normalize_model_id(id: &str) -> String {
    let mut base = id.trim().to_ascii_lowercase();
    loop {
        let before = base.len();
        for suffix in [":free", ":cloud", ":optimized", ":latest"] {
            if let Some(stripped) = base.strip_suffix(suffix) {
                base = stripped.to_string();
            }
        }
        if base.len() == before {
            break;
        }
    }
    let leaf = base.rsplit('/').next().unwrap_or(&base);
    let mut slug = String::with_capacity(leaf.len());
    for c in leaf.chars() {
        let c = if c.is_ascii_alphanumeric() || c == '.' || c == '-' {
            c
        } else {
            '-'
        };
        if !(c == '-' && slug.ends_with('-')) {
            slug.push(c);
        }
    }
    let slug = slug.trim_matches('-').to_string();
    if slug.is_empty() {
        "model".into()
    } else {
        slug
    }
}

/// True for a string that may be used as a group slug.
pub fn is_valid_slug(slug: &str) -> bool {
    !slug.is_empty()
        && slug.starts_with(|c: char| c.is_ascii_lowercase() || c.is_ascii_digit())
        && slug
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '.' || c == '-')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn normalises_provider_spellings() {
        let cases = [
            ("moonshotai/kimi-k2.5", "kimi-k2.5"),
            ("Qwen/Qwen3-Coder:free", "qwen3-coder"),
            ("kimi-k2.5:cloud", "kimi-k2.5"),
            ("gpt-oss:120b", "gpt-oss-120b"),
            ("openai/gpt-oss-120b:free:optimized", "gpt-oss-120b"),
            ("weird name!", "weird-name"),
            ("///", "model"),
        ];
        for (id, slug) in cases {
            assert_eq!(normalize_model_id(id), slug, "{id}");
            assert!(is_valid_slug(&normalize_model_id(id)));
        }
    }

    #[test]
    fn validates_slugs() {
        assert!(is_valid_slug("glm-4.7"));
        assert!(!is_valid_slug("-x"));
        assert!(!is_valid_slug("A"));
        assert!(!is_valid_slug("a/b"));
    }
}
