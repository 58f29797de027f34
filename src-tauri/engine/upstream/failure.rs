//! What an upstream answer or error means for routing: success, try the next candidate, or
//! hand it to the client. Pure: no IO, no clock.

use std::time::Duration;

use crate::engine::health::RateLimitInfo;

/// How the router treats an upstream HTTP status.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StatusClass {
    Success,
    /// The row failed, not the request: try the next candidate.
    Failover,
    /// The request itself was refused: the client gets the upstream answer as it is.
    ClientError,
}

/// 408, 429 and every 5xx (529 included) move on, as do 401/403 (our key, not the client's)
/// and 404/410 (the provider no longer serves the model). Other 4xx belong to the client.
pub fn classify_status(status: u16) -> StatusClass {
    match status {
        200..=299 => StatusClass::Success,
        401 | 403 | 404 | 408 | 410 | 429 | 500..=599 => StatusClass::Failover,
        _ => StatusClass::ClientError,
    }
}

/// Why one candidate did not produce an answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FailureKind {
    Connect,
    FirstByteTimeout,
    Status(u16),
    /// The answer broke or stopped before its first chunk.
    BrokenBeforeFirstChunk,
    /// A success status with a body that is not what the endpoint speaks (an HTML error page
    /// from a proxy, a login page): the row failed, whatever its status said.
    NotAnAnswer,
    /// The provider says it no longer serves this model (`model_not_found`, decommissioned,
    /// NVIDIA's 410 `Gone`), with the status it answered: the row is retired, not failing.
    ModelGone(u16),
}

#[derive(Debug, Clone)]
pub struct Failure {
    pub kind: FailureKind,
    pub message: String,
    /// What the answer said about quotas (failures with an HTTP status only).
    pub rate: Option<RateLimitInfo>,
}

impl Failure {
    pub fn new(kind: FailureKind, message: impl Into<String>) -> Self {
        Self {
            kind,
            message: message.into(),
            rate: None,
        }
    }

    /// How long the upstream asked us to wait, when it said.
    pub fn retry_after(&self) -> Option<Duration> {
        self.rate
            .as_ref()
            .and_then(|r| r.exhausted_for)
            .map(|(wait, _)| wait)
    }

    pub fn status(&self) -> Option<u16> {
        match self.kind {
            FailureKind::Status(status) | FailureKind::ModelGone(status) => Some(status),
            _ => None,
        }
    }

    /// The provider no longer serves the row's model.
    pub fn is_model_gone(&self) -> bool {
        matches!(self.kind, FailureKind::ModelGone(_))
    }

    /// The row could not be reached at all.
    pub fn is_hard(&self) -> bool {
        self.kind == FailureKind::Connect
    }

    pub fn is_rate_limit(&self) -> bool {
        self.kind == FailureKind::Status(429)
    }

    pub fn is_timeout(&self) -> bool {
        self.kind == FailureKind::FirstByteTimeout
    }
}

/// One row's failed attempt, kept as data for the request's error.
#[derive(Debug, Clone)]
pub struct FailedAttempt {
    /// `provider/model`.
    pub row: String,
    pub failure: Failure,
}

/// Every failed attempt of one request. Rendered one cause per line, each cause once, with
/// the rows that met it (one unreachable host tried five times reads as one line).
#[derive(Debug, Clone, Default)]
pub struct FailedAttempts(pub Vec<FailedAttempt>);

impl FailedAttempts {
    pub fn push(&mut self, row: String, failure: Failure) {
        self.0.push(FailedAttempt { row, failure });
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    pub fn len(&self) -> usize {
        self.0.len()
    }

    pub fn all(&self, check: impl Fn(&Failure) -> bool) -> bool {
        self.0.iter().all(|attempt| check(&attempt.failure))
    }

    pub fn iter(&self) -> impl Iterator<Item = &FailedAttempt> {
        self.0.iter()
    }

    /// Each distinct cause once, with the rows (each once) that met it, in order of first
    /// appearance.
    pub fn causes(&self) -> Vec<(Vec<&str>, &str)> {
        let mut causes: Vec<(Vec<&str>, &str)> = Vec::new();
        for attempt in &self.0 {
            let message = attempt.failure.message.as_str();
            match causes.iter_mut().find(|(_, m)| *m == message) {
                Some((rows, _)) if rows.contains(&attempt.row.as_str()) => {}
                Some((rows, _)) => rows.push(&attempt.row),
                None => causes.push((vec![&attempt.row], message)),
            }
        }
        causes
    }
}

impl std::fmt::Display for FailedAttempts {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        for (index, (rows, message)) in self.causes().into_iter().enumerate() {
            if index > 0 {
                f.write_str("; ")?;
            }
            let rows: Vec<String> = rows.iter().map(|row| format!("`{row}`")).collect();
            write!(f, "{}: {message}", rows.join(", "))?;
        }
        Ok(())
    }
}

/// How providers say a prompt does not fit the model's context window, lowercased. Sources:
/// OpenAI's `context_length_exceeded` code and message, vLLM (NVIDIA NIM, SambaNova, most
/// OpenAI-compatible servers), Groq and Cerebras ("reduce the length of the messages"),
/// OpenRouter ("this endpoint's maximum context length"), Google ("input token count …
/// exceeds the maximum number of tokens allowed"), Anthropic ("prompt is too long"), Mistral
/// ("too large for model with … maximum context length"), llama.cpp ("exceeds the available
/// context size").
const CONTEXT_OVERFLOW_PHRASES: &[&str] = &[
    "context_length_exceeded",
    "maximum context length",
    "context length exceeded",
    "reduce the length of the messages",
    "exceeds the maximum number of tokens allowed",
    "input token count",
    "prompt is too long",
    "exceeds the available context size",
    "context window",
    "too many tokens",
    "reduce the length",
    "exceeds maximum allowed token size",
    "input is too long",
];

/// How providers say a model does not exist or was retired, lowercased. Sources: OpenAI and
/// Cerebras (`model_not_found`, "The model `x` does not exist or you do not have access to
/// it"), Groq (`model_decommissioned`, "has been decommissioned and is no longer supported"),
/// NVIDIA NIM (410 `Gone`, "has been deprecated", "reached its end of life"), Google ("is not
/// found for API version"), OpenRouter ("is not a valid model ID", "No endpoints found for"),
/// SambaNova and vLLM servers ("Model not found", "model … does not exist"), Mistral
/// ("Invalid model"). These name the model themselves:
const MODEL_GONE_PHRASES: &[&str] = &[
    "model_not_found",
    "model_decommissioned",
    "model not found",
    "is not found for api version",
    "not a valid model",
    "no endpoints found for",
    "invalid model",
    "unknown model",
];

/// Phrases that say something is gone, which count only when the answer is about a model
/// (a wrong path's "does not exist" must not retire every row of a provider).
const GONE_PHRASES: &[&str] = &[
    "does not exist",
    "has been deprecated",
    "was deprecated",
    "is deprecated",
    "decommissioned",
    "no longer supported",
    "no longer available",
    "end of life",
];

/// An error answer that says the provider does not serve the requested model (any more): a
/// 410 always (NVIDIA answers a retired model with `410 Gone`); a 404 or 400 when its body
/// names the model as missing or retired. A bare 404 (a wrong path) is not enough.
pub fn is_model_gone(status: u16, body: &[u8]) -> bool {
    if status == 410 {
        return true;
    }
    if status != 404 && status != 400 {
        return false;
    }
    let text = String::from_utf8_lossy(body).to_ascii_lowercase();
    MODEL_GONE_PHRASES
        .iter()
        .any(|phrase| text.contains(phrase))
        || (text.contains("model") && GONE_PHRASES.iter().any(|phrase| text.contains(phrase)))
}

/// A 400 that says the prompt does not fit this row's context window.
pub fn is_context_overflow(body: &[u8]) -> bool {
    let text = String::from_utf8_lossy(body).to_ascii_lowercase();
    CONTEXT_OVERFLOW_PHRASES
        .iter()
        .any(|phrase| text.contains(phrase))
}

/// The human part of an upstream error body: `error.message`, `message`, or the text itself.
pub fn error_message_from_body(body: &[u8]) -> String {
    let text = String::from_utf8_lossy(body);
    let parsed: Option<serde_json::Value> = serde_json::from_slice(body).ok();
    // Google wraps its error object in an array.
    let parsed = match parsed {
        Some(serde_json::Value::Array(mut items)) if !items.is_empty() => {
            Some(items.swap_remove(0))
        }
        other => other,
    };
    let message = parsed
        .as_ref()
        .and_then(|v| {
            v.pointer("/error/message")
                .or_else(|| v.get("message"))
                .or_else(|| v.get("error"))
                .and_then(|m| m.as_str().map(str::to_string))
        })
        .unwrap_or_else(|| text.trim().to_string());
    let mut cut: String = message.chars().take(300).collect();
    if cut.len() < message.len() {
        cut.push('…');
    }
    cut
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn classifies_statuses_by_what_they_mean() {
        let table = [
            (200, StatusClass::Success),
            (400, StatusClass::ClientError),
            (401, StatusClass::Failover),
            (404, StatusClass::Failover),
            (408, StatusClass::Failover),
            (413, StatusClass::ClientError),
            (422, StatusClass::ClientError),
            (429, StatusClass::Failover),
            (500, StatusClass::Failover),
            (503, StatusClass::Failover),
            (529, StatusClass::Failover),
        ];
        for (status, class) in table {
            assert_eq!(classify_status(status), class, "{status}");
        }
    }

    #[test]
    fn recognises_context_overflow_errors() {
        let overflows: [&[u8]; 9] = [
            br#"{"error":{"code":"context_length_exceeded"}}"#,
            // OpenAI, vLLM (NVIDIA NIM), SambaNova
            b"This model's maximum context length is 8192 tokens. However, you requested 9000 tokens",
            // Groq and Cerebras
            br#"{"error":{"message":"Please reduce the length of the messages or completion.","type":"invalid_request_error","param":"messages","code":"context_length_exceeded"}}"#,
            br#"{"message":"Please reduce the length of the messages or completion. Current length is 9000 while limit is 8192","type":"invalid_request_error"}"#,
            // OpenRouter
            br#"{"error":{"message":"This endpoint's maximum context length is 131072 tokens. However, you requested about 200000 tokens","code":400}}"#,
            // Google
            br#"[{"error":{"code":400,"message":"The input token count (1200000) exceeds the maximum number of tokens allowed (1048576).","status":"INVALID_ARGUMENT"}}]"#,
            // Anthropic
            br#"{"type":"error","error":{"type":"invalid_request_error","message":"prompt is too long: 210000 tokens > 200000 maximum"}}"#,
            // Mistral
            br#"{"message":"Prompt contains 40000 tokens and 0 draft tokens, too large for model with 32768 maximum context length"}"#,
            // llama.cpp
            br#"{"error":{"message":"the request exceeds the available context size, try increasing it"}}"#,
        ];
        for body in overflows {
            assert!(
                is_context_overflow(body),
                "{}",
                String::from_utf8_lossy(body)
            );
        }
        assert!(!is_context_overflow(
            br#"{"error":{"message":"temperature must be <= 2"}}"#
        ));
        assert!(!is_context_overflow(
            br#"{"error":{"message":"Invalid API Key"}}"#
        ));
    }

    #[test]
    fn recognises_models_the_provider_no_longer_serves() {
        let gone: [(u16, &[u8]); 8] = [
            // NVIDIA NIM
            (410, br#"{"status":410,"title":"Gone","detail":"Function not found"}"#),
            (410, b"Gone"),
            // OpenAI, Cerebras
            (404, br#"{"error":{"message":"The model `llama-4-scout` does not exist or you do not have access to it.","type":"invalid_request_error","code":"model_not_found"}}"#),
            // Groq (a 400)
            (400, br#"{"error":{"message":"The model `gemma2-9b-it` has been decommissioned and is no longer supported.","type":"invalid_request_error","code":"model_decommissioned"}}"#),
            // NVIDIA NIM on a deprecated model
            (404, br#"{"detail":"Model meta/llama-3.1-405b-instruct has been deprecated"}"#),
            // Google
            (404, br#"[{"error":{"code":404,"message":"models/gemini-1.0-pro is not found for API version v1beta","status":"NOT_FOUND"}}]"#),
            // OpenRouter
            (404, br#"{"error":{"message":"No endpoints found for mistralai/devstral:free.","code":404}}"#),
            // SambaNova, vLLM
            (404, br#"{"error":"Model not found"}"#),
        ];
        for (status, body) in gone {
            assert!(
                is_model_gone(status, body),
                "{status} {}",
                String::from_utf8_lossy(body)
            );
        }
        let not_gone: [(u16, &[u8]); 5] = [
            (404, b"Not Found"),
            (404, br#"{"detail":"The page does not exist"}"#),
            (400, br#"{"error":{"message":"temperature must be <= 2"}}"#),
            (500, br#"{"error":{"message":"model not found"}}"#),
            (429, br#"{"error":{"code":"model_not_found"}}"#),
        ];
        for (status, body) in not_gone {
            assert!(
                !is_model_gone(status, body),
                "{status} {}",
                String::from_utf8_lossy(body)
            );
        }
    }

    #[test]
    fn repeated_causes_are_said_once() {
        let mut attempts = FailedAttempts::default();
        let dns = || Failure::new(FailureKind::Connect, "dns error: no such host `x.invalid`");
        for row in ["a/1", "a/2", "a/1"] {
            attempts.push(row.into(), dns());
        }
        attempts.push(
            "b/1".into(),
            Failure::new(FailureKind::Status(503), "HTTP 503: busy"),
        );
        assert_eq!(
            attempts.to_string(),
            "`a/1`, `a/2`: dns error: no such host `x.invalid`; `b/1`: HTTP 503: busy"
        );
        assert_eq!(attempts.len(), 4);
    }

    #[test]
    fn extracts_error_messages() {
        assert_eq!(
            error_message_from_body(br#"{"error":{"message":"slow down"}}"#),
            "slow down"
        );
        assert_eq!(error_message_from_body(br#"{"message":"m"}"#), "m");
        assert_eq!(
            error_message_from_body(br#"[{"error":{"code":429,"message":"Resource has been exhausted","status":"RESOURCE_EXHAUSTED"}}]"#),
            "Resource has been exhausted"
        );
        assert_eq!(
            error_message_from_body(b"<html>Bad Gateway</html>"),
            "<html>Bad Gateway</html>"
        );
        assert_eq!(error_message_from_body(&[b'x'; 400]).chars().count(), 301);
    }
}
