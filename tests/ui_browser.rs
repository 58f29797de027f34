#![allow(clippy::unwrap_used, clippy::expect_used)]
//! The settings and rankings page (`ui/`) in headless Chromium against the real engine: the
//! page loads without console errors, the rankings fill from the fake providers, the header
//! shows the team link (team mode against a local `redis-server`), a pin made in
//! the page moves the next `/v1` request, a ban made in the page takes the row out, and an
//! endpoint added through the form gets its models listed and served.
//!
//! The browser side is `tests/browser/ui.mjs` (`playwright-core` driving Debian's
//! `/usr/bin/chromium`); `.ci/run` installs both and sets `MODELRELAY_TEST_NODE_BROWSER=1`.
//! Screenshots land in `target/ui-*.png` under the repository root.

mod support;

use std::time::Duration;

use serde_json::{json, Value};
use support::browser::{browser_available, repo, run_script};
use support::*;

// The names `tests/browser/ui.mjs` expects.
const FAST_ROW: &str = "openai-compatible:fast/fast-coder";
const SLOW_ROW: &str = "openai-compatible:slow/slow-coder";
const FAST_PROVIDER: &str = "openai-compatible:fast";
const SLOW_PROVIDER: &str = "openai-compatible:slow";
const GAMMA_PROVIDER: &str = "openai-compatible:gamma";

async fn served_by(router: &TestRouter, model: &str) -> String {
    let response = router.chat(user_message(model, false)).await;
    assert_eq!(response.status(), 200, "{model}");
    response.headers()["x-modelrelay-provider"]
        .to_str()
        .unwrap()
        .to_string()
}

#[tokio::test]
async fn the_page_pins_bans_and_adds_endpoints_that_change_routing() {
    if !browser_available() {
        return;
    }
    let fast = FakeUpstream::start().await;
    let slow = FakeUpstream::start().await;
    let gamma = FakeUpstream::start().await;
    fast.on(
        "fast-coder",
        Script::text("from fast").first_byte_delay(ms(10)),
    );
    slow.on(
        "slow-coder",
        Script::text("from slow").first_byte_delay(ms(300)),
    );
    gamma
        .on("gamma-coder", Script::text("from gamma"))
        .list_models(&["gamma-mini"]);
    // In a team (its own redis-server), so the header's shared-state line shows.
    let redis = support::redis::TestRedis::start().await;
    let mut config =
        endpoints_config(&[("fast", &fast, "fast-coder"), ("slow", &slow, "slow-coder")]);
    config["sharedState"] = json!({"redisUrl": redis.url()});
    let router = start_router(config).await;
    // One request to each row so both are measured and ranked: fast first.
    assert_eq!(served_by(&router, FAST_ROW).await, FAST_PROVIDER);
    assert_eq!(served_by(&router, SLOW_ROW).await, SLOW_PROVIDER);
    assert_eq!(served_by(&router, "auto-fastest").await, FAST_PROVIDER);
    let before = (fast.chat_requests().len(), slow.chat_requests().len());

    let screenshots = repo().join("target");
    let args = vec![
        router.url(""),
        gamma.base_url(),
        screenshots.display().to_string(),
    ];
    let summary = run_script("ui.mjs", args, Duration::from_secs(150)).await;

    // The page itself: no console errors or uncaught exceptions, every step ran.
    assert_eq!(summary["consoleErrors"], json!([]), "{summary:#}");
    let steps: Vec<&str> = summary["steps"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["name"].as_str().unwrap())
        .collect();
    assert_eq!(
        steps,
        [
            "load",
            "pin",
            "unpin",
            "ban",
            "add-endpoint",
            "hedging-settings"
        ],
        "{summary:#}"
    );
    let step = |name: &str| {
        summary["steps"]
            .as_array()
            .unwrap()
            .iter()
            .find(|s| s["name"] == name)
            .unwrap()
            .clone()
    };
    let load = step("load");
    assert_eq!(load["autoFastest"], FAST_ROW, "{load:#}");
    assert_eq!(load["conn"], "live", "{load:#}");
    assert_eq!(
        load["sharedState"],
        json!({"text": format!("shared state: connected to {}", redis.url()), "hidden": false}),
        "{load:#}"
    );
    assert_eq!(load["rows"][0]["id"], FAST_ROW, "{load:#}");
    assert_eq!(load["rows"][0]["rank"], "1", "{load:#}");
    assert_eq!(load["rows"][1]["id"], SLOW_ROW, "{load:#}");
    assert_eq!(step("pin")["served"]["provider"], SLOW_PROVIDER);
    assert_eq!(step("unpin")["served"]["provider"], FAST_PROVIDER);
    let ban = step("ban");
    assert_eq!(ban["served"]["provider"], SLOW_PROVIDER, "{ban:#}");
    assert_eq!(ban["direct"]["status"], 503, "{ban:#}");
    assert_eq!(ban["autoFastest"], SLOW_ROW, "{ban:#}");
    let hedging = step("hedging-settings");
    assert_eq!(
        hedging["shown"],
        json!({"enabled": true, "minDelayMs": "1000", "maxSharePercent": "10", "minDailyQuota": "500"}),
        "the form shows the defaults: {hedging:#}"
    );
    assert!(
        hedging["refusal"].as_str().unwrap().contains("percentage"),
        "{hedging:#}"
    );
    assert_eq!(
        hedging["saved"],
        json!({"enabled": true, "minDelayMs": 250, "maxShare": 0.2, "minDailyQuota": 500}),
        "{hedging:#}"
    );
    let added = step("add-endpoint");
    assert_eq!(added["served"]["provider"], GAMMA_PROVIDER, "{added:#}");
    assert_eq!(added["served"]["content"], "from gamma", "{added:#}");
    assert_eq!(
        added["rows"],
        json!([
            format!("{GAMMA_PROVIDER}/gamma-coder"),
            format!("{GAMMA_PROVIDER}/gamma-mini")
        ]),
        "{added:#}"
    );

    // What the fakes saw: the pinned request and the one after the ban went to `slow`, the one
    // after the unpin to `fast`; `gamma` was asked for its models and then served a chat.
    let after = (fast.chat_requests().len(), slow.chat_requests().len());
    assert_eq!(after.0 - before.0, 2, "fast: baseline and after unpin");
    assert_eq!(
        after.1 - before.1,
        2,
        "slow: while pinned and after the ban"
    );
    assert!(
        gamma.received().iter().any(|r| r.path == "/v1/models"),
        "the new endpoint's models were discovered"
    );
    assert_eq!(gamma.chat_requests().len(), 1);
    assert_eq!(gamma.chat_requests()[0].json()["model"], "gamma-coder");

    // What the page changed is in the config file: the ban, the endpoint, no pin left.
    let saved: Value =
        serde_json::from_slice(&std::fs::read(router.config_path()).unwrap()).unwrap();
    assert_eq!(saved["bannedModels"], json!([FAST_ROW]), "{saved:#}");
    assert!(saved.get("pinned").is_none_or(Value::is_null), "{saved:#}");
    assert_eq!(
        saved["providers"][GAMMA_PROVIDER]["baseUrl"],
        gamma.base_url(),
        "{saved:#}"
    );
    assert_eq!(
        saved["providers"][GAMMA_PROVIDER]["discoverModels"], true,
        "{saved:#}"
    );

    for name in [
        "rankings",
        "pinned",
        "banned",
        "providers",
        "endpoint-added",
    ] {
        let path = screenshots.join(format!("ui-{name}.png"));
        assert!(
            std::fs::metadata(&path).is_ok_and(|m| m.len() > 0),
            "no screenshot at {}",
            path.display()
        );
    }
}
