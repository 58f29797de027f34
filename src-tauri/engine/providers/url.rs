//! Base-URL normalisation for OpenAI-compatible upstreams, as the original does it.

/// `host:8000` → `https://host:8000/v1`; `…/v1/chat/completions` → `…/v1`;
/// `…/openai` stays; any other path gets `/v1` appended. No trailing slash.
pub fn normalize_base_url(input: &str) -> String {
    let mut url = input.trim().to_string();
    if !url.contains("://") {
        url = format!("https://{url}");
    }
    let mut trimmed = url.trim_end_matches('/');
    for suffix in ["/chat/completions", "/models"] {
        if let Some(stripped) = trimmed.strip_suffix(suffix) {
            trimmed = stripped.trim_end_matches('/');
        }
    }
    let path_start = trimmed
        .find("://")
        .map(|i| i + 3)
        .and_then(|after_scheme| trimmed[after_scheme..].find('/').map(|p| p + after_scheme));
    let path = path_start.map(|p| &trimmed[p..]).unwrap_or("");
    let last = path.rsplit('/').next().unwrap_or("");
    if is_version_segment(last) || last == "openai" {
        trimmed.to_string()
    } else {
        format!("{trimmed}/v1")
    }
}

fn is_version_segment(segment: &str) -> bool {
    let Some(rest) = segment.strip_prefix('v') else {
        return false;
    };
    rest.starts_with(|c: char| c.is_ascii_digit())
        && rest.chars().all(|c| c.is_ascii_alphanumeric())
}

/// The `host:port` a URL points at (the port its scheme implies when none is written), the
/// thing a stored key is bound to. `None` for text that is not a URL.
pub fn key_host(url: &str) -> Option<String> {
    let parsed = ::url::Url::parse(url.trim()).ok()?;
    let host = parsed.host_str()?.to_ascii_lowercase();
    let port = parsed.port_or_known_default()?;
    Some(format!("{host}:{port}"))
}

/// True when the URL's host is this machine (local Ollama needs no key).
pub fn is_loopback_url(url: &str) -> bool {
    let after_scheme = url.split("://").nth(1).unwrap_or(url);
    let authority = after_scheme.split('/').next().unwrap_or("");
    let host = if let Some(rest) = authority.strip_prefix('[') {
        rest.split(']').next().unwrap_or("")
    } else {
        authority.split(':').next().unwrap_or("")
    };
    host == "localhost" || host == "::1" || host.starts_with("127.")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_key_is_bound_to_host_and_port() {
        assert_eq!(
            key_host("https://api.groq.com/openai/v1").as_deref(),
            Some("api.groq.com:443")
        );
        assert_eq!(
            key_host("http://127.0.0.1:9999/v1").as_deref(),
            Some("127.0.0.1:9999")
        );
        assert_eq!(
            key_host("HTTP://LocalHost/v1").as_deref(),
            Some("localhost:80")
        );
        assert_eq!(key_host("not a url"), None);
    }

    #[test]
    fn normalises_the_forms_users_paste() {
        let cases = [
            ("localhost:8000", "https://localhost:8000/v1"),
            ("http://localhost:8000", "http://localhost:8000/v1"),
            ("http://localhost:8000/", "http://localhost:8000/v1"),
            ("http://localhost:8000/v1", "http://localhost:8000/v1"),
            ("http://localhost:8000/v1/", "http://localhost:8000/v1"),
            ("http://h/v1/chat/completions", "http://h/v1"),
            ("http://h/v1/models", "http://h/v1"),
            ("https://api.groq.com/openai", "https://api.groq.com/openai"),
            (
                "https://g.example/v1beta/openai/",
                "https://g.example/v1beta/openai",
            ),
            (
                "https://api.groq.com/openai/v1",
                "https://api.groq.com/openai/v1",
            ),
            ("http://h/proxy", "http://h/proxy/v1"),
            ("http://h/v2", "http://h/v2"),
        ];
        for (input, expected) in cases {
            assert_eq!(normalize_base_url(input), expected, "{input}");
        }
    }

    #[test]
    fn recognises_loopback_hosts() {
        assert!(is_loopback_url("http://127.0.0.1:11434"));
        assert!(is_loopback_url("http://localhost/v1"));
        assert!(is_loopback_url("http://[::1]:11434"));
        assert!(!is_loopback_url("https://ollama.com/v1"));
        assert!(!is_loopback_url("http://localhost.evil.com"));
    }
}
