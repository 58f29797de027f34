//! Reading rate-limit signals from an upstream answer: `retry-after`, the `x-ratelimit-*`
//! family (durations like `1m30s`, `12ms`), per-day variants, Gemini's `RetryInfo` and
//! `QuotaFailure`, OpenRouter's epoch resets and "try again in Xs" messages. Pure.

use std::time::Duration;

use http::HeaderMap;
use serde_json::Value;

/// Whether an exhaustion lasts minutes or until a daily reset.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Window {
    Minute,
    Day,
}

/// What one answer says about the row's quota.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct RateLimitInfo {
    /// How long until requests may be sent again, when the answer says the quota is spent.
    pub exhausted_for: Option<(Duration, Window)>,
    pub limit_requests: Option<u64>,
    pub remaining_requests: Option<u64>,
    pub reset_requests: Option<Duration>,
    pub limit_tokens: Option<u64>,
    pub remaining_tokens: Option<u64>,
    pub reset_tokens: Option<Duration>,
    /// The account-wide free pool (OpenRouter) is spent, not only this model's quota.
    pub shared_pool: bool,
}

impl RateLimitInfo {
    /// The fraction of the request quota still available, when known.
    pub fn headroom(&self) -> Option<f64> {
        let limit = self.limit_requests.filter(|&l| l > 0)?;
        let remaining = self.remaining_requests?;
        Some((remaining as f64 / limit as f64).clamp(0.0, 1.0))
    }
}

/// `1m30s`, `12ms`, `45s`, `2h`, `0.5s`, or a plain number of seconds.
pub fn parse_duration(text: &str) -> Option<Duration> {
    let text = text.trim().to_ascii_lowercase();
    if text.is_empty() {
        return None;
    }
    if let Ok(seconds) = text.parse::<f64>() {
        return (seconds.is_finite() && seconds >= 0.0)
            .then(|| Duration::from_secs_f64(seconds.min(7.0 * 86_400.0)));
    }
    let mut total = 0.0;
    let mut number = String::new();
    let mut chars = text.chars().peekable();
    let mut matched = false;
    while let Some(c) = chars.next() {
        if c.is_ascii_digit() || c == '.' {
            number.push(c);
            continue;
        }
        let value: f64 = number.parse().ok()?;
        number.clear();
        let unit = match c {
            'h' => 3600.0,
            'm' if chars.peek() == Some(&'s') => {
                chars.next();
                0.001
            }
            'm' => 60.0,
            's' => 1.0,
            'd' => 86_400.0,
            _ => return None,
        };
        total += value * unit;
        matched = true;
    }
    (matched && number.is_empty() && total.is_finite()).then(|| Duration::from_secs_f64(total))
}

fn header<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers
        .get(name)
        .and_then(|v| v.to_str().ok())
        .map(str::trim)
}

fn header_u64(headers: &HeaderMap, name: &str) -> Option<u64> {
    header(headers, name)
        .and_then(|v| v.parse::<f64>().ok())
        .filter(|v| *v >= 0.0)
        .map(|v| v as u64)
}

/// A reset given as a duration, or as an epoch timestamp (seconds or milliseconds).
fn header_reset(headers: &HeaderMap, name: &str, now_unix_ms: u64) -> Option<Duration> {
    let value = header(headers, name)?;
    if let Ok(number) = value.parse::<u64>() {
        if number > 1_000_000_000_000 {
            return Some(Duration::from_millis(number.saturating_sub(now_unix_ms)));
        }
        if number > 1_000_000_000 {
            return Some(Duration::from_millis(
                (number * 1000).saturating_sub(now_unix_ms),
            ));
        }
    }
    parse_duration(value)
}

/// "try again in 7.5s", "Please retry in 36.4s", "retry after 20 seconds".
pub fn retry_hint_in_message(message: &str) -> Option<Duration> {
    let lower = message.to_ascii_lowercase();
    for marker in ["try again in ", "retry in ", "retry after ", "wait "] {
        if let Some(at) = lower.find(marker) {
            let rest = &lower[at + marker.len()..];
            let token: String = rest
                .chars()
                .take_while(|c| c.is_ascii_alphanumeric() || *c == '.')
                .collect();
            let has_unit = token.chars().any(|c| c.is_ascii_alphabetic());
            if let Some(duration) = parse_duration(&token).filter(|_| has_unit) {
                return Some(duration);
            }
            let number: String = rest
                .chars()
                .take_while(|c| c.is_ascii_digit() || *c == '.')
                .collect();
            let unit = rest[number.len()..].trim_start();
            if let Ok(value) = number.parse::<f64>() {
                let seconds = if unit.starts_with("min") {
                    value * 60.0
                } else if unit.starts_with("hour") {
                    value * 3600.0
                } else if unit.starts_with("ms") || unit.starts_with("milli") {
                    value / 1000.0
                } else {
                    value
                };
                return Some(Duration::from_secs_f64(seconds));
            }
        }
    }
    None
}

/// Gemini's `details`: `RetryInfo.retryDelay` and whether `QuotaFailure` names a daily quota.
fn gemini_details(body: &Value) -> (Option<Duration>, Option<Window>) {
    let error = match body {
        Value::Array(items) => items.first().and_then(|i| i.get("error")),
        other => other.get("error"),
    };
    let Some(details) = error
        .and_then(|e| e.get("details"))
        .and_then(Value::as_array)
    else {
        return (None, None);
    };
    let mut delay = None;
    let mut window = None;
    for detail in details {
        let kind = detail.get("@type").and_then(Value::as_str).unwrap_or("");
        if kind.ends_with("RetryInfo") {
            delay = detail
                .get("retryDelay")
                .and_then(Value::as_str)
                .and_then(parse_duration);
        }
        if kind.ends_with("QuotaFailure") {
            let ids: String = detail.to_string().to_ascii_lowercase();
            window = Some(if ids.contains("perday") {
                Window::Day
            } else {
                Window::Minute
            });
        }
    }
    (delay, window)
}

/// Reads everything an answer says about quotas. `status` 429 means exhausted.
pub fn read_rate_limit(
    status: u16,
    headers: &HeaderMap,
    body: &[u8],
    now_unix_ms: u64,
) -> RateLimitInfo {
    let mut info = RateLimitInfo {
        limit_requests: header_u64(headers, "x-ratelimit-limit-requests"),
        remaining_requests: header_u64(headers, "x-ratelimit-remaining-requests"),
        reset_requests: header_reset(headers, "x-ratelimit-reset-requests", now_unix_ms),
        limit_tokens: header_u64(headers, "x-ratelimit-limit-tokens"),
        remaining_tokens: header_u64(headers, "x-ratelimit-remaining-tokens"),
        reset_tokens: header_reset(headers, "x-ratelimit-reset-tokens", now_unix_ms),
        ..RateLimitInfo::default()
    };
    // OpenRouter: x-ratelimit-limit / -remaining / -reset (epoch ms).
    info.limit_requests = info
        .limit_requests
        .or_else(|| header_u64(headers, "x-ratelimit-limit"));
    info.remaining_requests = info
        .remaining_requests
        .or_else(|| header_u64(headers, "x-ratelimit-remaining"));
    info.reset_requests = info
        .reset_requests
        .or_else(|| header_reset(headers, "x-ratelimit-reset", now_unix_ms));
    let day_remaining = header_u64(headers, "x-ratelimit-remaining-requests-day");
    let day_reset = header_reset(headers, "x-ratelimit-reset-requests-day", now_unix_ms);

    let text = String::from_utf8_lossy(body);
    let parsed: Option<Value> = serde_json::from_slice(body).ok();
    let (gemini_delay, gemini_window) = parsed.as_ref().map_or((None, None), gemini_details);
    let lower = text.to_ascii_lowercase();
    let says_daily = lower.contains("per day")
        || lower.contains("per-day")
        || lower.contains("perday")
        || lower.contains("daily")
        || lower.contains("free-models-per-day");
    info.shared_pool = lower.contains("free-models-per-day");

    if status == 429 {
        let retry_after = header(headers, "retry-after").and_then(parse_duration);
        let day_spent =
            day_remaining == Some(0) || says_daily || gemini_window == Some(Window::Day);
        let (wait, window) = if day_spent {
            let wait = day_reset
                .or(retry_after)
                .or(gemini_delay)
                .or(info.reset_requests);
            (wait.unwrap_or(Duration::from_secs(3600)), Window::Day)
        } else {
            let wait = retry_after
                .or(gemini_delay)
                .or_else(|| retry_hint_in_message(&text))
                .or_else(|| match (info.remaining_requests, info.remaining_tokens) {
                    (Some(0), _) => info.reset_requests,
                    (_, Some(0)) => info.reset_tokens,
                    _ => info.reset_requests.max(info.reset_tokens),
                });
            (wait.unwrap_or(Duration::from_secs(30)), Window::Minute)
        };
        info.exhausted_for = Some((wait, window));
    } else if day_remaining == Some(0) {
        info.exhausted_for = day_reset.map(|wait| (wait, Window::Day));
    } else if info.remaining_requests == Some(0) {
        info.exhausted_for = info.reset_requests.map(|wait| (wait, Window::Minute));
    }
    info
}

#[cfg(test)]
mod tests {
    use super::*;
    use http::HeaderValue;

    fn headers(pairs: &[(&'static str, &str)]) -> HeaderMap {
        let mut map = HeaderMap::new();
        for (name, value) in pairs {
            map.insert(*name, HeaderValue::from_str(value).unwrap());
        }
        map
    }

    #[test]
    fn parses_provider_durations() {
        let cases = [
            ("1m30s", Some(90_000)),
            ("12ms", Some(12)),
            ("45s", Some(45_000)),
            ("2", Some(2_000)),
            ("0.5", Some(500)),
            ("6m0.12s", Some(360_120)),
            ("1h", Some(3_600_000)),
            ("soon", None),
            ("", None),
        ];
        for (text, millis) in cases {
            assert_eq!(
                parse_duration(text).map(|d| d.as_millis() as u64),
                millis,
                "{text}"
            );
        }
    }

    #[test]
    fn a_429_with_retry_after_is_a_short_cooldown() {
        let info = read_rate_limit(429, &headers(&[("retry-after", "7")]), b"{}", 0);
        assert_eq!(
            info.exhausted_for,
            Some((Duration::from_secs(7), Window::Minute))
        );
    }

    #[test]
    fn groq_style_headers_are_read_and_used_when_no_retry_after_is_sent() {
        let h = headers(&[
            ("x-ratelimit-limit-requests", "1000"),
            ("x-ratelimit-remaining-requests", "0"),
            ("x-ratelimit-reset-requests", "1m30s"),
            ("x-ratelimit-limit-tokens", "6000"),
            ("x-ratelimit-remaining-tokens", "5500"),
            ("x-ratelimit-reset-tokens", "5s"),
        ]);
        let info = read_rate_limit(429, &h, b"", 0);
        assert_eq!(
            info.exhausted_for,
            Some((Duration::from_secs(90), Window::Minute))
        );
        assert_eq!(info.headroom(), Some(0.0));
        let ok = read_rate_limit(
            200,
            &headers(&[
                ("x-ratelimit-limit-requests", "100"),
                ("x-ratelimit-remaining-requests", "25"),
            ]),
            b"",
            0,
        );
        assert_eq!(ok.headroom(), Some(0.25));
        assert_eq!(ok.exhausted_for, None);
    }

    #[test]
    fn a_spent_daily_quota_is_told_apart_from_a_minute_one() {
        let h = headers(&[
            ("x-ratelimit-remaining-requests-day", "0"),
            ("x-ratelimit-reset-requests-day", "7h5m"),
        ]);
        let info = read_rate_limit(429, &h, b"", 0);
        assert_eq!(
            info.exhausted_for,
            Some((Duration::from_secs(7 * 3600 + 300), Window::Day))
        );
        let before_429 = read_rate_limit(200, &h, b"", 0);
        assert_eq!(
            before_429.exhausted_for.map(|(_, w)| w),
            Some(Window::Day),
            "skipped before it is tried"
        );
    }

    #[test]
    fn gemini_bodies_say_how_long_and_which_quota() {
        let body = br#"[{"error":{"code":429,"message":"You exceeded your current quota. Please retry in 36.4s.","status":"RESOURCE_EXHAUSTED","details":[
            {"@type":"type.googleapis.com/google.rpc.QuotaFailure","violations":[{"quotaId":"GenerateRequestsPerMinutePerProjectPerModel-FreeTier"}]},
            {"@type":"type.googleapis.com/google.rpc.RetryInfo","retryDelay":"36s"}]}}]"#;
        let info = read_rate_limit(429, &HeaderMap::new(), body, 0);
        assert_eq!(
            info.exhausted_for,
            Some((Duration::from_secs(36), Window::Minute))
        );
        let daily = String::from_utf8_lossy(body).replace("PerMinute", "PerDay");
        let info = read_rate_limit(429, &HeaderMap::new(), daily.as_bytes(), 0);
        assert_eq!(info.exhausted_for.map(|(_, w)| w), Some(Window::Day));
    }

    #[test]
    fn messages_that_say_when_to_retry_are_understood() {
        assert_eq!(
            retry_hint_in_message("Rate limit reached. Please try again in 7.5s."),
            Some(Duration::from_millis(7500))
        );
        assert_eq!(
            retry_hint_in_message("try again in 2 minutes"),
            Some(Duration::from_secs(120))
        );
        assert_eq!(retry_hint_in_message("nothing here"), None);
        let info = read_rate_limit(
            429,
            &HeaderMap::new(),
            br#"{"error":{"message":"Please try again in 12s"}}"#,
            0,
        );
        assert_eq!(
            info.exhausted_for,
            Some((Duration::from_secs(12), Window::Minute))
        );
    }

    #[test]
    fn openrouter_epoch_resets_and_the_shared_free_pool() {
        let now = 1_700_000_000_000;
        let h = headers(&[
            ("x-ratelimit-limit", "50"),
            ("x-ratelimit-remaining", "0"),
            ("x-ratelimit-reset", "1700000060000"),
        ]);
        let body = br#"{"error":{"message":"Rate limit exceeded: free-models-per-day. Add 10 credits to unlock 1000 free model requests per day","code":429}}"#;
        let info = read_rate_limit(429, &h, body, now);
        assert!(info.shared_pool);
        assert_eq!(
            info.exhausted_for,
            Some((Duration::from_secs(60), Window::Day))
        );
    }
}
