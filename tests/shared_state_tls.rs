//! Team mode over TLS: a `rediss://` URL reaches a TLS-only `redis-server` through rustls.
//! Its own test binary, because the client is told to trust the test CA through
//! `SSL_CERT_FILE`, which is process-wide.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use serde_json::json;
use support::redis::TestRedis;
use support::*;

#[tokio::test]
async fn a_rediss_url_connects_over_tls_and_two_routers_share_through_it() {
    let certificates = tempfile::tempdir().unwrap();
    let (redis, ca) = TestRedis::start_tls(certificates.path()).await;
    // Set before any engine or TLS client exists in this process (the only test here).
    std::env::set_var("SSL_CERT_FILE", &ca);
    let (x, y) = (FakeUpstream::start().await, FakeUpstream::start().await);
    x.on(
        "m",
        Script::status(429, "slow down").header("retry-after", "120"),
    );
    y.on("m", Script::text("from y"));
    let config = json!({
        "providers": {
            "openai-compatible:x": {"enabled": true, "name": "x", "baseUrl": x.base_url(), "modelId": "m", "group": "team-model", "discoverModels": false, "priority": 0},
            "openai-compatible:y": {"enabled": true, "name": "y", "baseUrl": y.base_url(), "modelId": "m", "group": "team-model", "discoverModels": false, "priority": 1},
        }
    });
    let url = format!("rediss://localhost:{}/0", redis.port);
    let (a, b) = start_team(config, &url).await;
    assert_eq!(
        a.chat(user_message("team-model", false)).await.status(),
        200
    );
    let b_state = b.engine.state().clone();
    eventually("b hears of x's cooldown over TLS", || {
        b_state.shared.applied("cooldown") >= 1
    })
    .await;
    assert_eq!(
        b.chat(user_message("team-model", false)).await.status(),
        200
    );
    assert_eq!(x.chat_requests().len(), 1, "b stayed off x");
    let meta = b.get_json("/api/meta").await;
    assert_eq!(meta["sharedState"]["url"], url);
    assert_eq!(meta["sharedState"]["connected"], true);
}
