//! OpenRouter's key endpoint (`GET <base>/key`): how much of the account's quota is left.
//! After a 429 it tells a spent account-wide pool (every `:free` model) from one busy model.

use std::time::Duration;

use secrecy::{ExposeSecret, SecretString};
use serde_json::Value;

use crate::engine::health::{RateLimitInfo, Window};

use super::Provider;

/// Seconds until the next UTC midnight, when OpenRouter's daily free quota resets.
pub fn until_utc_midnight(now_unix: u64) -> Duration {
    let day = 86_400;
    Duration::from_secs(day - now_unix % day)
}

/// Reads `{"data": {"limit", "limit_remaining", "usage", "is_free_tier", "rate_limit": {...}}}`.
/// A spent credit limit means the whole account is spent until the daily reset.
pub fn parse_key_limits(body: &Value, now_unix: u64) -> Option<RateLimitInfo> {
    let data = body.get("data")?;
    let remaining = data.get("limit_remaining").and_then(Value::as_f64);
    let limit = data.get("limit").and_then(Value::as_f64);
    let mut info = RateLimitInfo {
        limit_requests: data.pointer("/rate_limit/requests").and_then(Value::as_u64),
        ..RateLimitInfo::default()
    };
    if remaining.is_some_and(|r| r <= 0.0) && limit.is_some_and(|l| l > 0.0) {
        info.exhausted_for = Some((until_utc_midnight(now_unix), Window::Day));
        info.shared_pool = true;
    }
    Some(info)
}

pub async fn fetch_key_limits(
    http: &reqwest::Client,
    provider: &Provider,
    key: &SecretString,
    now_unix: u64,
) -> Option<RateLimitInfo> {
    let response = http
        .get(format!("{}/key", provider.base_url))
        .bearer_auth(key.expose_secret())
        .timeout(Duration::from_secs(10))
        .send()
        .await
        .ok()?;
    if !response.status().is_success() {
        return None;
    }
    parse_key_limits(&response.json().await.ok()?, now_unix)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn a_spent_credit_limit_cools_the_whole_account_until_midnight_utc() {
        let now = 86_400 * 100 + 3_600;
        let spent = json!({"data": {"limit": 10.0, "limit_remaining": 0.0, "rate_limit": {"requests": 20, "interval": "10s"}}});
        let info = parse_key_limits(&spent, now).unwrap();
        assert_eq!(
            info.exhausted_for,
            Some((Duration::from_secs(86_400 - 3_600), Window::Day))
        );
        assert!(info.shared_pool);
        assert_eq!(info.limit_requests, Some(20));
        let fine = json!({"data": {"limit": null, "limit_remaining": null, "is_free_tier": true}});
        assert_eq!(parse_key_limits(&fine, now).unwrap().exhausted_for, None);
        assert!(parse_key_limits(&json!({"error": "x"}), now).is_none());
    }
}
