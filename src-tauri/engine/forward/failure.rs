//! What an upstream answer or error means for routing: success, try the next candidate, or
//! hand it to the client. Pure.

use std::time::Duration;

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
}

#[derive(Debug, Clone)]
pub struct Failure {
    pub kind: FailureKind,
    pub message: String,
    pub retry_after: Option<Duration>,
}

impl Failure {
    pub fn is_rate_limit(&self) -> bool {
        self.kind == FailureKind::Status(429)
    }

    pub fn is_timeout(&self) -> bool {
        self.kind == FailureKind::FirstByteTimeout
    }
}

/// `Retry-After` as seconds (HTTP dates are rare from these APIs and read as absent).
pub fn parse_retry_after(value: &str) -> Option<Duration> {
    let seconds: f64 = value.trim().parse().ok()?;
    (seconds.is_finite() && seconds >= 0.0).then(|| Duration::from_secs_f64(seconds.min(86_400.0)))
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
    fn reads_retry_after_seconds() {
        assert_eq!(parse_retry_after("7"), Some(Duration::from_secs(7)));
        assert_eq!(parse_retry_after("1.5"), Some(Duration::from_millis(1500)));
        assert_eq!(parse_retry_after("Wed, 21 Oct 2015 07:28:00 GMT"), None);
        assert_eq!(parse_retry_after("-1"), None);
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
