//! Extra request headers some providers expect (OpenCode Zen's session headers, the AWS SDK
//! headers of Kiro's IDE).

use http::{HeaderName, HeaderValue};

use super::{Flavor, Provider};

/// Identifies this router to OpenCode Zen the way its own CLI does: a project id derived
/// from the working directory and one session id per engine run.
#[derive(Debug, Clone)]
pub struct ClientIdentity {
    project: String,
    session: String,
}

impl ClientIdentity {
    pub fn new() -> Self {
        let cwd = std::env::current_dir()
            .map(|p| p.display().to_string())
            .unwrap_or_default();
        Self {
            project: sha1_smol::Sha1::from(cwd.as_bytes()).digest().to_string(),
            session: format!("ses_{}", uuid::Uuid::new_v4().simple()),
        }
    }
}

impl Default for ClientIdentity {
    fn default() -> Self {
        Self::new()
    }
}

/// Headers to add to every request (chat and discovery) to `provider`.
pub fn provider_headers(
    provider: &Provider,
    identity: &ClientIdentity,
) -> Vec<(HeaderName, HeaderValue)> {
    match provider.flavor {
        Flavor::Standard => Vec::new(),
        Flavor::Kiro => kiro_sdk_headers(),
        Flavor::OpenCode => {
            let request = format!("req_{}", uuid::Uuid::new_v4().simple());
            [
                ("x-opencode-project", identity.project.as_str()),
                ("x-opencode-session", identity.session.as_str()),
                ("x-opencode-request", request.as_str()),
                ("x-opencode-client", "cli"),
            ]
            .into_iter()
            .filter_map(header_pair)
            .collect()
        }
    }
}

/// The AWS SDK headers Kiro's IDE sends (besides the bearer token).
pub fn kiro_sdk_headers() -> Vec<(HeaderName, HeaderValue)> {
    let invocation = uuid::Uuid::new_v4().to_string();
    [
        ("accept", "application/vnd.amazon.eventstream"),
        (
            "x-amz-target",
            "AmazonCodeWhispererStreamingService.GenerateAssistantResponse",
        ),
        ("user-agent", "AWS-SDK-JS/3.0.0 kiro-ide/1.0.0"),
        ("x-amz-user-agent", "aws-sdk-js/3.0.0 kiro-ide/1.0.0"),
        ("amz-sdk-request", "attempt=1; max=3"),
        ("amz-sdk-invocation-id", invocation.as_str()),
        ("x-amzn-bedrock-cache-control", "enable"),
        ("anthropic-beta", "prompt-caching-2024-07-31"),
    ]
    .into_iter()
    .filter_map(header_pair)
    .collect()
}

/// A header from a static name and a value; `None` when the value cannot be a header value.
pub fn header_pair((name, value): (&'static str, &str)) -> Option<(HeaderName, HeaderValue)> {
    Some((
        HeaderName::from_static(name),
        HeaderValue::from_str(value).ok()?,
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn opencode_gets_session_headers_and_others_none() {
        let identity = ClientIdentity::new();
        let mut opencode = Provider::new("opencode", "OpenCode Zen", "https://x/v1");
        opencode.flavor = Flavor::OpenCode;
        let headers = provider_headers(&opencode, &identity);
        let names: Vec<&str> = headers.iter().map(|(n, _)| n.as_str()).collect();
        assert_eq!(
            names,
            [
                "x-opencode-project",
                "x-opencode-session",
                "x-opencode-request",
                "x-opencode-client"
            ]
        );
        assert!(headers[1].1.to_str().unwrap().starts_with("ses_"));
        let second = provider_headers(&opencode, &identity);
        assert_eq!(headers[1].1, second[1].1, "one session per run");
        assert_ne!(headers[2].1, second[2].1, "one request id per request");
        assert!(
            provider_headers(&Provider::new("groq", "Groq", "https://x/v1"), &identity).is_empty()
        );
    }
}
